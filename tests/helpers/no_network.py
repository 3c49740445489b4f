"""Run the taskrun CLI with every network connection made to fail, and count the attempts.

    python no_network.py ATTEMPTS_FILE taskrun-arguments...

Name lookups and connections (socket.connect, connect_ex, create_connection, getaddrinfo) raise
OSError and are recorded; the count is written to ATTEMPTS_FILE when the process exits.
"""

import atexit
import socket
import sys

from taskrun.cli import main

attempts_file, argv = sys.argv[1], sys.argv[2:]
attempts = []


def refuse(kind):
    def refused(*args, **kwargs):
        attempts.append(f"{kind} {args[1:2] or args[:1]}")
        raise OSError(f"network unreachable (test: {kind})")

    return refused


socket.socket.connect = refuse("connect")
socket.socket.connect_ex = refuse("connect_ex")
socket.create_connection = refuse("create_connection")
socket.getaddrinfo = refuse("getaddrinfo")
atexit.register(lambda: open(attempts_file, "w").write("\n".join(attempts)))
main(argv, prog_name="taskrun")
