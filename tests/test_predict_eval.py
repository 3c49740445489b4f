"""`taskrun predict` and `taskrun eval` on runs made with the tiny model."""

from __future__ import annotations

import csv
import json
import random
import shutil

import pytest
from click.testing import CliRunner
from conftest import offline_env, sentence, write_tsv
from taskrun import inference
from taskrun.cli import main
from taskrun.testing import make_manager, run_task

TEXTS = ["the movie was good", "the plot was awful and the actor was dull", "shares rose today", "a", "the film"]


@pytest.fixture(scope="module")
def glue_dirs(tmp_path_factory):
    rng = random.Random(5)
    root = tmp_path_factory.mktemp("glue")
    sst2, mrpc = root / "SST-2", root / "MRPC"
    sst2.mkdir(), mrpc.mkdir()
    for name, n in (("train.tsv", 32), ("dev.tsv", 12)):
        write_tsv(sst2 / name, ["sentence", "label"], [[sentence(rng, i % 2), str(i % 2)] for i in range(n)])
        write_tsv(
            mrpc / name,
            ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
            [[str(i % 2), "1", "2", sentence(rng, 1), sentence(rng, i % 2)] for i in range(n)],
        )
    write_tsv(sst2 / "test.tsv", ["index", "sentence"], [[str(i), sentence(rng, 1)] for i in range(4)])
    return sst2, mrpc


def trained(task: str, data_dir, tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    with offline_env(folder / "taskrun-cache"):  # not the user's cache
        outcome = run_task(task, "--data-dir", data_dir, model=tiny_model, plugins=[], output_dir=folder / task)
    assert outcome.exit_code == 0, outcome.output + outcome.stderr
    return outcome


@pytest.fixture(scope="module")
def sentiment_run(tiny_model, glue_dirs, tmp_path_factory):
    return trained("sentiment", glue_dirs[0], tiny_model, tmp_path_factory)


@pytest.fixture(scope="module")
def mrpc_run(tiny_model, glue_dirs, tmp_path_factory):
    return trained("mrpc", glue_dirs[1], tiny_model, tmp_path_factory)


def invoke(*args, stdin=None):
    return CliRunner().invoke(main, [str(a) for a in args], obj=make_manager(plugins=[]), input=stdin)


def test_predict_equals_pipeline_for_single_texts(sentiment_run, tmp_path):
    out = tmp_path / "p.jsonl"
    result = invoke("predict", sentiment_run.output_dir, *TEXTS, "--output", out, "--all-scores")
    assert result.exit_code == 0, result.output
    ours = [json.loads(line) for line in out.read_text().splitlines()]
    theirs = sentiment_run.predict(TEXTS)
    assert [row["label"] for row in ours] == [row["label"] for row in theirs]
    assert all(abs(a["score"] - b["score"]) < 1e-5 for a, b in zip(ours, theirs))
    assert all(abs(row["score_negative"] + row["score_positive"] - 1) < 1e-5 for row in ours)


def test_predict_equals_pipeline_for_pairs_from_a_file(mrpc_run, tmp_path):
    pairs = [("the movie was good", "the film was great"), ("shares rose", "shares fell today"), ("a", "b")]
    source = tmp_path / "pairs.csv"
    source.write_text("id,sentence1,sentence2\n" + "".join(f"{i},{a},{b}\n" for i, (a, b) in enumerate(pairs)))
    out = tmp_path / "p.csv"
    result = invoke("predict", mrpc_run.output_dir, "--input", source, "--output", out)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == ["0", "1", "2"] and rows[0]["sentence1"] == "the movie was good"
    theirs = mrpc_run.predict([{"text": a, "text_pair": b} for a, b in pairs])
    assert [r["label"] for r in rows] == [t["label"] for t in theirs]
    assert all(abs(float(r["score"]) - t["score"]) < 1e-5 for r, t in zip(rows, theirs))


def test_predict_reads_standard_input_and_reports_empty_and_long_texts(sentiment_run):
    long_text = " ".join(["the movie was good"] * 40)
    result = invoke("predict", sentiment_run.output_dir, stdin=f"the movie was good\n\n{long_text}\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["LABEL", "SCORE", "TEXT"] and len(lines) == 4
    assert lines[2].strip() == ""  # the empty line keeps its place, without a label
    assert "1 empty text(s) left without an answer: line 2" in result.stderr
    assert "1 text(s) longer than 64 tokens were truncated" in result.stderr


def test_predict_pair_model_on_the_command_line_takes_a_tab(mrpc_run):
    result = invoke("predict", mrpc_run.output_dir, "the movie was good\tthe film was great")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split()[0] in ("not_equivalent", "equivalent")


def test_predict_on_a_folder_that_is_not_a_run(tmp_path):
    result = invoke("predict", tmp_path, "text")
    assert result.exit_code == 2 and "is not a taskrun run folder" in result.stderr


def test_eval_scores_a_saved_model_by_label_name(sentiment_run, glue_dirs, tmp_path):
    out = tmp_path / "m.json"
    result = invoke("eval", sentiment_run.output_dir, "sentiment", "--data-dir", glue_dirs[0], "--output", out)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["samples"] == 12 and 0 <= metrics["accuracy"] <= 1
    trained = sentiment_run.metrics["eval"]
    assert metrics["accuracy"] == pytest.approx(trained["accuracy"])  # same model, same split, same answer


def test_eval_refuses_a_different_label_set_showing_both(sentiment_run, glue_dirs):
    result = invoke("eval", sentiment_run.output_dir, "mrpc", "--data-dir", glue_dirs[1])
    assert result.exit_code == 2
    assert "model ['negative', 'positive'], mrpc validation ['not_equivalent', 'equivalent']" in result.stderr


def test_eval_on_an_unlabelled_test_split_says_so(sentiment_run, glue_dirs):
    result = invoke("eval", sentiment_run.output_dir, "sentiment", "--data-dir", glue_dirs[0], "--split", "test")
    assert result.exit_code == 2 and "4 unlabelled row(s)" in result.stderr


def test_eval_matches_labels_by_name_not_position(cli, tiny_model, tmp_path):
    rows = [("the movie was good", "pos"), ("the plot was bad", "neg")] * 6
    train = tmp_path / "t.csv"
    train.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in rows))
    out = tmp_path / "run"
    assert (
        cli(
            "run",
            "custom-csv",
            "--train",
            train,
            "--model",
            tiny_model,
            "--output-dir",
            out,
            "--epochs",
            "1",
            "--precision",
            "fp32",
        ).exit_code
        == 0
    )
    # the same labels under other names are not the same labels
    renamed = tmp_path / "r.csv"
    renamed.write_text("text,label\n" + "".join(f"{t},{'good' if l == 'pos' else 'bad'}\n" for t, l in rows))
    result = invoke("eval", out, "custom-csv", "--train", renamed)
    assert result.exit_code == 2 and "model ['neg', 'pos'], custom-csv validation ['bad', 'good']" in result.stderr


@pytest.fixture(scope="module")
def tags_and_scores(tmp_path_factory):
    """A multi-label file (tags.csv) and a regression file (scores.csv), 12 rows each."""
    folder = tmp_path_factory.mktemp("tags-and-scores")
    tags = folder / "tags.csv"
    tags.write_text("text,label\n" + "the movie was good,film;positive\nshares fell,market;negative\n" * 6)
    scores = folder / "scores.csv"
    scores.write_text("text,label\n" + "the movie was good,4.5\nthe plot was bad,1.0\n" * 6)
    return {"multi-label": tags, "regression": scores}


def trained_custom_csv(tiny_model, data, tmp_path_factory, problem: str, *options: str):
    out = tmp_path_factory.mktemp("runs") / problem
    with offline_env(out.parent / "taskrun-cache"):
        outcome = run_task(
            "custom-csv", "--train", data, "--problem", problem, *options, model=tiny_model, plugins=[], output_dir=out
        )
    assert outcome.exit_code == 0, outcome.output + outcome.stderr
    return out


@pytest.fixture(scope="module")
def multi_label_run(tiny_model, tags_and_scores, tmp_path_factory):
    """custom-csv --problem multi-label on tags.csv with --threshold 0.0: every label is predicted."""
    data = tags_and_scores["multi-label"]
    return trained_custom_csv(tiny_model, data, tmp_path_factory, "multi-label", "--threshold", "0.0")


@pytest.fixture(scope="module")
def regression_run(tiny_model, tags_and_scores, tmp_path_factory):
    return trained_custom_csv(tiny_model, tags_and_scores["regression"], tmp_path_factory, "regression")


def test_predict_multi_label_and_regression(multi_label_run, regression_run, tmp_path):
    result = invoke("predict", multi_label_run, "the movie was good", "--all-scores")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split()[0] == "film;market;negative;positive"  # threshold 0: every label

    target = tmp_path / "p.jsonl"
    result = invoke("predict", regression_run, "the movie was good", "--output", target)
    assert result.exit_code == 0, result.output
    row = json.loads(target.read_text())
    assert set(row) == {"text", "value"} and isinstance(row["value"], float)  # a number, not a label and a probability
    shown = invoke("predict", regression_run, "the movie was good")
    assert shown.exit_code == 0 and shown.stdout.split()[:2] == ["VALUE", "TEXT"]


def test_predict_table_with_all_scores_when_the_first_text_is_empty(sentiment_run):
    result = invoke("predict", sentiment_run.output_dir, "--all-scores", stdin="\nthe movie was good\n")
    assert result.exit_code == 0, result.output
    header, first, second = result.stdout.splitlines()
    assert header.split() == ["LABEL", "SCORE", "SCORE_NEGATIVE", "SCORE_POSITIVE", "TEXT"]
    assert first.strip() == "" and second.split()[0] in ("negative", "positive")


def test_eval_multi_label_and_regression_runs_with_their_own_problem(
    multi_label_run, regression_run, tags_and_scores, tmp_path
):
    for run, problem, metric in (
        (multi_label_run, "multi-label", "micro_f1"),
        (regression_run, "regression", "pearson"),
    ):
        data = tags_and_scores[problem]
        result = invoke("eval", run, "custom-csv", "--train", data, "--output", tmp_path / f"{problem}.json")
        assert result.exit_code == 0, result.output
        assert metric in json.loads((tmp_path / f"{problem}.json").read_text())


def test_eval_scores_the_whole_split_whatever_the_training_limit(tiny_model, glue_dirs, tmp_path):
    out = tmp_path / "limited"
    outcome = run_task(
        "sentiment", "--data-dir", glue_dirs[0], "--max-eval-samples", "5", model=tiny_model, output_dir=out, plugins=[]
    )
    assert outcome.exit_code == 0 and outcome.metrics["eval"]["samples"] == 5
    result = invoke("eval", out, "sentiment", "--data-dir", glue_dirs[0], "--output", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text())["samples"] == 12


def test_a_pair_model_given_one_text_says_the_pair_is_incomplete(mrpc_run):
    result = invoke("predict", mrpc_run.output_dir, "only one sentence")
    assert result.exit_code == 2
    assert "this model takes pairs of texts, and argument 1 holds only one (no tab between two texts)" in result.stderr
    assert "--text-pair-column" in result.stderr
    piped = invoke("predict", mrpc_run.output_dir, stdin="the film\tthe movie\njust one\n")
    assert piped.exit_code == 2 and "line 2 holds only one" in piped.stderr


def test_an_input_file_keeps_its_gold_label_column(sentiment_run, tmp_path):
    source = tmp_path / "gold.csv"
    source.write_text("text,label\nthe movie was good,positive\nthe plot was awful,negative\n")
    out = tmp_path / "scored.csv"
    result = invoke("predict", sentiment_run.output_dir, "--input", source, "--output", out)
    assert result.exit_code == 0, result.output
    header, *rows = out.read_text().splitlines()
    assert header == "text,label,predicted_label,predicted_score"
    assert [row.split(",")[1] for row in rows] == ["positive", "negative"]  # the gold labels are kept
    shown = invoke("predict", sentiment_run.output_dir, "--input", source)
    assert shown.exit_code == 0 and shown.stdout.split()[:3] == ["LABEL", "SCORE", "TEXT"]


def test_empty_input_says_so(sentiment_run, tmp_path):
    header_only = tmp_path / "empty.csv"
    header_only.write_text("text\n")
    result = invoke("predict", sentiment_run.output_dir, "--input", header_only)
    assert result.exit_code == 2 and "no rows to label" in result.stderr
    piped = invoke("predict", sentiment_run.output_dir, stdin="")
    assert piped.exit_code == 2 and "no texts to label: the standard input held none" in piped.stderr


def test_the_output_path_is_checked_before_any_model_is_loaded(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    not_a_run = tmp_path / "no-run"  # no model at all: the output check comes first
    result = invoke("predict", not_a_run, "some text", "--output", a_file / "out.csv")
    assert result.exit_code == 2 and f"--output {a_file / 'out.csv'}: {a_file} is a file, not a folder" in result.stderr
    wrong = invoke("predict", not_a_run, "some text", "--output", tmp_path / "out.txt")
    assert wrong.exit_code == 2 and "use a .csv, .tsv or .jsonl file name" in wrong.stderr


def recorded_as(run_dir, precision, tmp_path):
    """A copy of a finished run whose run_config.json says it trained in `precision`."""
    copy = tmp_path / f"run-{precision}"
    shutil.copytree(run_dir, copy)
    record = json.loads((copy / "run_config.json").read_text())
    (copy / "run_config.json").write_text(json.dumps({**record, "precision_used": precision}))
    return copy


def infer(run, texts, batch_size, precision=None, by_length=True):
    """The logits of `texts` through predict's own path, and how many were cut."""
    inputs = run.family.predict_texts(texts, run, "text")
    logits, _, truncated = inference.infer(make_manager(), run, inputs, batch_size, precision, by_length)
    return logits, truncated


def test_inference_computes_in_the_runs_recorded_precision(sentiment_run, tmp_path):
    fp32 = inference.load_run(sentiment_run.output_dir)
    assert fp32.device == "cpu" and fp32.precision == "fp32"
    fp32_logits, _ = infer(fp32, TEXTS, 2)
    bf16 = inference.load_run(recorded_as(sentiment_run.output_dir, "bf16", tmp_path))
    bf16_logits, _ = infer(bf16, TEXTS, 2)
    assert (bf16_logits == infer(bf16, TEXTS, 2, "bf16")[0]).all()
    assert abs(bf16_logits - fp32_logits).max() > 0  # bf16 autocast, as the run trained
    assert abs(bf16_logits - fp32_logits).max() < 0.05
    # a run trained in fp16 (on a GPU) computes in fp32 on the CPU: the model's own answers
    fp16 = inference.load_run(recorded_as(sentiment_run.output_dir, "fp16", tmp_path))
    assert (infer(fp16, TEXTS, 2)[0] == fp32_logits).all()


def test_eval_reports_the_precision_it_computed_in(sentiment_run, glue_dirs, tmp_path):
    for recorded, used in (("bf16", "bf16"), ("fp16", "fp32")):
        out = tmp_path / f"{recorded}.json"
        folder = recorded_as(sentiment_run.output_dir, recorded, tmp_path)
        result = invoke("eval", folder, "sentiment", "--data-dir", glue_dirs[0], "--output", out)
        assert result.exit_code == 0, result.output
        assert json.loads(out.read_text())["precision"] == used


def test_length_sorted_batches_give_each_text_its_own_logits(sentiment_run):
    run = inference.load_run(sentiment_run.output_dir)
    texts = [" ".join(["word"] * n) for n in (9, 1, 30, 4, 17, 2, 60)]
    sorted_logits, _ = infer(run, texts, 3, by_length=True)
    in_order, _ = infer(run, texts, 3, by_length=False)
    one_by_one = [infer(run, [text], 1)[0][0] for text in texts]
    assert abs(sorted_logits - in_order).max() < 1e-5
    assert abs(sorted_logits - one_by_one).max() < 1e-5


@pytest.mark.parametrize(
    ("recorded", "device", "gpu_bf16", "computed"),
    [
        ("bf16", "cpu", False, "bf16"),
        ("fp16", "cpu", False, "fp32"),
        ("fp32", "cpu", False, "fp32"),
        ("bf16", "cuda", True, "bf16"),
        ("bf16", "cuda", False, "fp32"),
        ("fp16", "cuda", False, "fp16"),
        ("fp32", "cuda", True, "fp32"),
    ],
)
def test_the_precision_inference_computes_in(recorded, device, gpu_bf16, computed, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: gpu_bf16)
    assert inference.compute_precision(recorded, device) == computed
