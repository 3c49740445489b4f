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
