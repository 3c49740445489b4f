"""--seeds: one run per seed into OUTPUT/seed-N/, a summary with mean and standard deviation, and
--resume auto keeping the seeds already finished."""

from __future__ import annotations

import json
import statistics

import pytest
from conftest import copy_run, reviews_options, shared_run


@pytest.fixture(scope="module")
def seeds_template(tiny_model, shared_data, tmp_path_factory):
    """`run_reviews(OUT, "--seeds", "1,2", "--no-pictures")`, made once: the tests that change the
    folder take a copy (`seeds_run`)."""
    options = reviews_options(shared_data / "reviews.csv", tiny_model)
    made = shared_run(tmp_path_factory, "seeds", "run", "custom-csv", *options, "--seeds", "1,2", "--no-pictures")
    return made.output, made.result


@pytest.fixture
def seeds_run(seeds_template, tmp_path):
    """A copy of the finished --seeds run, and the result of the command that made it."""
    return copy_run(seeds_template[0], tmp_path / "seeds"), seeds_template[1]


@pytest.fixture
def run_reviews(cli, tiny_model, shared_data):
    """conftest's `run_reviews` on the reviews file the seeds were trained on."""

    def run(output_dir, *options):
        return cli(
            "run",
            "custom-csv",
            *reviews_options(shared_data / "reviews.csv", tiny_model),
            "--output-dir",
            output_dir,
            *options,
        )

    return run


def test_each_seed_is_a_run_and_the_summary_holds_mean_and_spread(seeds_template):
    out, result = seeds_template
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [1, 2] and summary["runs"] == {"1": "seed-1", "2": "seed-2"}
    for seed in (1, 2):
        record = json.loads((out / f"seed-{seed}" / "run_config.json").read_text())
        assert record["seed"] == seed and record["options"]["seed"]["source"] == "--seeds"
    accuracy = [json.loads((out / f"seed-{s}" / "metrics.json").read_text())["eval"]["accuracy"] for s in (1, 2)]
    figures = summary["metrics"]["accuracy"]
    assert figures["runs"] == {"1": accuracy[0], "2": accuracy[1]}
    assert figures["mean"] == pytest.approx(statistics.fmean(accuracy))
    assert figures["std"] == pytest.approx(statistics.stdev(accuracy))
    assert list(summary["metrics"])[0] == summary["primary_metric"]["name"]
    assert "METRIC" in result.stdout and "SEED 1" in result.stdout and "SEED 2" in result.stdout
    assert f"{figures['mean']:.4f} ± {figures['std']:.4f}" in result.stdout


def test_resume_keeps_finished_seeds_and_without_it_nothing_is_replaced(seeds_run, run_reviews):
    out, _ = seeds_run
    before = (out / "seed-1" / "model.safetensors").stat().st_mtime_ns
    refused = run_reviews(out, "--seeds", "1,2,3")
    assert refused.exit_code == 2 and "holds this --seeds run from before: seeds 1, 2 finished" in refused.stderr
    assert "Pass --resume auto to keep them" in refused.stderr and "--overwrite" not in refused.stderr
    assert not (out / "seed-3").exists()  # every seed's folder is checked before the first trains
    resumed = run_reviews(out, "--seeds", "1,2,3", "--resume", "auto")
    assert resumed.exit_code == 0, resumed.output
    assert "seed 1 (1 of 3): finished before, kept" in resumed.stderr
    assert (out / "seed-1" / "model.safetensors").stat().st_mtime_ns == before
    assert json.loads((out / "summary.json").read_text())["seeds"] == [1, 2, 3]


def test_repeated_seeds_are_refused(run_reviews, tmp_path):
    result = run_reviews(tmp_path / "out", "--seeds", "1,2,1")
    assert result.exit_code == 2 and "--seeds: 1 given more than once" in result.stderr
    bad = run_reviews(tmp_path / "out", "--seeds", "1,x")
    assert bad.exit_code == 2 and "is not a comma-separated list of ints" in bad.stderr


def test_kept_seeds_must_have_this_commands_settings(seeds_run, run_reviews):
    out, _ = seeds_run
    changed = run_reviews(out, "--seeds", "1,2", "--resume", "auto", "--learning-rate", "1e-3")
    assert changed.exit_code == 2
    assert "seed-1 was trained with other settings (learning_rate: 5e-05 there, 0.001 now)" in changed.stderr
    into_a_run = run_reviews(out / "seed-1", "--seeds", "3", "--resume", "auto")
    assert into_a_run.exit_code == 2 and "holds a finished run; --seeds writes one run per seed" in into_a_run.stderr
