"""Writing files and folders whole or not at all: the one write-then-rename helper of taskrun.

A file is written to a temporary name beside its target, flushed to disk and renamed over it;
a folder is filled under a hidden staging name and renamed into place when complete. A process
killed half-way leaves the old file or nothing, never half of one. Used by the run folder, the
checkpoints' manifests, the tokenisation cache, predict's and eval's outputs and the scaffold.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator


def file_kind(mode: int) -> str:
    """What a file of this `st_mode` is, for a message: "a named pipe (FIFO)", "a folder", ..."""
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((kind for test, kind in kinds if test(mode)), "a special file")


def not_regular(path: Path) -> str | None:
    """What `path` is when it exists but is neither a regular file nor a folder (reading a FIFO
    waits for a writer forever, writing one for a reader): a FIFO, a socket, a device. None otherwise."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else file_kind(mode)


def _default_mode() -> int:
    """The permissions a plain open() gives a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: Path, content: str | bytes, durable: bool = False) -> None:
    """Write `content` to `path` whole or not at all. `durable` also fsyncs before the rename
    (for files that a crash must not lose, such as a checkpoint's manifest). Raises OSError."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content.encode("utf-8") if isinstance(content, str) else content)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(temporary, _default_mode())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_json(path: Path, data: Any, durable: bool = False) -> None:
    """`data` as indented JSON (values JSON cannot hold written as text), atomically."""
    write_atomically(path, json.dumps(data, indent=2, default=str) + "\n", durable=durable)


@contextlib.contextmanager
def staged_folder(target: Path, suffix: str | None = None) -> Iterator[Path]:
    """A hidden folder beside `target` to fill; renamed to `target` when the block ends without
    error (`target` must not exist then), removed when it raises. Yields the staging folder."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.partial-{suffix or os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
