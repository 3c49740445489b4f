"""Startup cost of the CLI: `taskrun --help` and `taskrun list` against `python -c pass`.

Medians of N runs each (default 15), interleaved so that machine noise hits all three alike.
    usage: python scripts/startup_time.py [N]
"""

import shutil
import statistics
import subprocess
import sys
import time

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
taskrun = shutil.which("taskrun") or sys.exit("taskrun is not on PATH")
commands = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "taskrun --help": [taskrun, "--help"],
    "taskrun list": [taskrun, "list"],
}
times = {name: [] for name in commands}
for _ in range(runs):
    for name, argv in commands.items():
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times[name].append(time.perf_counter() - start)
base = statistics.median(times["python -c pass"])
print("| command | median s | over python -c pass |\n| --- | --- | --- |")
for name, values in times.items():
    print(f"| `{name}` | {statistics.median(values):.3f} | +{statistics.median(values) - base:.3f} s |")
