"""The output folder of a run: the checks before a run starts, the staging folder it writes
into, and publishing it in one step when the run is complete.

A finished run folder is marked by run_config.json (taskrun.rundir), which lists the files
taskrun wrote (so that --overwrite never deletes a file taskrun did not write); an interrupted
run's folder holds only `checkpoints/`. Under a distributed launch one staging folder serves
every process.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from pathlib import Path
from typing import Iterator

from .checkpoints import checkpoint_folder, complete_checkpoints
from .errors import OutputBusyError, OutputExistsError, OutputWriteError
from .rundir import CHECKPOINTS, RUN_CONFIG, is_finished, recorded_files

log = logging.getLogger("taskrun")


def real_path(output_dir: Path) -> Path:
    """The folder `output_dir` names, absolute, with symbolic links followed: `.`, `out/` and a
    link all name a folder with a parent and a name, beside which the lock and staging go."""
    return Path(os.path.abspath(output_dir)).resolve()


def lock_file(output_dir: Path) -> Path:
    """The hidden file beside the output folder that a run locks while it owns the folder."""
    output_dir = real_path(output_dir)
    return output_dir.with_name(f".{output_dir.name}.taskrun-lock")


@contextlib.contextmanager
def output_dir_lock(output_dir: Path, what: str = "a run") -> Iterator[None]:
    """Hold an exclusive lock on `output_dir` from its check to publishing. The kernel releases it
    when the process ends, however it ends, so a killed run never leaves a stale lock (only the
    empty lock file, which the next run takes over); a second run into the same folder stops at
    once, naming the process that holds it (`what`: "a run", "a search"). The lock file is
    removed when the lock is released."""
    path = lock_file(output_dir)
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputWriteError(
                f"--output-dir {output_dir}: cannot write in {path.parent} ({exc.strerror or exc}).",
                hint="Choose a folder you can write to; nothing was written.",
            ) from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(handle)
            raise OutputBusyError(
                f"--output-dir {output_dir} is in use by {what} that is still going (process {holder}).",
                hint="Wait for it to finish, or choose another --output-dir.",
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(handle)  # the previous holder removed that file as we locked it: lock the new one
    try:
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(handle)  # releases the lock


def remove_stale_staging(output_dir: Path) -> None:
    """Delete the staging folders that killed runs left beside `output_dir`. Called with the
    folder's lock held, so no live run is writing any of them."""
    output_dir = real_path(output_dir)
    stale = [p for p in output_dir.parent.glob(f".{output_dir.name}.partial-*") if p.is_dir()]
    stale += [p for p in output_dir.parent.glob(f".{output_dir.name}.old-*") if p.is_dir()]
    if not stale:
        return
    size = sum(f.stat().st_size for folder in stale for f in folder.rglob("*") if f.is_file())
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    log.info("removed %d staging folder(s) left by killed runs (%.1f MB)", len(stale), size / 1e6)


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
    if not is_finished(path):
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
    written = recorded_files(path)
    foreign = sorted(name for name in names if written is None or name not in written | {CHECKPOINTS})
    if foreign:
        raise OutputExistsError(
            f"--output-dir {path} holds files that taskrun did not write ({', '.join(foreign[:5])}); "
            "--overwrite would delete them.",
            hint="Move them out, or choose another --output-dir.",
        )


def publish(staging: Path, path: Path) -> None:
    """Put the finished staging folder at `path` in one step: an atomic exchange with the old
    folder where the system offers one (Linux renameat2), else two renames. The old folder (a
    previous run, the checkpoints) is deleted afterwards. The folder this process works in (or
    one above it) is filled in place instead: swapping it would leave the user's shell in a
    deleted folder."""
    path = real_path(path)
    if Path.cwd().resolve().is_relative_to(path):
        publish_in_place(staging, path)
        return
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


def publish_in_place(staging: Path, path: Path) -> None:
    """Move the staging folder's files into `path`, replacing the previous run's files and the
    checkpoints; run_config.json goes last, so the folder reads as finished only when it is."""
    previous = recorded_files(path) or set()
    (path / RUN_CONFIG).unlink(missing_ok=True)
    new = {entry.name for entry in staging.iterdir()}
    for name in (previous - new) | {CHECKPOINTS}:
        target = path / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    for entry in sorted(staging.iterdir(), key=lambda p: p.name == RUN_CONFIG):
        target = path / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)
    shutil.rmtree(staging, ignore_errors=True)


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
    output_dir = real_path(output_dir)
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


def missing_folders(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first."""
    path = Path(os.path.abspath(path))
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def remove_empty(folders: list[Path]) -> None:
    """Remove those of `folders` (deepest first) that are empty folders: a failed command leaves
    no folder it made and left empty."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


LOW_SPACE = 16 * 2**20  # below this much free space, a failed write is taken for a full disk


def _existing(path: Path) -> Path:
    """`path` or its nearest existing ancestor."""
    path = real_path(path)
    while not path.exists():
        path = path.parent
    return path


def check_room(output_dir: Path, model_path: str | None, checkpoints_kept: int) -> None:
    """Before training: the output folder's filesystem must take the model and the checkpoints
    kept (weights, and about twice as much again for the optimizer's state), and be writable."""
    where = _existing(output_dir)
    if not os.access(where, os.W_OK):
        raise OutputWriteError(
            f"--output-dir {output_dir}: {where} is not writable.",
            hint="Choose another --output-dir, or fix the folder's permissions.",
        )
    weights = sum(p.stat().st_size for p in Path(model_path or ".").glob("*") if p.suffix in (".safetensors", ".bin"))
    needed = int(weights * (1 + 3 * checkpoints_kept) * 1.1) + 2**20
    free = shutil.disk_usage(where).free
    if free < needed:
        raise OutputWriteError(
            f"--output-dir {output_dir}: its filesystem has {free / 1e6:,.1f} MB free, and the model and "
            f"{checkpoints_kept} checkpoint(s) need about {needed / 1e6:,.1f} MB.",
            hint="Free some space, choose another --output-dir, or keep fewer checkpoints "
            "(--keep-checkpoints 1, or --save-every none).",
        )


def write_failure(exc: BaseException, output_dir: Path) -> OutputWriteError | None:
    """The run's error for an exception raised while writing (disk full, read-only, permission),
    naming the path and what is still intact; None for any other exception."""
    low = shutil.disk_usage(_existing(output_dir)).free < LOW_SPACE
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    elif type(exc).__name__ == "SafetensorError" or (isinstance(exc, RuntimeError) and low):
        reason = "no space left on device" if low else str(exc)
    else:
        return None
    path = getattr(exc, "filename", None) or output_dir
    intact = []
    saved = complete_checkpoints(checkpoint_folder(output_dir), hashes=False)
    if saved:
        intact.append(f"the last complete checkpoint, {saved[-1].path} (--resume auto continues from it)")
    if is_finished(output_dir):
        intact.append(f"the previous run in {output_dir}")
    return OutputWriteError(
        f"cannot write {path}: {reason}.",
        hint=f"Still intact: {'; '.join(intact) if intact else 'nothing of this run'}. "
        "Free some space or fix the permissions, then run the same command again.",
    )
