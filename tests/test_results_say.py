"""Issue 23, "results that say what they are": a model that gives every example the same answer
is warned about in the run's log and metrics.json, and a task that names no primary metric is led
by one that shows it (the Matthews correlation, not accuracy)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from taskrun import Predictions, TaskSpec, hookimpl
from taskrun.family import family_named
from taskrun.scoring import best_metric, primary_metric

FAST = ("--epochs", "1", "--batch-size", "8", "--precision", "fp32")


def spec(problem_type="single-label", **fields):
    return TaskSpec(name="t", problem_type=problem_type, **fields)


@pytest.mark.parametrize(
    "problem_type, predictions, expected",
    [
        ("single-label", Predictions(label_ids=np.array([1, 1, 1])), "predicts 'b' for all 3 validation examples"),
        ("single-label", Predictions(label_ids=np.array([1, 0, 1])), None),
        ("multi-label", Predictions(label_ids=np.array([[1, 0], [1, 0]])), "the same labels (a) for all 2"),
        ("multi-label", Predictions(label_ids=np.array([[1, 0], [0, 1]])), None),
        ("regression", Predictions(values=np.array([0.25, 0.25, 0.25])), "one value (0.25) for all 3"),
        ("regression", Predictions(values=np.array([0.25, 0.5, 0.25])), None),
    ],
)
def test_a_sequence_model_with_one_answer_for_everything_is_named(problem_type, predictions, expected):
    family = family_named("sequence-classification", "test")
    said = family.collapse(spec(problem_type), predictions, np.zeros(3), ["a", "b"])
    assert said is None if expected is None else expected in said


def test_a_token_model_that_tags_every_word_o_is_named():
    family = family_named("token-classification", "test")
    references = np.array([[-100, 0, 1, -100], [-100, 0, 0, 2]])
    all_o = family.collapse(spec(), Predictions(label_ids=np.zeros((2, 4), dtype=int)), references, ["O", "B-X", "I-X"])
    assert all_o == "the model tags all 5 validation words 'O'"
    some = Predictions(label_ids=np.array([[0, 0, 1, 0], [0, 0, 0, 2]]))
    assert family.collapse(spec(), some, references, ["O", "B-X", "I-X"]) is None


def test_a_task_without_a_primary_metric_is_led_by_the_matthews_correlation():
    assert primary_metric(spec(), ["accuracy", "f1", "matthews_correlation"]) == ("matthews_correlation", True)
    assert best_metric(spec(), None, 3) == ("matthews_correlation", True)
    named = spec(metrics=("accuracy", "f1"), primary_metric="accuracy")  # a task's own choice stands
    assert primary_metric(named, ["accuracy", "f1", "matthews_correlation"]) == ("accuracy", True)
    assert primary_metric(spec("regression"), ["pearson", "spearman", "mse", "rmse"]) == ("pearson", True)


def test_a_run_whose_model_answers_one_class_says_so(manager, cli, tiny_model, tmp_path):
    class OneClass:
        """A task whose post-processing answers `b` for every text: the model "collapsed"."""

        @hookimpl
        def taskrun_register_tasks(self, register):
            register(TaskSpec(name="one-class", labels=("a", "b")))

        @hookimpl
        def taskrun_load_dataset(self, task, config):
            import datasets

            features = datasets.Features(
                {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])}
            )
            rows = {"text": ["the plot was good", "the plot was bad"] * 4, "label": [1, 0] * 4}
            split = datasets.Dataset.from_dict(rows, features=features)
            return datasets.DatasetDict(train=split, validation=split)

        @hookimpl
        def taskrun_postprocess(self, task, config, logits):
            return Predictions(label_ids=np.ones(len(logits), dtype=int), scores=np.full((len(logits), 2), 0.5))

    manager.register(OneClass(), name="one-class")
    result = cli("run", "one-class", "--model", tiny_model, "--output-dir", tmp_path / "o", *FAST)
    assert result.exit_code == 0, result.output + result.stderr
    said = "the model predicts 'b' for all 8 validation examples"
    evaluation = json.loads((tmp_path / "o" / "metrics.json").read_text())["eval"]
    assert evaluation["collapsed"] == said and evaluation["accuracy"] == 0.5 and evaluation["matthews_correlation"] == 0
    assert said in result.stderr and said in result.stdout  # the log as it happens, and the summary


def write_reviews(path, rows):
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8")
    return path


REVIEWS = [("the movie was good", "pos"), ("the plot was bad", "neg"), ("a great film", "pos")] * 6


def test_f1_names_its_positive_label_and_the_user_chooses_it(cli, tiny_model, tmp_path):
    """Issue 23, item 12: `f1` of two labels was that of whichever sorts second, unnamed."""
    from taskrun.metrics import f1

    train, dev = write_reviews(tmp_path / "t.csv", REVIEWS), write_reviews(tmp_path / "d.csv", REVIEWS[:9])
    common = ("run", "custom-csv", "--train", train, "--validation", dev, "--model", tiny_model, *FAST)
    default = cli(*common, "--output-dir", tmp_path / "default")
    chosen = cli(*common, "--output-dir", tmp_path / "neg", "--positive-label", "neg")
    assert default.exit_code == 0 and chosen.exit_code == 0, default.stderr + chosen.stderr
    for out, result, label in ((tmp_path / "default", default, "pos"), (tmp_path / "neg", chosen, "neg")):
        evaluation = json.loads((out / "metrics.json").read_text())["eval"]
        assert evaluation["positive_label"] == label
        assert json.loads((out / "run_config.json").read_text())["positive_label"] == label
        assert f"f1 is the F1 of '{label}'" in result.stdout
        assert f"`f1` is the F1 of the label `{label}`" in (out / "README.md").read_text()
    # eval of the run scores f1 of the run's positive label, without being told
    scored = cli("eval", tmp_path / "neg", "custom-csv", "--output", tmp_path / "e.json")
    assert scored.exit_code == 0, scored.stderr
    figures = json.loads((tmp_path / "e.json").read_text())
    recorded = json.loads((tmp_path / "neg" / "metrics.json").read_text())["eval"]
    assert figures["positive_label"] == "neg" and figures["f1"] == pytest.approx(recorded["f1"], abs=1e-6)
    # and it is the F1 of `neg`: the saved model's answers on the validation texts, scored by hand
    import taskrun

    answers = [row["label"] for row in taskrun.predict(tmp_path / "neg", [t for t, _ in REVIEWS[:9]], plugins=[])]
    truth = [label for _, label in REVIEWS[:9]]
    hits = sum(a == t == "neg" for a, t in zip(answers, truth))
    by_hand = 2 * hits / (answers.count("neg") + truth.count("neg"))
    assert recorded["f1"] == pytest.approx(by_hand, abs=1e-6)
    assert f1(np.array([0, 1, 0]), np.array([0, 1, 1]), pos_label=0) == pytest.approx(2 / 3)  # of label id 0


def test_a_positive_label_the_run_cannot_use_is_refused_naming_the_labels(cli, tiny_model, tmp_path):
    train = write_reviews(tmp_path / "t.csv", REVIEWS)
    result = cli(
        "run",
        "custom-csv",
        "--train",
        train,
        "--model",
        tiny_model,
        "--output-dir",
        tmp_path / "o",
        "--positive-label",
        "great",
        *FAST,
    )
    assert (
        result.exit_code == 2
        and "--positive-label great: not a label of this run; its labels are neg, pos" in result.stderr
    )
    three = write_reviews(tmp_path / "3.csv", [*REVIEWS, ("an ok film", "meh")] * 2)
    result = cli(
        "run",
        "custom-csv",
        "--train",
        three,
        "--model",
        tiny_model,
        "--output-dir",
        tmp_path / "o",
        "--positive-label",
        "pos",
        *FAST,
    )
    assert result.exit_code == 2 and "for single-label tasks with two labels; this run has 3 label(s)" in result.stderr
    assert not (tmp_path / "o").exists()
