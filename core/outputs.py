"""The output folder of a run: the checks before a run starts, the staging folder it writes
into, and publishing it in one step when the run is complete.

A finished run folder is marked by run_config.json, which lists the files taskrun wrote (so
that --overwrite never deletes a file taskrun did not write); an interrupted run's folder holds
only `checkpoints/`. Under a distributed launch one staging folder serves every process.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .checkpoints import CHECKPOINTS, checkpoint_folder, complete_checkpoints
from .errors import OutputExistsError

RUN_MARKER = "run_config.json"


def check_output_dir(path: Path, overwrite: bool, resume: str | None = None) -> None:
    """Refuse a folder that holds a finished run (unless --overwrite), an interrupted run (unless
    --resume or --overwrite), or files taskrun did not write."""
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputExistsError(f"--output-dir {path} is a file, not a folder.")
    names = {p.name for p in path.iterdir()}
    if not names:
        return
    if not (path / RUN_MARKER).is_file():
        if names == {CHECKPOINTS}:
            if resume or overwrite:
                return
            newest = complete_checkpoints(path / CHECKPOINTS, hashes=False)
            where = (
                f"its newest complete checkpoint is {newest[-1].path.name}"
                if newest
                else "it has no complete checkpoint"
            )
            raise OutputExistsError(
                f"--output-dir {path} holds an interrupted run ({where}).",
                hint="Pass --resume auto to continue it, --overwrite to start again, or choose another --output-dir.",
            )
        raise OutputExistsError(
            f"--output-dir {path} already holds files that are not a taskrun run; taskrun will not replace them.",
            hint="Choose another --output-dir.",
        )
    if not overwrite:
        raise OutputExistsError(
            f"--output-dir {path} already holds a finished run.",
            hint="Pass --overwrite to replace it, or choose another --output-dir.",
        )
    try:
        written = set(json.loads((path / RUN_MARKER).read_text(encoding="utf-8"))["files"]) | {CHECKPOINTS}
    except (OSError, ValueError, KeyError, TypeError):
        written = None
    foreign = sorted(name for name in names if written is None or name not in written)
    if foreign:
        raise OutputExistsError(
            f"--output-dir {path} holds files that taskrun did not write ({', '.join(foreign[:5])}); "
            "--overwrite would delete them.",
            hint="Move them out, or choose another --output-dir.",
        )


def publish(staging: Path, path: Path) -> None:
    """Put the finished staging folder at `path` in one step: an atomic exchange with the old
    folder where the system offers one (Linux renameat2), else two renames. The old folder (a
    previous run, the checkpoints) is deleted afterwards."""
    if path.exists() and exchange(staging, path):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the old folder
        return
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        path.rename(old)
    try:
        staging.rename(path)
    except OSError:
        if old is not None:
            old.rename(path)  # put the previous run back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def staging_folder(output_dir: Path) -> Path:
    """The hidden folder beside `output_dir` that a run writes into: one per launch (every process
    of a torchrun launch shares it), one per process otherwise."""
    launch = os.environ.get("TORCHELASTIC_RUN_ID") or str(os.getpid())
    return output_dir.with_name(f".{output_dir.name}.partial-{launch}")


def keep_only_what_resumes(output_dir: Path, created: bool) -> None:
    """After a failed or interrupted run: keep the checkpoints if one is complete (the folder is
    then an interrupted run, for --resume), else leave no trace of this run."""
    checkpoints = checkpoint_folder(output_dir)
    if complete_checkpoints(checkpoints, hashes=False):
        return
    shutil.rmtree(checkpoints, ignore_errors=True)
    if created and output_dir.is_dir() and not any(output_dir.iterdir()):
        output_dir.rmdir()
