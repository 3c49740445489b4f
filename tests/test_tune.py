"""`taskrun tune`: Optuna trials as taskrun runs, the study in SQLite, best.toml that `taskrun run
--config` reproduces, and a killed search that continues with --resume auto."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import taskrun_in_process
from test_resume import HELPER, data_options, reviews_workdir


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, taskrun_tiny_model) -> Path:
    folder = reviews_workdir(tmp_path_factory, taskrun_tiny_model, "tune")
    (folder / "space.toml").write_text(
        "learning_rate = { low = 1e-4, high = 1e-2, log = true }\nbatch_size = { choices = [8, 16] }\n",
        encoding="utf-8",
    )
    return folder


def tune_args(workdir: Path, output: str, *extra: str) -> list[str]:
    return [
        "tune",
        "custom-csv",
        *data_options(workdir),
        "--epochs",
        "2",
        "--precision",
        "fp32",
        "--no-pictures",
        "--space",
        str(workdir / "space.toml"),
        "--output-dir",
        str(workdir / output),
        *extra,
    ]


def test_a_search_runs_its_trials_and_keeps_the_best_settings(cli, workdir):
    result = cli(*tune_args(workdir, "search", "--trials", "3"))
    assert result.exit_code == 0, result.output
    out = workdir / "search"
    summary = json.loads((out / "tune.json").read_text())
    assert [row["state"] for row in summary["trials"]] == ["complete"] * 3
    assert (out / "study.db").is_file()
    for row in summary["trials"]:
        record = json.loads((out / row["folder"] / "run_config.json").read_text())
        assert record["learning_rate"] == row["params"]["learning_rate"]
        assert record["batch_size"] == row["params"]["batch_size"]
        assert record["options"]["learning_rate"]["source"] == f"tune ({row['folder']})"
        assert record["epochs"] == 2.0  # fixed for every trial
        metrics = json.loads((out / row["folder"] / "metrics.json").read_text())
        assert row["value"] == metrics["best"]["value"]
    best = max(summary["trials"], key=lambda row: row["value"])
    assert summary["best"]["number"] == best["number"]
    # the score is named: the metric that picked each trial's model (custom-csv's primary)
    assert summary["metric"] == metrics["best"]["metric"] == "matthews_correlation"
    assert "MATTHEWS_CORRELATION" in result.stdout  # the table's score column, named
    assert "tokenised data from the cache" in result.stderr  # trials after the first share it
    # best.toml reproduces the best trial with `taskrun run --config`.
    settings = tomllib.loads((out / "best.toml").read_text())
    assert settings["learning_rate"] == best["params"]["learning_rate"] and settings["epochs"] == 2.0
    again = cli("run", "custom-csv", "--config", out / "best.toml", "--print-config")
    assert again.exit_code == 0, again.output
    assert tomllib.loads(again.stdout) == settings
    assert "TRIAL" in result.stdout and "best" in result.stdout


def test_an_existing_search_needs_resume_or_overwrite(cli, workdir):
    refused = cli(*tune_args(workdir, "search", "--trials", "3"))
    assert refused.exit_code == 2 and "holds a search (study.db)" in refused.stderr
    more = cli(*tune_args(workdir, "search", "--trials", "4", "--resume", "auto"))
    assert more.exit_code == 0, more.output
    assert len(json.loads((workdir / "search" / "tune.json").read_text())["trials"]) == 4


def test_a_search_cannot_change_what_it_optimises_and_refuses_what_cannot_work(cli, workdir, monkeypatch):
    typo = cli(*tune_args(workdir, "typo", "--metric-for-best", "acuracy"))
    assert typo.exit_code == 2 and "did you mean 'accuracy'" in typo.stderr and not (workdir / "typo").exists()
    other = cli(*tune_args(workdir, "search", "--resume", "auto", "--metric-for-best", "loss"))
    assert other.exit_code == 2 and "optimises --metric-for-best the primary metric, not loss" in other.stderr
    checkpoint = cli(*tune_args(workdir, "elsewhere", "--resume", "search/trial-0000"))
    assert checkpoint.exit_code == 2 and "continues a search with --resume auto" in checkpoint.stderr
    monkeypatch.setenv("WORLD_SIZE", "2")
    launched = cli(*tune_args(workdir, "launched"))
    assert launched.exit_code == 2 and "cannot run under torchrun" in launched.stderr


def test_a_search_over_seeds_scores_each_trial_by_its_mean(cli, workdir):
    """--seeds trains every trial once per seed (trial-NNNN/seed-N/), scores it by the mean of the
    seeds' published values, and keeps the seeds in best.toml, so that `run --config` trains them all."""
    result = cli(*tune_args(workdir, "seeded", "--trials", "2", "--seeds", "1,2"))
    assert result.exit_code == 0, result.output
    out = workdir / "seeded"
    summary = json.loads((out / "tune.json").read_text())
    assert summary["seeds"] == [1, 2]
    for row in summary["trials"]:
        assert row["state"] == "complete"
        values = {}
        for seed in (1, 2):
            run_folder = out / row["folder"] / f"seed-{seed}"
            record = json.loads((run_folder / "run_config.json").read_text())
            assert record["seed"] == seed and record["learning_rate"] == row["params"]["learning_rate"]
            values[str(seed)] = json.loads((run_folder / "metrics.json").read_text())["best"]["value"]
        assert row["seeds"] == values
        assert row["value"] == pytest.approx(statistics.fmean(values.values()))
        assert row["std"] == pytest.approx(statistics.stdev(values.values()))
        assert json.loads((out / row["folder"] / "summary.json").read_text())["seeds"] == [1, 2]
    best = max(summary["trials"], key=lambda row: row["value"])
    assert summary["best"]["number"] == best["number"]
    assert f"{best['value']:.4f} ± {best['std']:.4f}" in result.stdout
    settings = tomllib.loads((out / "best.toml").read_text())
    assert settings["seeds"] == [1, 2] and "seed" not in settings
    assert settings["learning_rate"] == best["params"]["learning_rate"]
    again = cli("run", "custom-csv", "--config", out / "best.toml", "--print-config")
    assert again.exit_code == 0, again.output
    assert tomllib.loads(again.stdout)["seeds"] == [1, 2]
    # `taskrun compare` reads the whole search: every seed of every trial.
    compared = cli("compare", out, "--json")
    assert compared.exit_code == 0, compared.output
    assert len(json.loads(compared.stdout)["runs"]) == 4
    # A search continues over the seeds it scored, and no others.
    for other, shown in (("1,3", "--seeds 1,3"), (None, "one run per trial (no --seeds)")):
        extra = ("--seeds", other) if other else ()
        refused = cli(*tune_args(workdir, "seeded", "--trials", "3", "--resume", "auto", *extra))
        assert refused.exit_code == 2 and f"scores --seeds 1,2, not {shown}" in refused.stderr, refused.stderr
    repeated = cli(*tune_args(workdir, "repeated", "--seeds", "1,1"))
    assert repeated.exit_code == 2 and "--seeds: 1 given more than once" in repeated.stderr
    assert not (workdir / "repeated").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("warmup_ratio = { low = 0.0, high = 0.2, log = true }\n", "a log scale needs low above 0"),
        ("batch_size = { low = 8, high = 32, step = 0.5 }\n", "step must be a whole number"),
        ("lerning_rate = { low = 1e-5, high = 1e-4 }\n", "unknown hyperparameter 'lerning_rate'"),
        ("learning_rate = { low = 1e-3, high = 1e-4 }\n", "learning_rate: low (0.001) must be below high (0.0001)"),
        ("batch_size = { choices = [] }\n", "batch_size: choices must be a non-empty list"),
        ("batch_size = { choices = [0, 8] }\n", "batch_size must be a whole number of at least 1, not 0"),
    ],
)
def test_a_bad_search_space_names_the_file_and_the_entry(cli, workdir, tmp_path, text, message):
    space = tmp_path / "space.toml"
    space.write_text(text, encoding="utf-8")
    result = cli(*tune_args(workdir, "bad", "--space", space))
    assert result.exit_code == 2 and str(space) in result.stderr and message in result.stderr, result.stderr
    assert not (workdir / "bad").exists()


def batch_8_space(workdir: Path) -> Path:
    """A search space at batch 8 only: 6 steps an epoch, so that checkpoint-6 ends the first."""
    path = workdir / "space-8.toml"
    path.write_text(
        "learning_rate = { low = 1e-4, high = 1e-2, log = true }\nbatch_size = { choices = [8] }\n",
        encoding="utf-8",
    )
    return path


def killed_then_resumed(workdir: Path, args: list[str]) -> subprocess.CompletedProcess:
    """`taskrun ARGS` SIGKILLed right after checkpoint-6 is saved, then the same with --resume auto
    (in this process)."""
    common = {"cwd": workdir, "capture_output": True, "text": True, "timeout": 300}
    killed = subprocess.run([sys.executable, str(HELPER), "saved", "6", *args], **common)
    assert killed.returncode == -9, killed.stderr
    resumed = taskrun_in_process([*args, "--resume", "auto"], workdir)
    assert resumed.returncode == 0, resumed.stderr
    return resumed


@pytest.mark.slow
def test_a_killed_search_resumes_the_interrupted_trial_from_its_checkpoint(workdir):
    """Killed after the first trial's first checkpoint (step 6 of 12 at batch 8, or of 6 at 16):
    --resume auto runs that trial again with the same settings in the same folder, continuing from
    checkpoint-6 where it is there, and finishes the search."""
    args = tune_args(workdir, "killed", "--trials", "2", "--space", str(batch_8_space(workdir)))
    resumed = killed_then_resumed(workdir, args)
    assert "trial-0000 was interrupted: it runs again with the same settings" in resumed.stderr
    assert "resuming from" in resumed.stderr and "checkpoint-6" in resumed.stderr
    summary = json.loads((workdir / "killed" / "tune.json").read_text())
    states = [(row["state"], row["folder"]) for row in summary["trials"]]
    assert states[0] == ("interrupted", "trial-0000")
    assert [s for s in states if s[0] == "complete"] == [("complete", "trial-0000"), ("complete", "trial-0002")]
    first, again = (
        summary["trials"][0],
        next(r for r in summary["trials"] if r["number"] != 0 and r["folder"] == "trial-0000"),
    )
    assert first["params"] == again["params"]


@pytest.mark.slow
def test_a_killed_search_over_seeds_keeps_its_finished_work(workdir):
    """Killed in the first seed of the first trial, after its first checkpoint: --resume auto
    continues that seed from checkpoint-6, trains the second, and scores the trial by both."""
    args = tune_args(workdir, "killed-seeds", "--trials", "1", "--seeds", "1,2", "--space", str(batch_8_space(workdir)))
    resumed = killed_then_resumed(workdir, args)
    assert "trial-0000 was interrupted" in resumed.stderr
    assert re.search(r"resuming from \S*seed-1\S*checkpoint-6", resumed.stderr), resumed.stderr
    summary = json.loads((workdir / "killed-seeds" / "tune.json").read_text())
    complete = [row for row in summary["trials"] if row["state"] == "complete"]
    assert [row["folder"] for row in complete] == ["trial-0000"] and set(complete[0]["seeds"]) == {"1", "2"}
