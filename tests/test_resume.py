"""Runs that survive a SIGKILL: resume equals an uninterrupted run, exactly (CPU, same seed).

Every killed run is a real `python` process; helpers/killed_taskrun.py kills its own process with
SIGKILL at a chosen point (a training step, right after a checkpoint is sealed, half-way through
writing one), so nothing of taskrun's gets to clean up, as on a preempted machine. The runs that
are not killed (the references, the resumes, the refusals) run in this process, through the CLI,
from the same folder and with the same arguments: they see only what the killed process left on
disk, and each saves a process start (7 s of imports).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import taskrun_in_process

HELPER = Path(__file__).parent / "helpers" / "killed_taskrun.py"
pytestmark = pytest.mark.slow  # the tests kill taskrun processes (and share the module's reference runs)
# 48 training rows, batch 8: 6 steps per epoch, 2 epochs, a checkpoint per epoch (steps 6 and 12).
STEPS_PER_EPOCH = 6


def write_reviews(folder: Path, train_rows: int = 48) -> None:
    rng = random.Random(0)
    good, bad = ["good", "great", "lovely", "fine"], ["bad", "awful", "boring", "dull"]
    for name, rows in (("train.csv", train_rows), ("dev.csv", 16)):
        lines = ["text,label"] + [
            f"the movie was {rng.choice(good if i % 2 else bad)} {rng.choice(['today', 'really'])},"
            f"{'pos' if i % 2 else 'neg'}"
            for i in range(rows)
        ]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, taskrun_tiny_model) -> Path:
    return reviews_workdir(tmp_path_factory, taskrun_tiny_model, "resume")


def reviews_workdir(tmp_path_factory, tiny_model: Path, name: str) -> Path:
    """A folder with the reviews (train.csv, dev.csv) and a copy of the tiny model (tiny/)."""
    folder = tmp_path_factory.mktemp(name)
    write_reviews(folder)
    shutil.copytree(tiny_model, folder / "tiny")
    return folder


def data_options(workdir: Path) -> list[str]:
    """custom-csv's options for the reviews and the tiny model of `reviews_workdir`."""
    return [
        "--train",
        str(workdir / "train.csv"),
        "--validation",
        str(workdir / "dev.csv"),
        "--model",
        str(workdir / "tiny"),
    ]


def run_args(output: str, *extra: str) -> list[str]:
    """`run custom-csv` on the reviews of `reviews_workdir` (relative paths), 2 epochs of batch 8, fp32."""
    return [
        *("run", "custom-csv", "--train", "train.csv", "--validation", "dev.csv", "--model", "tiny"),
        *("--epochs", "2", "--batch-size", "8", "--precision", "fp32", "--output-dir", output, *extra),
    ]


def taskrun(
    workdir: Path, output: str, *extra: str, kill: tuple[str, int] | None = None
) -> subprocess.CompletedProcess:
    """`taskrun run custom-csv` in `workdir`: killed at `kill` in a fresh process, or else in this one."""
    if kill is None:
        return taskrun_in_process(run_args(output, *extra), workdir, workdir / "cache")
    return subprocess.run(
        [sys.executable, str(HELPER), kill[0], str(kill[1]), *run_args(output, *extra)],
        cwd=workdir,
        env={**os.environ, "TASKRUN_CACHE_DIR": str(workdir / "cache")},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def uninterrupted(workdir) -> Path:
    done = taskrun(workdir, "uninterrupted")
    assert done.returncode == 0, done.stderr
    return workdir / "uninterrupted"


@pytest.fixture(scope="module")
def reference(workdir, uninterrupted):
    """The uninterrupted run of a checkpoint schedule (the schedule sets when the model is
    evaluated, and so which evaluation is the best, published one)."""
    made = {(): uninterrupted}

    def of(schedule: list[str]) -> Path:
        if tuple(schedule) not in made:
            output = "uninterrupted-" + "-".join(s.strip("-") for s in schedule)
            done = taskrun(workdir, output, *schedule)
            assert done.returncode == 0, done.stderr
            made[tuple(schedule)] = workdir / output
        return made[tuple(schedule)]

    return of


def assert_same_result(run: Path, reference: Path) -> None:
    from safetensors.torch import load_file

    ours, theirs = load_file(run / "model.safetensors"), load_file(reference / "model.safetensors")
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert ours[name].equal(theirs[name]), name
    ours, theirs = (json.loads((folder / "metrics.json").read_text())["eval"] for folder in (run, reference))
    for key in ("loss", "accuracy", "macro_f1"):
        assert ours[key] == theirs[key], key
    assert not (run / "checkpoints").exists()  # a finished run keeps its result, not its checkpoints


@pytest.mark.parametrize(
    "kill, resumes_at, schedule",
    [
        (("saved", STEPS_PER_EPOCH), STEPS_PER_EPOCH, []),  # right after the first checkpoint was sealed
        (("step", STEPS_PER_EPOCH + 2), STEPS_PER_EPOCH, []),  # in the first steps of the second epoch
        (("writing", 2 * STEPS_PER_EPOCH), STEPS_PER_EPOCH, []),  # half-way through writing the last checkpoint
        (("step", 7), 4, ["--save-every", "4"]),  # from a checkpoint in the middle of the first epoch
    ],
    ids=["after-save", "early-in-epoch-2", "during-checkpoint-write", "mid-epoch-checkpoint"],
)
def test_resume_after_sigkill_equals_an_uninterrupted_run(workdir, reference, kill, resumes_at, schedule):
    output = f"killed-{kill[0]}-{resumes_at}"
    killed = taskrun(workdir, output, *schedule, kill=kill)
    assert killed.returncode == -signal.SIGKILL
    assert not (workdir / output / "run_config.json").exists()

    if kill[0] == "saved":  # the same command without --resume is refused, not restarted
        again = taskrun(workdir, output)
        assert again.returncode == 2 and "interrupted run" in again.stderr and "--resume auto" in again.stderr

    resumed = taskrun(workdir, output, *schedule, "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {output}/checkpoints/checkpoint-{resumes_at} (step {resumes_at})" in resumed.stderr
    if kill[0] == "writing":
        assert f"skipping checkpoint {output}/checkpoints/checkpoint-{2 * STEPS_PER_EPOCH}" in resumed.stderr
    assert_same_result(workdir / output, reference(schedule))


def test_resume_auto_with_nothing_to_resume_starts_from_the_beginning(workdir, uninterrupted):
    done = taskrun(workdir, "fresh", "--resume", "auto")
    assert done.returncode == 0, done.stderr
    assert "no complete checkpoint" in done.stderr
    assert_same_result(workdir / "fresh", uninterrupted)


def test_sigterm_stops_cleanly_and_the_run_resumes(workdir, uninterrupted):
    """A scheduler's SIGTERM in the second epoch: exit 130 saying how to continue, no staging
    folder left, the first epoch's checkpoint kept; --resume auto then finishes the run."""
    env = {**os.environ, "TASKRUN_CACHE_DIR": str(workdir / "cache")}
    process = subprocess.Popen(
        [sys.executable, str(HELPER), "hang", str(STEPS_PER_EPOCH + 2), *run_args("terminated")],
        cwd=workdir,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:
        if "taskrun-test: waiting" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130
    assert "Interrupted. Complete checkpoints are kept in terminated/checkpoints" in rest
    assert sorted(p.name for p in workdir.glob(".terminated*")) == []
    resumed = taskrun(workdir, "terminated", "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr
    assert f"checkpoint-{STEPS_PER_EPOCH} (step {STEPS_PER_EPOCH})" in resumed.stderr
    assert_same_result(workdir / "terminated", uninterrupted)


def test_a_killed_lora_run_resumes_to_the_same_model_and_adapter(workdir):
    """--lora: the checkpoints hold the adapter and the head (adapter_model.safetensors); a run
    killed after the first checkpoint resumes to the uninterrupted run's model and adapter, and
    resuming it without --lora is refused, naming the difference."""
    done = taskrun(workdir, "lora", "--lora")
    assert done.returncode == 0, done.stderr
    killed = taskrun(workdir, "lora-killed", "--lora", kill=("saved", STEPS_PER_EPOCH))
    assert killed.returncode == -signal.SIGKILL
    assert (
        workdir / "lora-killed" / "checkpoints" / f"checkpoint-{STEPS_PER_EPOCH}" / "adapter_model.safetensors"
    ).is_file()

    full = taskrun(workdir, "lora-killed", "--resume", "auto")
    assert full.returncode != 0 and "lora: checkpoint" in full.stderr and "this run null" in full.stderr

    resumed = taskrun(workdir, "lora-killed", "--lora", "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr
    assert f"(step {STEPS_PER_EPOCH})" in resumed.stderr
    assert_same_result(workdir / "lora-killed", workdir / "lora")
    from safetensors.torch import load_file

    ours, theirs = (
        load_file(workdir / run / "adapter" / "adapter_model.safetensors") for run in ("lora-killed", "lora")
    )
    assert ours.keys() == theirs.keys() and all(ours[k].equal(theirs[k]) for k in ours)
