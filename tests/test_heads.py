"""Multi-label and regression heads: declared with --problem, never inferred; end to end."""

from __future__ import annotations

import json
import math

FAST = ("--epochs", "1", "--batch-size", "8", "--precision", "fp32")


def test_multi_label_runs_end_to_end(cli, tiny_model, tmp_path):
    train = tmp_path / "tags.csv"
    rows = [
        ("the movie was good and the actor great", "film;positive"),
        ("shares rose today", "market;positive"),
        ("shares fell today", "market;negative"),
        ("the plot was dull", "film;negative"),
    ] * 4
    train.write_text("text,tags\n" + "".join(f"{t},{l}\n" for t, l in rows))
    out = tmp_path / "run"
    result = cli(
        "run",
        "custom-csv",
        "--train",
        train,
        "--label-column",
        "tags",
        "--problem",
        "multi-label",
        "--threshold",
        "0.4",
        "--model",
        tiny_model,
        "--output-dir",
        out,
        *FAST,
    )
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert list(config["id2label"].values()) == ["film", "market", "negative", "positive"]
    evaluation = json.loads((out / "metrics.json").read_text())["eval"]
    assert {"micro_f1", "macro_f1", "exact_match"} <= set(evaluation)
    assert set(evaluation["per_class"]) == {"film", "market", "negative", "positive"}
    assert json.loads((out / "run_config.json").read_text())["threshold"] == 0.4


def test_regression_runs_end_to_end(cli, tiny_model, tmp_path):
    train = tmp_path / "scores.jsonl"
    rows = [
        ("the movie was good", 4.5),
        ("the film was great", 5.0),
        ("the plot was bad", 1.0),
        ("the actor was awful", 0.5),
        ("the story was fine", 3.0),
    ] * 4
    train.write_text("".join(json.dumps({"text": t, "score": s}) + "\n" for t, s in rows))
    out = tmp_path / "run"
    result = cli(
        "run",
        "custom-csv",
        "--train",
        train,
        "--label-column",
        "score",
        "--problem",
        "regression",
        "--model",
        tiny_model,
        "--output-dir",
        out,
        *FAST,
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["problem_type"] == "regression"
    evaluation = json.loads((out / "metrics.json").read_text())["eval"]
    assert {"pearson", "spearman", "mse", "rmse"} <= set(evaluation)
    assert math.isclose(evaluation["rmse"], math.sqrt(evaluation["mse"]), rel_tol=1e-6)


def test_regression_refuses_labels_that_are_not_numbers(cli, tmp_path):
    train = tmp_path / "s.csv"
    train.write_text("text,score\na,1\nb,two\nc,3\n")
    result = cli(
        "run",
        "custom-csv",
        "--train",
        train,
        "--label-column",
        "score",
        "--problem",
        "regression",
        "--model",
        "embedded",
        "--output-dir",
        tmp_path / "run",
    )
    assert result.exit_code == 2
    assert (
        "column 'score' (named by --label-column (--problem regression)): 1 value(s) that are not numbers: line 3: 'two'"
        in result.stderr
    )


def test_numeric_labels_are_classes_unless_regression_is_declared(cli, tiny_model, tmp_path):
    train = tmp_path / "n.csv"
    train.write_text("text,label\n" + "the movie was good,5\nthe plot was bad,1\n" * 6)
    out = tmp_path / "run"
    result = cli("run", "custom-csv", "--train", train, "--model", tiny_model, "--output-dir", out, *FAST)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "single_label_classification" and list(config["id2label"].values()) == ["1", "5"]


def test_problem_is_only_offered_by_tasks_that_have_a_choice(cli):
    assert "--problem" in cli("run", "custom-csv", "--help").stdout
    result = cli("run", "mrpc", "--problem", "regression")
    assert result.exit_code == 2 and "No such option '--problem'" in result.stderr
