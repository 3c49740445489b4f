"""Each built-in task, end to end through the CLI, on small data with the tiny model."""

from __future__ import annotations

import json
import random

import pytest
from conftest import assert_finished_run, copy_run, invoke_offline, sentence, write_tsv

FAST = ("--epochs", "1", "--batch-size", "8", "--precision", "fp32")


def test_mrpc_runs_from_a_glue_folder(finished_mrpc):
    out, result = finished_mrpc.output, finished_mrpc.result  # mrpc on an mrpc_dir folder, FAST
    metrics = assert_finished_run(out, ["not_equivalent", "equivalent"], [{"text": "the movie", "text_pair": "a film"}])
    assert metrics["train"]["samples"] == 40  # every row came through, BOM and stray quotes included
    assert metrics["eval"]["samples"] == 16
    assert {"accuracy", "f1", "loss"} <= set(metrics["eval"])
    assert "taskrun: mrpc finished" in result.stdout and str(out) in result.stdout
    assert result.stdout.lstrip().startswith("taskrun: mrpc finished")  # progress and logs went to stderr
    assert "'loss'" in result.stderr and "'eval_accuracy'" in result.stderr


def test_sentiment_runs_from_an_sst2_folder(cli, tiny_model, sst2_dir, tmp_path):
    out = tmp_path / "run"
    result = cli(
        "run",
        "sentiment",
        "--model",
        tiny_model,
        "--data-dir",
        sst2_dir,
        "--output-dir",
        out,
        "--max-train-samples",
        "24",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    metrics = assert_finished_run(out, ["negative", "positive"], ["the movie was good", "the plot was awful"])
    assert metrics["train"]["samples"] == 24
    assert "accuracy" in metrics["eval"]


def test_custom_csv_with_string_labels_and_held_out_validation(finished_reviews):
    out = finished_reviews.output  # custom-csv on reviews_csv (--text-column review --label-column stars), FAST
    metrics = assert_finished_run(out, ["five", "one", "three"], ["the movie was good"])
    assert metrics["train"]["samples"] + metrics["eval"]["samples"] == 48
    assert metrics["eval"]["samples"] == 5  # 10 % of 48, rounded
    assert {"accuracy", "macro_f1"} <= set(metrics["eval"])
    record = json.loads((out / "run_config.json").read_text())
    assert record["task_options"]["text_column"] == "review" and record["labels"] == ["five", "one", "three"]


def test_custom_csv_orders_integer_labels_numerically(cli, tiny_model, tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text(
        "".join(
            json.dumps({"text": f"the movie {w}", "label": n}) + "\n"
            for w, n in [("good", 10), ("bad", 2), ("fine", 10), ("dull", 2)] * 4
        )
    )
    out = tmp_path / "run"
    result = cli("run", "custom-csv", "--train", train, "--model", tiny_model, "--output-dir", out, *FAST)
    assert result.exit_code == 0, result.output
    assert_finished_run(out, ["2", "10"], ["the movie"])


def small_sentiment(tiny_model, sst2_dir, out) -> tuple:
    """The arguments of a small sentiment run into `out`."""
    return ("run", "sentiment", "--model", tiny_model, "--data-dir", sst2_dir, "--output-dir", out) + (
        *("--max-train-samples", "8", "--max-eval-samples", "8", *FAST),
    )


@pytest.fixture(scope="module")
def small_sentiment_run(tiny_model, tmp_path_factory):
    """A finished small sentiment run and the SST-2 folder (as `sst2_dir`) it read, made once for
    the tests that run the same command again into a copy of it."""
    root = tmp_path_factory.mktemp("small-sentiment")
    rng = random.Random(2)  # conftest's sst2_dir
    sst2 = root / "SST-2"
    sst2.mkdir()
    write_tsv(sst2 / "train.tsv", ["sentence", "label"], [[sentence(rng, i % 2), str(i % 2)] for i in range(40)])
    write_tsv(sst2 / "dev.tsv", ["sentence", "label"], [[sentence(rng, i % 2), str(i % 2)] for i in range(16)])
    result = invoke_offline(small_sentiment(tiny_model, sst2, root / "run"), root / "taskrun-cache")
    assert result.exit_code == 0, result.output + result.stderr
    return root / "run", sst2


def test_a_finished_run_is_not_overwritten_without_overwrite(cli, tiny_model, small_sentiment_run, tmp_path):
    out = copy_run(small_sentiment_run[0], tmp_path / "run")
    args = small_sentiment(tiny_model, small_sentiment_run[1], out)
    first = (out / "metrics.json").read_text()
    refused = cli(*args)
    assert refused.exit_code == 2
    assert "already holds a finished run" in refused.stderr and "--overwrite" in refused.stderr
    assert (out / "metrics.json").read_text() == first
    replaced = cli(*args, "--overwrite", "--seed", "7")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((out / "run_config.json").read_text())["seed"] == 7


def test_output_dir_with_foreign_files_is_refused_even_with_overwrite(cli, tiny_model, sst2_dir, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = cli("run", "sentiment", "--model", tiny_model, "--data-dir", sst2_dir, "--output-dir", out, "--overwrite")
    assert result.exit_code == 2 and "not a taskrun run" in result.stderr
    assert (out / "notes.txt").read_text() == "keep me"


def test_overwrite_never_deletes_files_the_run_did_not_write(cli, tiny_model, small_sentiment_run, tmp_path):
    out = copy_run(small_sentiment_run[0], tmp_path / "run")
    args = small_sentiment(tiny_model, small_sentiment_run[1], out)
    (out / "my-notes.txt").write_text("keep me")
    refused = cli(*args, "--overwrite")
    assert refused.exit_code == 2 and "files that taskrun did not write (my-notes.txt)" in refused.stderr
    assert (out / "my-notes.txt").read_text() == "keep me" and (out / "model.safetensors").exists()
