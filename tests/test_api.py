"""The Python API: taskrun.run, run_seeds, predict and evaluate take the command line's options as
keyword arguments, raise taskrun's exceptions, and leave nothing behind between calls."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import taskrun
from taskrun.errors import OutputExistsError, UsageError


@pytest.fixture
def options(tiny_model, reviews_csv):
    return {
        "model": str(tiny_model),
        "train": str(reviews_csv),
        "text_column": "review",
        "label_column": "stars",
        "epochs": 1,
        "batch_size": 8,
        "precision": "fp32",
        "pictures": False,
        "plugins": [],
    }


def test_two_runs_from_two_threads_of_one_process_give_the_same_result(options, tmp_path, caplog):
    """Issue 23, item 9: calls from two threads run one after the other (the second said it waited);
    each leaves nothing behind that changes the other's result."""
    from concurrent.futures import ThreadPoolExecutor

    caplog.set_level("INFO", logger="taskrun")
    with ThreadPoolExecutor(2) as pool:
        calls = [pool.submit(taskrun.run, "custom-csv", output_dir=tmp_path / name, **options) for name in "ab"]
        first, second = (call.result() for call in calls)
    assert "taskrun.run waits for another taskrun call of this process to finish" in caplog.text
    assert first.output_dir == tmp_path / "a" and (first.output_dir / "model.safetensors").is_file()
    assert first.metrics["eval"]["loss"] == second.metrics["eval"]["loss"]
    assert first.metrics["eval"]["accuracy"] == second.metrics["eval"]["accuracy"]
    record = json.loads((tmp_path / "a" / "run_config.json").read_text())
    assert record["options"]["learning_rate"]["source"] == "task default"
    assert record["options"]["epochs"] == {"value": 1.0, "source": "python"}


def test_predict_and_evaluate_from_python(finished_reviews, shared_data):
    run = finished_reviews.output  # custom-csv on the reviews, as `options` give them
    labels = json.loads((run / "run_config.json").read_text())["labels"]
    predictions = taskrun.predict(run, ["the movie was great", ""], all_scores=True)
    assert predictions[0]["label"] in labels and 0 <= predictions[0]["score"] <= 1
    assert {key for key in predictions[0] if key.startswith("score_")} == {f"score_{name}" for name in labels}
    assert predictions[1]["label"] == ""  # an empty text gets no label
    metrics = taskrun.evaluate(
        run,
        "custom-csv",
        train=str(shared_data / "reviews.csv"),
        text_column="review",
        label_column="stars",
        plugins=[],
    )
    assert metrics["split"] == "validation" and metrics["samples"] > 0
    with pytest.raises(UsageError, match="takes single texts"):
        taskrun.predict(run, [("a", "b")])


def test_mistakes_raise_taskrun_errors_with_the_option_named(options, tmp_path):
    with pytest.raises(UsageError, match=r"unknown option 'lerning_rate' \(did you mean 'learning_rate'\?\)"):
        taskrun.run("custom-csv", output_dir=tmp_path / "x", lerning_rate=1e-3, **options)
    with pytest.raises(UsageError, match="batch_size: 0 is not in the range"):
        taskrun.run("custom-csv", output_dir=tmp_path / "x", **{**options, "batch_size": 0})
    without_train = {k: v for k, v in options.items() if k != "train"}
    with pytest.raises(UsageError, match="--train"):
        taskrun.run("custom-csv", output_dir=tmp_path / "x", **without_train)
    with pytest.raises(UsageError, match="HF_HUB_OFFLINE=1 in the environment"):
        taskrun.run("custom-csv", output_dir=tmp_path / "x", offline=True, **options)
    with pytest.raises(UsageError, match="run_seeds"):
        taskrun.run("custom-csv", output_dir=tmp_path / "x", seeds=[1, 2], **options)
    seeded = tmp_path / "seeded.toml"  # as `taskrun tune --seeds` writes best.toml
    seeded.write_text("seeds = [1, 2]\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"seeded.toml holds seeds: \[1, 2\].*taskrun.run_seeds"):
        taskrun.run("custom-csv", config=seeded, output_dir=tmp_path / "x", **options)
    with pytest.raises(UsageError, match="--seeds: 1 given more than once"):  # tune takes seeds too
        taskrun.tune("custom-csv", output_dir=tmp_path / "x", seeds=[1, 2, 1], **options)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        taskrun.run("custom-csv", output_dir=tmp_path / "taken", **options)
    assert not (tmp_path / "x").exists()


def test_a_config_file_under_keyword_arguments(options, tmp_path):
    settings = tmp_path / "exp.yaml"
    settings.write_text("learning_rate: 0.001\nseed: 3\n", encoding="utf-8")
    result = taskrun.run("custom-csv", config=settings, seed=4, output_dir=tmp_path / "run", **options)
    record = json.loads((result.output_dir / "run_config.json").read_text())
    assert record["learning_rate"] == 0.001 and record["seed"] == 4
    assert record["options"]["learning_rate"]["source"] == f"config file {settings}"


@pytest.mark.slow  # starts python
def test_import_taskrun_stays_light():
    code = "import sys, taskrun; assert callable(taskrun.run); print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
