"""The output folder: one run at a time (a lock the kernel releases), staging folders of killed runs
cleaned, and relative, trailing-slash, symlinked and current-directory output paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_finished_run, taskrun_in_process
from taskrun.errors import OutputBusyError
from taskrun.outputs import lock_file, output_dir_lock


def run_process(args, cwd: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TASKRUN_PLUGINS": "none", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "taskrun", *map(str, args)],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


@pytest.mark.slow
def test_a_second_run_into_the_same_folder_stops_at_once_naming_the_first(tiny_model, reviews_csv, tmp_path):
    common = (
        "run",
        "custom-csv",
        "--model",
        tiny_model,
        "--train",
        reviews_csv,
        "--text-column",
        "review",
        "--label-column",
        "stars",
        "--output-dir",
        tmp_path / "out",
        "--precision",
        "fp32",
        "--batch-size",
        "4",
    )
    first = run_process([*common, "--epochs", "6"], tmp_path)
    lock = lock_file(tmp_path / "out")
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.read_text().strip() == str(first.pid)
    started = time.monotonic()
    second = taskrun_in_process([*common, "--epochs", "1"], tmp_path)  # in this process: no start-up to wait for
    waited = time.monotonic() - started
    first_out, first_err = first.communicate(timeout=600)
    assert second.returncode == 2, second.stderr
    assert f"is in use by a run that is still going (process {first.pid})" in second.stderr
    assert first.returncode == 0, first_err
    assert_finished_run(tmp_path / "out", ["five", "one", "three"], ["the film was good"])
    assert json.loads((tmp_path / "out" / "run_config.json").read_text())["epochs"] == 6  # the first run's result
    assert not lock.exists()  # released and removed
    print(f"second run refused after {waited:.1f} s")  # the closing note quotes it (-s)


@pytest.mark.slow
def test_the_lock_is_exclusive_and_released_even_when_the_holder_dies(tmp_path):
    out = tmp_path / "out"
    with output_dir_lock(out):
        with pytest.raises(OutputBusyError, match=f"process {os.getpid()}"):
            with output_dir_lock(out):
                pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from taskrun.outputs import output_dir_lock\n"
            f"with output_dir_lock(Path({str(out)!r})):\n    print('locked', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(OutputBusyError):
        with output_dir_lock(out):
            pass
    holder.kill()
    holder.wait()
    with output_dir_lock(out):  # the kernel released the dead holder's lock: no stale lock
        pass


def test_staging_folders_of_killed_runs_are_removed_by_the_next_run(run_reviews, tmp_path):
    for pid in (111111, 222222):
        stale = tmp_path / f".out.partial-{pid}"
        stale.mkdir()
        (stale / "model.safetensors").write_bytes(b"x" * 1000)
    result = run_reviews(tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "removed 2 staging folder(s) left by killed runs" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("spelling", ["relative", "trailing-slash", "symlink", "current-directory"])
def test_output_paths_in_every_spelling(spelling, run_reviews, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    target = work / "out"
    given = {"relative": "out", "trailing-slash": "out/", "symlink": "link", "current-directory": "."}[spelling]
    if spelling == "symlink":
        (tmp_path / "real").mkdir()
        (work / "link").symlink_to(tmp_path / "real")
        target = tmp_path / "real"
    if spelling == "current-directory":
        target.mkdir()
        monkeypatch.chdir(target)
    for attempt in ("first", "again"):
        result = run_reviews(given, *(("--overwrite",) if attempt == "again" else ()))
        assert result.exit_code == 0, (attempt, result.output)
        assert_finished_run(target, ["five", "one", "three"], ["the film was good"])
        assert not (target / "checkpoints").exists()
    if spelling == "symlink":
        assert (work / "link").is_symlink()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]
