"""Issue 3's numbered data problems, each with its own small file: a clear error (exit 2, file,
line, column, value, no output folder) or, where asked, a clear way through."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from taskrun.cli import main

FAST = ("--epochs", "1", "--batch-size", "8", "--precision", "fp32")
GOOD = [
    ("the movie was good", "pos"),
    ("the film was great", "pos"),
    ("the plot was bad", "neg"),
    ("the actor was awful", "neg"),
] * 3


def write_csv(path, rows, header=("text", "label"), bom=False):
    lines = [",".join(header)] + [",".join(row) for row in rows]
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def run_csv(cli, tiny_model, tmp_path):
    """Run custom-csv on a training file; returns (result, output folder)."""

    def run(train, *args):
        out = tmp_path / "run"
        return cli("run", "custom-csv", "--train", train, "--model", tiny_model, "--output-dir", out, *FAST, *args), out

    return run


def test_1_malformed_row(run_csv, tmp_path):
    train = write_csv(tmp_path / "t.csv", GOOD[:4] + [("too", "many", "fields")] + GOOD[4:] + [("short",)])
    result, out = run_csv(train)
    assert result.exit_code == 2 and not out.exists()
    assert "t.csv: 2 malformed row(s)" in result.stderr
    assert "line 6: 3 fields, expected 2" in result.stderr and "line 15: 1 fields, expected 2" in result.stderr


def test_2_byte_order_mark_just_works(run_csv, tmp_path):
    result, out = run_csv(write_csv(tmp_path / "t.csv", GOOD, bom=True))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run_config.json").read_text())["labels"] == ["neg", "pos"]


def test_3_not_utf8_names_where_and_encoding_reads_it(run_csv, tmp_path):
    train = tmp_path / "t.csv"
    train.write_bytes(
        ("text,label\n" + "".join(f"{t},{l}\n" for t, l in GOOD) + "caf\xe9 was good,pos\n").encode("latin-1")
    )
    result, out = run_csv(train)
    assert result.exit_code == 2 and not out.exists()
    assert "t.csv:14:4: not valid utf-8" in result.stderr and "--encoding" in result.stderr
    result, out = run_csv(train, "--encoding", "latin-1")
    assert result.exit_code == 0, result.output


def test_4_tsv_with_unmatched_quotes_keeps_every_row(run_csv, tmp_path):
    train = tmp_path / "t.tsv"
    rows = [(f'{t} "{i}', l) for i, (t, l) in enumerate(GOOD)] + [('"', "pos"), ('he said "no', "neg")]
    train.write_text("text\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows), encoding="utf-8")
    result, out = run_csv(train)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["samples"] + metrics["eval"]["samples"] == len(rows) == 14


def test_5_misnamed_column_lists_columns_and_suggests(run_csv, tmp_path):
    result, out = run_csv(write_csv(tmp_path / "t.csv", GOOD, header=("txt", "label")))
    assert result.exit_code == 2 and not out.exists()
    assert "no column 'text' (named by --text-column). The columns are: 'txt', 'label'" in result.stderr
    assert "Did you mean 'txt'?" in result.stderr


def test_6_empty_text_is_an_error_listing_lines_and_drop_empty_drops_them(run_csv, tmp_path):
    train = write_csv(tmp_path / "t.csv", GOOD[:2] + [("", "pos"), ("  ", "neg")] + GOOD[2:])
    result, out = run_csv(train)
    assert result.exit_code == 2 and not out.exists()
    assert "2 row(s) with empty text in 'text', lines 4, 5" in result.stderr and "--drop-empty" in result.stderr
    result, out = run_csv(train, "--drop-empty")
    assert result.exit_code == 0, result.output
    assert "dropped 2 row(s) with empty text (lines 4, 5)" in result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["samples"] + metrics["eval"]["samples"] == len(GOOD)


def test_7_empty_labels_and_one_label_written_two_ways(run_csv, tmp_path):
    result, out = run_csv(write_csv(tmp_path / "a.csv", GOOD + [("the plot was fine", "")]))
    assert result.exit_code == 2 and "1 empty label(s) in column 'label', lines 14" in result.stderr
    numbers = [(t, "1" if l == "pos" else "0") for t, l in GOOD] + [("the film was fine", "1.0")]
    result, out = run_csv(write_csv(tmp_path / "b.csv", numbers))
    assert result.exit_code == 2 and not out.exists()
    assert "writes the label 1 in 2 ways: '1' (line 2), '1.0' (line 14)" in result.stderr


def test_8_a_split_with_no_usable_rows(run_csv, tmp_path):
    header_only = write_csv(tmp_path / "empty.csv", [])
    result, _ = run_csv(header_only)
    assert result.exit_code == 2 and "empty.csv (--train): no usable rows" in result.stderr
    dev = write_csv(tmp_path / "dev.csv", [("", "pos"), (" ", "neg")])
    result, _ = run_csv(write_csv(tmp_path / "t.csv", GOOD), "--validation", dev, "--drop-empty")
    assert (
        result.exit_code == 2 and "dev.csv (--validation): no usable rows after dropping empty texts" in result.stderr
    )


def test_9_integer_label_outside_the_tasks_range(cli, tmp_path):
    folder = tmp_path / "SST-2"
    folder.mkdir()
    (folder / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\nodd\t-1\n")
    (folder / "dev.tsv").write_text("sentence\tlabel\nfine\t1\n")
    result = cli("run", "sentiment", "--data-dir", folder, "--model", "embedded", "--output-dir", tmp_path / "run")
    assert result.exit_code == 2
    assert "train.tsv:4: column 'label': label '-1' is not one of 0 (negative), 1 (positive)" in result.stderr


def test_10_unseen_validation_label_is_named_and_can_be_allowed(run_csv, tmp_path):
    dev = write_csv(tmp_path / "dev.csv", [("the film was good", "pos"), ("the plot was dull", "meh")])
    result, out = run_csv(write_csv(tmp_path / "t.csv", GOOD), "--validation", dev)
    assert result.exit_code == 2 and not out.exists()
    assert "dev.csv: 1 label(s) that the training file does not have (line 3: 'meh')" in result.stderr
    assert "--allow-unseen-labels" in result.stderr
    result, out = run_csv(write_csv(tmp_path / "t.csv", GOOD), "--validation", dev, "--allow-unseen-labels")
    assert result.exit_code == 0, result.output
    assert "labels not in the training file: meh; the model never predicts them" in result.stderr
    assert json.loads((out / "run_config.json").read_text())["labels"] == ["neg", "pos"]  # exactly the training labels
    evaluation = json.loads((out / "metrics.json").read_text())["eval"]
    assert evaluation["rows_with_unseen_labels"] == 1 and evaluation["accuracy"] <= 0.5  # the 'meh' row is an error
    assert sum(row["support"] for row in evaluation["per_class"].values()) == 1
    answers = tmp_path / "answers.jsonl"
    predicted = CliRunner().invoke(main, ["predict", str(out), "the plot was dull", "meh", "--output", str(answers)])
    assert predicted.exit_code == 0, predicted.output
    assert {json.loads(line)["label"] for line in answers.read_text().splitlines()} <= {"neg", "pos"}
    spelled = write_csv(tmp_path / "dev2.csv", [("the film was good", "1.0"), ("the plot was dull", "0")])
    numbers = [(t, "1" if label == "pos" else "0") for t, label in GOOD]
    result, out = run_csv(
        write_csv(tmp_path / "n.csv", numbers), "--validation", spelled, "--allow-unseen-labels", "--overwrite"
    )
    assert (
        result.exit_code == 2
        and "dev2.csv:2: label '1.0' is the training file's label '1' written another way" in result.stderr
    )


def test_11_only_one_class_in_training(run_csv, tmp_path):
    result, out = run_csv(write_csv(tmp_path / "t.csv", [(t, "pos") for t, _ in GOOD]))
    assert result.exit_code == 2 and not out.exists()
    assert "the training data holds only one class ('pos', 11 rows)" in result.stderr  # 1 of 12 held out


def test_12_imbalance_warns_reports_per_class_and_class_weights_run(cli, run_csv, tmp_path):
    rows = [("the movie was good", "pos")] * 30 + [("the plot was bad", "neg")] * 4
    train = write_csv(tmp_path / "t.csv", rows)
    dev = write_csv(tmp_path / "dev.csv", [("the film was great", "pos"), ("the actor was awful", "neg")])
    result, out = run_csv(train, "--validation", dev)
    assert result.exit_code == 0, result.output
    assert "the training labels are imbalanced: neg 4 (11.8%), pos 30 (88.2%)" in result.stderr
    assert "--class-weights balanced" in result.stderr
    per_class = json.loads((out / "metrics.json").read_text())["eval"]["per_class"]
    assert set(per_class) == {"neg", "pos"} and set(per_class["neg"]) == {"precision", "recall", "f1", "support"}
    assert "precision  recall  f1" in result.stdout
    weighted, out = run_csv(train, "--validation", dev, "--class-weights", "balanced", "--overwrite")
    assert weighted.exit_code == 0, weighted.output
    assert json.loads((out / "run_config.json").read_text())["class_weights"] == "balanced"
    # both losses, named: the model's own (comparable with unweighted runs) and the balanced objective
    recorded = json.loads((out / "metrics.json").read_text())["eval"]
    assert recorded["objective_loss"] != pytest.approx(recorded["loss"], abs=1e-4)
    figures = tmp_path / "eval.json"
    scored = cli("eval", out, "custom-csv", "--validation", dev, "--output", figures)
    assert scored.exit_code == 0, scored.output + scored.stderr
    for key in ("loss", "objective_loss", "accuracy"):  # eval gives the run's own figures, both losses
        assert json.loads(figures.read_text())[key] == pytest.approx(recorded[key], abs=1e-4), key


def test_12_balanced_loss_weighs_each_class_the_same_in_total():
    import torch
    from taskrun.family import balanced_cross_entropy

    logits = torch.tensor([[2.0, 0.0], [2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 0, 0, 1])
    loss = balanced_cross_entropy([3, 1])({"logits": logits}, labels)
    per_example = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    expected = (per_example[:3].sum() * 4 / 6 + per_example[3] * 4 / 2) / 4
    assert torch.isclose(loss, expected)
    # a token task's logits (batch, tokens, classes), -100 where a position carries no label
    tokens = balanced_cross_entropy([3, 1])({"logits": logits.reshape(1, 4, 2)}, torch.tensor([[0, 0, -100, 1]]))
    expected = (per_example[:2].sum() * 4 / 6 + per_example[3] * 4 / 2) / 3
    assert torch.isclose(tokens, expected)


def test_13_truncated_texts_are_counted_per_split(run_csv, tmp_path):
    long = " ".join(["the movie was really very good"] * 6)
    rows = [(long, "pos"), (long, "neg")] + GOOD
    result, out = run_csv(write_csv(tmp_path / "t.csv", rows), "--max-length", "16")
    assert result.exit_code == 0, result.output
    truncated = json.loads((out / "metrics.json").read_text())["truncated"]
    assert truncated["train"] + truncated["validation"] == 2
    assert "texts longer than 16 tokens were truncated" in result.stderr


def test_labels_that_are_probably_one_label_or_none_are_named_with_their_lines(run_csv, tmp_path):
    rows = GOOD + [("the film was fine", " pos"), ("the plot was dull", "Neg"), ("the actor was there", "NaN")] * 2
    result, out = run_csv(write_csv(tmp_path / "t.csv", rows))
    assert result.exit_code == 0, result.output
    assert "labels with spaces around them were read as the same label: ' pos' (lines 14, 17) as 'pos'" in result.stderr
    assert "labels that differ only in case are different classes: 'Neg' (lines 15, 18), 'neg' (lines" in result.stderr
    assert "labels that look like missing values are used as classes: 'NaN' (lines 16, 19)" in result.stderr


def test_a_label_column_that_is_the_text_or_unique_in_every_row_is_refused(run_csv, tmp_path):
    train = write_csv(tmp_path / "t.csv", GOOD)
    result, out = run_csv(train, "--label-column", "text")
    assert result.exit_code == 2 and not out.exists()
    assert "--label-column text is also a text column" in result.stderr
    swapped = write_csv(tmp_path / "s.csv", [(label, f"review number {i}") for i, (_, label) in enumerate(GOOD)])
    result, out = run_csv(swapped)
    assert result.exit_code == 2 and not out.exists()
    assert "column 'label' holds a different label in every one of its 12 rows: it looks like text" in result.stderr


def test_the_held_out_validation_rows_do_not_follow_the_seed(reviews_csv):
    from taskrun.plugins import custom_csv
    from taskrun.task import RunConfig, TaskSpec

    task = TaskSpec(name="custom-csv", problem_types=("single-label", "regression"))
    options = {
        "train": reviews_csv,
        "text_column": "review",
        "label_column": "stars",
        "validation_fraction": 0.25,
        "encoding": "utf-8",
        "label_delimiter": ";",
    }
    held = []
    for seed in (1, 42, 1234):
        config = RunConfig(
            task="custom-csv", model="m", output_dir="o", seed=seed, problem_type="single-label", task_options=options
        )
        validation = custom_csv.taskrun_load_dataset(task, config)["validation"]
        held.append(sorted(validation["text"]))
        counts = [validation["label"].count(i) for i in range(3)]
        assert counts == [4, 4, 4]  # stratified: the file's balance (16 of each in 48 rows)
    assert held[0] == held[1] == held[2]
