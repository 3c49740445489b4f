"""`evaluate` metric modules beside the bundled metrics (--evaluate-metric, TaskSpec.evaluate_metrics):
a run reports them as MODULE/KEY in metrics.json, the summary and every evaluation, `taskrun eval`
computes them again; a figure that disagrees with the bundled one of the same name is warned
about; a bad name fails before any data or model is loaded. Every module is a script written here
into tmp_path: the Hub is never needed."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import taskrun
from taskrun.errors import HubUnavailableError, UsageError
from taskrun.family import family_of
from taskrun.scoring import merged_metrics
from taskrun.task import Predictions, RunConfig, TaskSpec, TaskSpecError

FAST = ("--epochs", "1", "--batch-size", "8", "--precision", "fp32", "--no-pictures")
HEADER = """\
import datasets
import evaluate


class {cls}(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="a test module",
            citation="",
            inputs_description="",
            features=datasets.Features({features}),
        )

    def _compute(self, predictions, references):
"""
IDS = '{"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}'
TAGS = (
    '{"predictions": datasets.Sequence(datasets.Value("string")), '
    '"references": datasets.Sequence(datasets.Value("string"))}'
)
ACCURACY = """\
        right = sum(int(p == r) for p, r in zip(predictions, references))
        return {"accuracy": right / len(references), "counts": {"right": right, "note": "x"}, "note": "not a number"}
"""
F1_OF_CLASS_0 = """\
        tp = sum(1 for p, r in zip(predictions, references) if p == 0 and r == 0)
        fp = sum(1 for p, r in zip(predictions, references) if p == 0 and r != 0)
        fn = sum(1 for p, r in zip(predictions, references) if p != 0 and r == 0)
        return {"f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0}
"""
TAG_ACCURACY = """\
        pairs = [(p, r) for ps, rs in zip(predictions, references) for p, r in zip(ps, rs)]
        return {"accuracy": sum(p == r for p, r in pairs) / len(pairs), "sentences": len(references)}
"""


def write_module(folder: Path, name: str, body: str, features: str = IDS) -> Path:
    """A metric module's folder: NAME/NAME.py, an evaluate.Metric."""
    cls = "".join(part.title() for part in name.split("_"))
    (folder / name).mkdir(parents=True)
    (folder / name / f"{name}.py").write_text(HEADER.format(cls=cls, features=features) + body, encoding="utf-8")
    return folder / name


@pytest.fixture
def my_accuracy(tmp_path) -> Path:
    return write_module(tmp_path / "modules", "my_accuracy", ACCURACY)


def reviews_args(reviews_csv: Path, tiny_model: Path) -> list[str]:
    return ["custom-csv", "--model", str(tiny_model), "--train", str(reviews_csv)] + [
        *("--text-column", "review", "--label-column", "stars"),
    ]


class NoModelLoads:
    """Fails any test that reaches the model's tokenizer: the module check must come first."""

    def __init__(self, monkeypatch):
        import taskrun.runner

        monkeypatch.setattr(taskrun.runner, "load_tokenizer", self.refuse)

    @staticmethod
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the metric modules were checked")


# -- a run, and eval ---------------------------------------------------------------------------------


def test_a_run_reports_the_module_beside_the_bundled_metrics_and_eval_again(
    cli, run_reviews, my_accuracy, reviews_csv, tmp_path
):
    out = tmp_path / "run"
    result = run_reviews(out, "--no-pictures", "--evaluate-metric", my_accuracy)
    assert result.exit_code == 0, result.output + result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    evaluation = metrics["eval"]
    assert evaluation["my_accuracy/accuracy"] == pytest.approx(evaluation["accuracy"], abs=1e-6)
    assert evaluation["my_accuracy/counts/right"] == round(evaluation["accuracy"] * evaluation["samples"])
    assert "my_accuracy/note" not in evaluation and "my_accuracy/counts/note" not in evaluation  # numbers only
    assert all("my_accuracy/accuracy" in entry for entry in metrics["eval_history"])  # each evaluation in training
    assert "my_accuracy/accuracy" in result.stdout  # the summary
    assert "disagrees" not in result.stderr
    recorded = json.loads((out / "run_config.json").read_text())
    assert recorded["evaluate_metrics"] == [str(my_accuracy.resolve())]

    again = cli("eval", out, "custom-csv", "--train", reviews_csv, "--text-column", "review", "--label-column", "stars")
    assert again.exit_code == 0, again.output + again.stderr
    assert "my_accuracy/accuracy" in again.stdout


def test_the_option_from_a_settings_file_and_from_python(cli, my_accuracy, reviews_csv, tiny_model, tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text(f"evaluate_metric = [{json.dumps(str(my_accuracy))}]\n", encoding="utf-8")
    shown = cli("run", *reviews_args(reviews_csv, tiny_model), "--config", settings, "--print-config")
    assert shown.exit_code == 0, shown.output + shown.stderr
    assert f"evaluate_metrics = [{json.dumps(str(my_accuracy))}]  # config file {settings}" in shown.stdout

    result = taskrun.run(
        "custom-csv",
        plugins=[],
        model=str(tiny_model),
        train=str(reviews_csv),
        text_column="review",
        label_column="stars",
        output_dir=str(tmp_path / "python"),
        epochs=1,
        batch_size=8,
        precision="fp32",
        pictures=False,
        save_every="none",
        evaluate_metric=str(my_accuracy),  # one name: a list of one
    )
    assert result.metrics["eval"]["my_accuracy/accuracy"] == pytest.approx(result.metrics["eval"]["accuracy"])
    options = json.loads((tmp_path / "python" / "run_config.json").read_text())["options"]
    assert options["evaluate_metrics"]["source"] == "python"


# -- failing fast ------------------------------------------------------------------------------------


def test_a_missing_path_fails_before_any_model_loads(run_reviews, tmp_path, monkeypatch):
    NoModelLoads(monkeypatch)
    result = run_reviews(tmp_path / "run", "--evaluate-metric", tmp_path / "no" / "such_module")
    assert result.exit_code == 2, result.output + result.stderr
    assert "--evaluate-metric" in result.stderr and "no such file or folder" in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_hub_id_offline_fails_at_once_with_exit_3(run_reviews, tmp_path, monkeypatch):
    NoModelLoads(monkeypatch)

    def download(*args, **kwargs):
        pytest.fail("evaluate.load was reached: a download was attempted offline")

    monkeypatch.setattr("evaluate.load", download)  # refused before any attempt, so no retries to wait for
    result = run_reviews(tmp_path / "run", "--evaluate-metric", "accuracy")
    assert result.exit_code == 3, result.output + result.stderr
    assert "evaluate metric 'accuracy'" in result.stderr and "HF_HUB_OFFLINE" in result.stderr


def test_a_module_that_cannot_load_is_named_with_its_error(run_reviews, tmp_path, monkeypatch):
    NoModelLoads(monkeypatch)
    broken = write_module(tmp_path / "modules", "broken", "        return {\n")  # a syntax error
    result = run_reviews(tmp_path / "run", "--evaluate-metric", broken)
    assert result.exit_code == 2, result.output + result.stderr
    assert str(broken / "broken.py") in result.stderr and "SyntaxError" in result.stderr

    empty = tmp_path / "empty_module"
    empty.mkdir()
    result = run_reviews(tmp_path / "run", "--evaluate-metric", empty)
    assert result.exit_code == 2 and "no metric script empty_module.py" in result.stderr


def test_python_gets_the_errors_as_exceptions(tmp_path, monkeypatch, reviews_csv, tiny_model):
    NoModelLoads(monkeypatch)
    options = dict(plugins=[], model=str(tiny_model), train=str(reviews_csv), text_column="review")
    options.update(label_column="stars", output_dir=str(tmp_path / "out"))
    with pytest.raises(HubUnavailableError, match="evaluate metric 'owner/metric'"):
        taskrun.run("custom-csv", evaluate_metric=["owner/metric"], **options)
    with pytest.raises(UsageError, match="no such file or folder"):
        taskrun.run("custom-csv", evaluate_metric=["./not/here"], **options)


# -- checked against the bundled metrics -------------------------------------------------------------


def two_label_task(manager) -> TaskSpec:
    return dataclasses.replace(manager.task("sentiment"), labels=("negative", "positive"))


def test_a_module_that_disagrees_with_the_bundled_metric_is_warned_about(manager, tmp_path, caplog):
    other_f1 = write_module(tmp_path, "other_f1", F1_OF_CLASS_0)
    task = two_label_task(manager)
    predictions = Predictions(label_ids=np.array([1, 1, 1, 0, 0, 1]))
    references = np.array([1, 1, 0, 0, 1, 1])
    with caplog.at_level(logging.WARNING, logger="taskrun"):
        metrics = merged_metrics(manager, task, predictions, references, ["negative", "positive"], [str(other_f1)])
    assert metrics["f1"] == pytest.approx(0.75) and metrics["other_f1/f1"] == pytest.approx(0.5)
    warned = [r.getMessage() for r in caplog.records if "disagrees" in r.getMessage()]
    assert len(warned) == 1 and "evaluate metric other_f1/f1 = 0.5 disagrees with taskrun's f1 = 0.75" in warned[0]


def test_a_task_names_modules_and_the_run_adds_its_own(manager, tmp_path, my_accuracy, caplog):
    other_f1 = write_module(tmp_path, "other_f1", F1_OF_CLASS_0)
    task = dataclasses.replace(two_label_task(manager), evaluate_metrics=(str(my_accuracy),))
    predictions = Predictions(label_ids=np.array([1, 0, 1, 0]))
    # -100: a row whose label the model does not have, left out of the module's inputs
    references = np.array([1, 0, 0, -100])
    metrics = merged_metrics(manager, task, predictions, references, ["negative", "positive"], [str(other_f1)])
    assert metrics["my_accuracy/accuracy"] == pytest.approx(2 / 3)
    assert metrics["my_accuracy/counts/right"] == 2
    assert "other_f1/f1" in metrics


def test_the_task_field_is_checked():
    assert TaskSpec(name="t", evaluate_metrics=[Path("/x/m")]).evaluate_metrics == ("/x/m",)
    with pytest.raises(TaskSpecError, match="evaluate_metrics"):
        TaskSpec(name="t", evaluate_metrics=(3,))
    assert RunConfig(task="t", model="m", output_dir="o", evaluate_metrics=["a"]).evaluate_metrics == ("a",)


# -- what each family gives a module -----------------------------------------------------------------


def test_the_token_family_gives_tag_names_per_sentence_without_ignored_positions(manager, tmp_path, caplog):
    task = manager.task("ner")
    labels = ["O", "B-PER", "I-PER", "B-LOC"]
    predictions = Predictions(label_ids=np.array([[0, 1, 2, 0, 3], [3, 0, 0, 1, 0]]))
    references = np.array([[-100, 1, 2, 0, -100], [3, 0, -100, -100, -100]])
    inputs = family_of(task).evaluate_inputs(task, predictions, references, labels)
    assert inputs == ([["B-PER", "I-PER", "O"], ["B-LOC", "O"]], [["B-PER", "I-PER", "O"], ["B-LOC", "O"]])

    tag_accuracy = write_module(tmp_path, "tag_accuracy", TAG_ACCURACY, features=TAGS)
    predictions = Predictions(label_ids=np.array([[0, 1, 0, 0, 3], [3, 0, 0, 1, 0]]))
    with caplog.at_level(logging.WARNING, logger="taskrun"):
        metrics = merged_metrics(
            manager, task, predictions, references, labels, [str(tag_accuracy / "tag_accuracy.py")]
        )
    assert metrics["tag_accuracy/accuracy"] == pytest.approx(metrics["accuracy"]) == pytest.approx(4 / 5)
    assert metrics["tag_accuracy/sentences"] == 2
    assert not [r for r in caplog.records if "disagrees" in r.getMessage()]


@pytest.mark.parametrize(
    "problem, predictions, references, expected",
    [
        ("single-label", Predictions(label_ids=np.array([0, 2, 1])), [0, -100, 2], ([0, 1], [0, 2])),
        (
            "multi-label",
            Predictions(label_ids=np.array([[1, 0, 1], [0, 0, 1]])),
            [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
            ([[1, 0, 1], [0, 0, 1]], [[1, 0, 0], [0, 1, 1]]),
        ),
        ("regression", Predictions(values=np.array([0.5, 2.0])), [1.0, 2.5], ([0.5, 2.0], [1.0, 2.5])),
    ],
)
def test_the_sequence_family_gives_ids_rows_or_values(manager, problem, predictions, references, expected):
    task = dataclasses.replace(manager.task("custom-csv"), problem_type=problem)
    inputs = family_of(task).evaluate_inputs(task, predictions, np.array(references), ["a", "b", "c"])
    assert inputs == expected
    assert all(isinstance(x, (int, float, list)) for x in inputs[0])  # plain Python values, as evaluate takes


def test_import_taskrun_does_not_import_evaluate():
    import subprocess
    import sys

    code = "import sys, taskrun, taskrun.scoring, taskrun.evaluate_metrics; print('evaluate' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
