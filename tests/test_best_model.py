"""The best evaluation is the published model; --early-stopping stops after N evaluations without
improvement, and its patience count survives a kill and --resume.

The data (48 rows, 16 validation rows, the tiny model, learning rate 5e-3) is chosen so that
validation accuracy reaches 1.0 at step 24 (epoch 4) and stays there while the loss keeps
falling: the best model by accuracy is not the last one, and the two are told apart by their
validation loss.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import taskrun_in_process
from test_resume import HELPER, data_options, reviews_workdir

BEST_STEP = 24  # the first evaluation with accuracy 1.0


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, taskrun_tiny_model) -> Path:
    folder = reviews_workdir(tmp_path_factory, taskrun_tiny_model, "best")
    return folder


def options(workdir: Path, output: str, *extra: str) -> list[str]:
    return [
        "run",
        "custom-csv",
        *data_options(workdir),
        "--epochs",
        "8",
        "--batch-size",
        "8",
        "--learning-rate",
        "5e-3",
        "--precision",
        "fp32",
        "--no-pictures",
        "--output-dir",
        str(workdir / output),
        *(() if "--metric-for-best" in extra else ("--metric-for-best", "accuracy")),  # what the data is made for
        *extra,
    ]


def metrics_of(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def test_the_best_evaluation_is_published_not_the_last(cli, workdir):
    result = cli(*options(workdir, "best"))
    assert result.exit_code == 0, result.output
    metrics = metrics_of(workdir / "best")
    history = {entry["step"]: entry for entry in metrics["eval_history"]}
    assert sorted(history) == [6, 12, 18, 24, 30, 36, 42, 48]  # every evaluation is kept
    assert metrics["best"] == {
        "metric": "accuracy",
        "greater_is_better": True,
        "value": 1.0,
        "step": BEST_STEP,
        "epoch": 4.0,
        "published": "best",
    }
    assert metrics["stopped_early"] is False and metrics["train"]["steps"] == 48
    # The published model is step 24's: its validation loss, not the last evaluation's lower one.
    assert metrics["eval"]["loss"] == pytest.approx(history[BEST_STEP]["loss"], abs=1e-5)
    assert history[48]["loss"] < history[BEST_STEP]["loss"] - 0.1


def test_metric_for_best_chooses_another_metric(cli, workdir):
    result = cli(*options(workdir, "by-loss", "--metric-for-best", "loss"))
    assert result.exit_code == 0, result.output
    metrics = metrics_of(workdir / "by-loss")
    assert metrics["best"]["metric"] == "loss" and metrics["best"]["greater_is_better"] is False
    assert metrics["best"]["step"] == 48  # the loss falls to the end
    assert metrics["eval"]["loss"] == pytest.approx(metrics["eval_history"][-1]["loss"], abs=1e-5)
    assert json.loads((workdir / "by-loss" / "run_config.json").read_text())["metric_for_best"] == "loss"


def test_early_stopping_stops_after_patience_evaluations_without_improvement(cli, workdir):
    """Accuracy: 0.5 at steps 6, 12, 18 (no improvement twice), 1.0 from step 24 on; patience 3
    stops after 30, 36 and 42 brought nothing better."""
    result = cli(*options(workdir, "early", "--early-stopping", "3"))
    assert result.exit_code == 0, result.output
    metrics = metrics_of(workdir / "early")
    assert [entry["step"] for entry in metrics["eval_history"]] == [6, 12, 18, 24, 30, 36, 42]
    assert metrics["stopped_early"] is True and metrics["train"]["steps"] == 42
    assert metrics["best"]["step"] == BEST_STEP and metrics["best"]["published"] == "best"
    # said on the console, in the summary and on the card: trained epochs, not the configured 8
    assert "training stopped early at step 42 (epoch 7 of 8): no better accuracy in 3 evaluations" in result.stderr
    assert "7 of 8 epoch(s), stopped early" in result.stdout
    assert "kept     the best evaluation (epoch 4, step 24) by accuracy 1.0000" in result.stdout
    card = (workdir / "early" / "README.md").read_text()
    assert "7 of 8 epoch(s), stopped early" in card and "The published model is the best evaluation (epoch 4" in card


def test_an_unknown_metric_for_best_is_refused_before_training(cli, workdir):
    result = cli(*options(workdir, "typo", "--metric-for-best", "acuracy"))
    assert result.exit_code == 2
    assert "--metric-for-best acuracy: task 'custom-csv' does not report it (did you mean 'accuracy'?)" in result.stderr
    assert "it reports accuracy, f1, matthews_correlation and loss" in result.stderr
    assert not (workdir / "typo").exists()


def test_without_checkpoints_the_last_model_is_published_and_said_so(cli, workdir):
    result = cli(*options(workdir, "no-saves", "--save-every", "none", "--early-stopping", "3"))
    assert result.exit_code == 0, result.output
    assert "no checkpoint to restore the best model from: the last one is published" in result.stderr
    metrics = metrics_of(workdir / "no-saves")
    assert metrics["best"]["published"] == "last" and metrics["train"]["steps"] == 42  # still stopped early
    assert metrics["eval"]["loss"] == pytest.approx(metrics["eval_history"][-1]["loss"], abs=1e-5)


@pytest.mark.slow
def test_the_patience_count_survives_a_kill_and_resume(workdir):
    """Killed right after checkpoint-36 is sealed (two evaluations without improvement), resumed:
    it stops at step 42, as the uninterrupted run does. With the count lost it would train on to
    the end, step 48 (transformers #10290)."""
    env_cwd = {"cwd": workdir, "capture_output": True, "text": True, "timeout": 300}
    args = options(workdir, "killed", "--early-stopping", "3")
    killed = subprocess.run([sys.executable, str(HELPER), "saved", "36", *args], **env_cwd)
    assert killed.returncode == -9, killed.stderr
    resumed = taskrun_in_process([*args, "--resume", "auto"], workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr and "checkpoint-36" in resumed.stderr
    metrics = metrics_of(workdir / "killed")
    assert metrics["train"]["steps"] == 42 and metrics["stopped_early"] is True
    assert [entry["step"] for entry in metrics["eval_history"]] == [6, 12, 18, 24, 30, 36, 42]
    assert metrics["best"]["step"] == BEST_STEP and metrics["best"]["published"] == "best"


def test_resuming_with_another_patience_or_metric_is_refused():
    """The checkpoint's patience count and best score belong to its metric and patience: another
    would be misread, so a resume with them is refused like one with other data."""
    from taskrun.checkpoints import Checkpoint, check_identity
    from taskrun.errors import CheckpointError

    saved = {"task": "t", "metric_for_best": None, "early_stopping": 2}
    checkpoint = Checkpoint(Path("checkpoint-6"), 6, {"identity": saved})
    check_identity(checkpoint, dict(saved), force=False)
    with pytest.raises(CheckpointError, match="early_stopping: checkpoint 2, this run 3"):
        check_identity(checkpoint, {**saved, "early_stopping": 3}, force=False)
    with pytest.raises(CheckpointError, match="metric_for_best"):
        check_identity(checkpoint, {**saved, "metric_for_best": "loss"}, force=False)
