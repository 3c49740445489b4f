"""The run folder's format: a run folder of the previous format (taskrun 0.2.0's first, without
`format_version`) still works with predict, eval and compare; records round-trip; a new run
writes the current format."""

from __future__ import annotations

import json
import random
import shutil

import pytest
from click.testing import CliRunner
from conftest import sentence, write_tsv
from taskrun import inference
from taskrun.cli import main
from taskrun.rundir import FORMAT_VERSION, MetricsRecord, RunRecord, read_run_config
from taskrun.testing import make_manager, run_task


def format_1_record(folder, model, data_dir) -> dict:
    """run_config.json as taskrun 0.2.0 wrote it before versions (a sentiment run: --epochs 1
    --batch-size 8 --precision fp32 --no-pictures --save-every none)."""
    options = {
        "model": {"value": str(model), "source": "command line"},
        "output_dir": {"value": str(folder), "source": "command line"},
        "overwrite": {"value": False, "source": "default"},
        "epochs": {"value": 1.0, "source": "command line"},
        "learning_rate": {"value": 0.0001, "source": "task default"},
        "batch_size": {"value": 8, "source": "command line"},
        "max_length": {"value": 64, "source": "task default, cut to the model's limit (asked 128)"},
        "seed": {"value": 42, "source": "default"},
        "warmup_ratio": {"value": 0.1, "source": "task default"},
        "weight_decay": {"value": 0.01, "source": "task default"},
        "dropout": {"value": None, "source": "default"},
        "freeze_embeddings": {"value": False, "source": "default"},
        "max_train_samples": {"value": None, "source": "default"},
        "max_eval_samples": {"value": None, "source": "default"},
        "precision": {"value": "fp32", "source": "command line"},
        "group_by_length": {"value": True, "source": "default"},
        "cache": {"value": True, "source": "default"},
        "pictures": {"value": False, "source": "command line"},
        "save_every": {"value": "no", "source": "command line"},
        "keep_checkpoints": {"value": 2, "source": "default"},
        "resume": {"value": None, "source": "default"},
        "force_resume": {"value": False, "source": "default"},
        "class_weights": {"value": None, "source": "default"},
        "data_dir": {"value": str(data_dir), "source": "command line"},
        "early_stopping": {"value": None, "source": "default"},
        "metric_for_best": {"value": None, "source": "default"},
        "report_to": {"value": [], "source": "default"},
        "evaluate_metrics": {"value": [], "source": "default"},
    }
    return {
        "task": "sentiment",
        "model": str(model),
        "output_dir": str(folder),
        "epochs": 1.0,
        "learning_rate": 0.0001,
        "batch_size": 8,
        "max_length": 64,
        "seed": 42,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "dropout": None,
        "freeze_embeddings": False,
        "max_train_samples": None,
        "max_eval_samples": None,
        "data_dir": str(data_dir),
        "precision": "fp32",
        "group_by_length": True,
        "cache": True,
        "pictures": False,
        "save_every": "no",
        "keep_checkpoints": 2,
        "resume": None,
        "force_resume": False,
        "overwrite": False,
        "problem_type": "single-label",
        "threshold": 0.5,
        "class_weights": None,
        "early_stopping": None,
        "metric_for_best": None,
        "report_to": [],
        "evaluate_metrics": [],
        "task_options": {},
        "model_path": str(model),
        "options": options,
        "plugin": "sentiment",
        "family": "sequence-classification",
        "pipeline_tag": "text-classification",
        "label_column": "label",
        "precision_used": "fp32",
        "labels": ["negative", "positive"],
        "text_inputs": ["sentence"],
        "versions": {"taskrun": "0.2.0", "transformers": "5.25.0", "torch": "2.13.0+cpu", "datasets": "5.2.0"},
        "launch": {"processes": 1, "nodes": 1, "parallelism": "none"},
        "files": sorted(
            ["README.md", "config.json", "metrics.json", "model.safetensors", "run_config.json"]
            + ["tokenizer.json", "tokenizer_config.json"]
        ),
    }


FORMAT_1_METRICS = {
    "task": "sentiment",
    "family": "sequence-classification",
    "problem_type": "single-label",
    "train": {
        "samples": 32,
        "label_counts": {"negative": 16, "positive": 16},
        "steps": 4,
        "runtime": 0.3954,
        "samples_per_second": 80.927,
        "steps_per_second": 10.116,
        "total_flos": 28068864.0,
        "loss": 0.6933201551437378,
        "epoch": 1.0,
        "tokens_per_second": 647.4,
    },
    "eval": {
        "split": "validation",
        "samples": 12,
        "loss": 0.6931466460227966,
        "accuracy": 0.5,
        "f1": 0.6666666666666666,
        "matthews_correlation": 0.0,
        "runtime": 0.014,
        "samples_per_second": 858.799,
        "steps_per_second": 71.567,
        "per_class": {
            "negative": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 6},
            "positive": {"precision": 0.5, "recall": 1.0, "f1": 0.6666666666666666, "support": 6},
        },
        "confusion_matrix": {"labels": ["negative", "positive"], "rows_true_columns_predicted": [[0, 6], [0, 6]]},
    },
    "primary_metric": {"name": "accuracy", "greater_is_better": True},
    "truncated": {"train": 0, "validation": 0},
    "best": {
        "metric": "accuracy",
        "greater_is_better": True,
        "value": 0.5,
        "step": 4,
        "epoch": 1.0,
        "published": "last",
    },
    "stopped_early": False,
    "eval_history": [{"step": 4, "epoch": 1.0, "loss": 0.6931466460227966, "accuracy": 0.5, "f1": 0.6666666666666666}],
    "seconds": 2.0,
    "pictures": [],
}


@pytest.fixture(scope="module")
def sst2(tmp_path_factory):
    rng = random.Random(5)
    folder = tmp_path_factory.mktemp("glue") / "SST-2"
    folder.mkdir()
    for name, n in (("train.tsv", 32), ("dev.tsv", 12)):
        write_tsv(folder / name, ["sentence", "label"], [[sentence(rng, i % 2), str(i % 2)] for i in range(n)])
    return folder


@pytest.fixture(scope="module")
def format_1_run(tiny_model, sst2, tmp_path_factory):
    """A sentiment run folder as taskrun wrote it before `format_version`: the tiny model with a
    classification head, its tokenizer, and the two JSON files of that format."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tmp_path_factory.mktemp("format-1") / "run"
    labels = {0: "negative", 1: "positive"}
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_model, num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    (folder / "README.md").write_text("# sentiment, fine-tuned with taskrun\n", encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(FORMAT_1_METRICS, indent=2), encoding="utf-8")
    record = format_1_record(folder, tiny_model, sst2)
    (folder / "run_config.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return folder


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], obj=make_manager(plugins=[]))


def test_a_format_1_record_is_read_and_upgraded(format_1_run, sst2, tiny_model):
    original = format_1_record(format_1_run, tiny_model, sst2)
    record = RunRecord.from_dict(original)
    assert record.format_version == 1 and record.task == "sentiment"
    assert record.eval_batch_size == 16  # inferred as the run's evaluation chose it: twice the training batch
    upgraded = record.to_dict()
    assert upgraded == {"format_version": FORMAT_VERSION, **original, "eval_batch_size": 16}
    assert [key for key in upgraded if key in original] == list(original)  # the same order
    assert RunRecord.from_dict(upgraded).to_dict() == upgraded
    metrics = MetricsRecord.from_dict(FORMAT_1_METRICS)
    assert metrics.to_dict() == FORMAT_1_METRICS and list(metrics.to_dict()) == list(FORMAT_1_METRICS)
    assert metrics.primary == ("accuracy", True) and metrics.total_seconds == 2.0


def test_entries_unknown_or_missing_are_tolerated():
    record = RunRecord.from_dict({"task": "t", "from_the_future": 1, "labels": "not a list", "format_version": 9})
    assert record.labels == [] and record.text_inputs == ["text"] and record.family == "sequence-classification"
    assert record.format_version == 9 and record.to_dict()["from_the_future"] == 1
    assert record.files is None and "files" not in record.to_dict()  # not recorded: --overwrite replaces nothing
    metrics = MetricsRecord.from_dict({"eval": {"loss": 0.5, "f1": 0.75}, "train": {"runtime": 3.0}, "x": [1]})
    assert metrics.to_dict() == {"train": {"runtime": 3.0}, "eval": {"loss": 0.5, "f1": 0.75}, "x": [1]}
    assert metrics.primary == ("f1", True) and metrics.total_seconds == 3.0


def test_a_format_1_run_predicts(format_1_run, tmp_path):
    texts = ["the movie was good", "the plot was awful"]
    out = tmp_path / "p.jsonl"
    result = invoke("predict", format_1_run, *texts, "--output", out)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["text"] for row in rows] == texts and {row["label"] for row in rows} <= {"negative", "positive"}
    from transformers import pipeline

    theirs = pipeline("text-classification", model=str(format_1_run), device="cpu")(texts)
    assert [row["label"] for row in rows] == [row["label"] for row in theirs]


def test_a_format_1_run_evaluates_with_its_evaluation_batch_size(format_1_run, sst2, tmp_path):
    loaded = inference.load_run(format_1_run, device="cpu", manager=make_manager(plugins=[]))
    assert loaded.run_record.format_version == 1 and loaded.eval_batch_size == 16
    assert loaded.record["eval_batch_size"] == 16 and loaded.pair is False  # what a family reads
    out = tmp_path / "eval.json"
    result = invoke("eval", format_1_run, "sentiment", "--data-dir", sst2, "--output", out)
    assert result.exit_code == 0, result.output
    assert f"taskrun: {format_1_run} on sentiment validation (12 examples): loss" in result.stdout
    assert json.loads(out.read_text())["samples"] == 12


def test_a_new_run_writes_the_current_format_and_compares_with_a_format_1_run(format_1_run, sst2, tiny_model, tmp_path):
    new = tmp_path / "new"
    outcome = run_task(
        "sentiment",
        *("--data-dir", sst2, "--no-pictures", "--save-every", "none", "--seed", "7"),
        model=tiny_model,
        plugins=[],
        output_dir=new,
    )
    assert outcome.exit_code == 0, outcome.output + outcome.stderr
    written = json.loads((new / "run_config.json").read_text())
    assert next(iter(written)) == "format_version" and written["format_version"] == FORMAT_VERSION
    assert written["eval_batch_size"] == 16 and read_run_config(new).eval_batch_size == 16
    old = shutil.copytree(format_1_run, tmp_path / "old")
    result = invoke("compare", old, new, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [row["run"] for row in data["runs"]] == ["old", "new"]
    differing = set(data["differing_settings"])
    assert "seed" in differing and not {"format_version", "eval_batch_size"} & differing
    assert data["runs"][0]["metrics"]["accuracy"] == 0.5 and data["runs"][0]["seconds"] == 2.0
