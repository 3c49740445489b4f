"""`taskrun export RUN --format onnx`: the exported folder answers as the run does (labels equal,
scores within 1e-4) through `taskrun predict` and `taskrun eval`, for both built-in families;
int8 weights are checked against their own bar; an export that fails its parity check, a missing
extra, an output folder in the way and data that moved are refused by name, writing nothing."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import copy_run, invoke_offline
from test_token_classification import NAMES, tagged_sentence, write_conll

pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install 'taskrun[onnx]'")
TEXTS = ["the movie was lovely really", "the plot was awful quite", "it was fine , i think"]


@pytest.fixture(scope="module")
def exported(finished_reviews, tmp_path_factory):
    """The shared reviews run, exported once (fp32)."""
    folder = tmp_path_factory.mktemp("export") / "onnx"
    result = invoke_offline(["export", finished_reviews.output, "--output", folder], folder.parent / "cache")
    assert result.exit_code == 0, result.output + result.stderr
    return folder, result


def predictions(cli, folder: Path, tmp_path: Path, name: str) -> list[dict]:
    output = tmp_path / f"{name}.jsonl"
    result = cli("predict", folder, *TEXTS, "--all-scores", "--output", output)
    assert result.exit_code == 0, result.output + result.stderr
    return [json.loads(line) for line in output.read_text().splitlines()]


def test_an_fp32_export_predicts_the_runs_labels_and_scores(exported, finished_reviews, cli, tmp_path):
    folder, result = exported
    assert "labels agree 100.00%" in result.output
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        json.loads((folder / "run_config.json").read_text())["files"]
    )
    assert {"model.onnx", "export.json", "config.json", "tokenizer.json", "metrics.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert not (folder / "model.safetensors").exists()
    record = json.loads((folder / "export.json").read_text())
    assert record["weights"] == "fp32" and record["parity"]["label_agreement"] == 1.0
    assert record["parity"]["largest_score_difference"] <= 1e-4
    ours, theirs = (predictions(cli, f, tmp_path, n) for f, n in ((folder, "onnx"), (finished_reviews.output, "run")))
    assert [row["label"] for row in ours] == [row["label"] for row in theirs]
    for mine, reference in zip(ours, theirs):
        for key in (k for k in reference if k.startswith("score")):
            assert mine[key] == pytest.approx(reference[key], abs=1e-4)


def test_eval_of_an_export_gives_the_runs_figures(exported, finished_reviews, cli, tmp_path):
    folder, _ = exported
    scores = {}
    for name, run in (("onnx", folder), ("run", finished_reviews.output)):
        result = cli("eval", run, "custom-csv", "--output", tmp_path / f"{name}.json")
        assert result.exit_code == 0, result.output + result.stderr
        scores[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert scores["onnx"]["precision"] == "onnx fp32"
    for key in ("accuracy", "macro_f1", "loss"):
        assert scores["onnx"][key] == pytest.approx(scores["run"][key], abs=1e-4), key


def test_an_export_from_python_checks_parity_on_fewer_examples(finished_reviews, tmp_path):
    import taskrun

    result = taskrun.export(finished_reviews.output, tmp_path / "onnx", max_eval_samples=4, plugins=[])
    assert isinstance(result, taskrun.ExportResult)
    assert result.record["parity"]["examples"] == 4
    assert taskrun.predict(tmp_path / "onnx", TEXTS[0], plugins=[])[0]["label"] in ("one", "three", "five")


def test_int8_weights_are_smaller_and_said_wherever_the_export_scores(finished_reviews, cli, tmp_path, monkeypatch):
    """The tiny model's near-even scores flip under int8, so its bar is lowered here; the bar
    itself is tested below, and met by a real model in docs/benchmarks.md."""
    from taskrun import onnx_export as export

    monkeypatch.setattr(export, "INT8_AGREEMENT", 0.0)
    monkeypatch.setattr(export, "INT8_METRIC_MOVE", 1.0)
    result = cli("export", finished_reviews.output, "--output", tmp_path / "int8", "--quantize", "int8")
    assert result.exit_code == 0, result.output + result.stderr
    assert "int8 weights" in result.output
    assert json.loads((tmp_path / "int8" / "export.json").read_text())["weights"] == "int8"
    import onnx

    graph = onnx.load(str(tmp_path / "int8" / "model.onnx")).graph
    assert any(node.op_type in ("MatMulInteger", "DynamicQuantizeLinear") for node in graph.node)
    scored = cli("eval", tmp_path / "int8", "custom-csv", "--output", tmp_path / "int8.json")
    assert scored.exit_code == 0, scored.output + scored.stderr
    assert json.loads((tmp_path / "int8.json").read_text())["precision"] == "onnx int8"


@pytest.mark.parametrize(
    "bar, value, options, said",
    [
        ("SCORE_TOLERANCE", -1.0, (), "a score differs by"),
        ("INT8_AGREEMENT", 1.01, ("--quantize", "int8"), "labels agree on"),
    ],
    ids=["fp32-scores", "int8-labels"],
)
def test_an_export_that_fails_its_parity_check_is_refused_showing_the_figures(
    finished_reviews, cli, tmp_path, monkeypatch, bar, value, options, said
):
    from taskrun import onnx_export as export

    monkeypatch.setattr(export, bar, value)
    result = cli("export", finished_reviews.output, "--output", tmp_path / "out", *options)
    assert result.exit_code == 8, result.output + result.stderr
    assert "fails the parity check on" in result.stderr and said in result.stderr
    assert "in PyTorch" in result.stderr and "Nothing was written" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no folder, no staging, no lock


def test_an_export_without_the_onnx_extra_is_refused_naming_it(finished_reviews, cli, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    result = cli("export", finished_reviews.output, "--output", tmp_path / "out")
    assert result.exit_code == 2
    assert "needs onnxruntime, which is not installed" in result.stderr and "taskrun[onnx]" in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_export_does_not_replace_a_folder_unless_told(exported, finished_reviews, cli, tmp_path):
    folder = copy_run(exported[0], tmp_path / "onnx")
    refused = cli("export", finished_reviews.output, "--output", folder)
    assert refused.exit_code == 2 and "--overwrite" in refused.stderr
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("mine")
    foreign = cli("export", finished_reviews.output, "--output", tmp_path / "notes", "--overwrite")
    assert foreign.exit_code == 2 and (tmp_path / "notes" / "mine.txt").read_text() == "mine"
    replaced = cli("export", finished_reviews.output, "--output", folder, "--overwrite", "--max-eval-samples", "4")
    assert replaced.exit_code == 0, replaced.output + replaced.stderr
    assert json.loads((folder / "export.json").read_text())["parity"]["examples"] == 4


def test_an_export_whose_data_moved_names_it_and_writes_nothing(finished_reviews, cli, tmp_path):
    run = copy_run(finished_reviews.output, tmp_path / "run")
    record = json.loads((run / "run_config.json").read_text())
    record["task_options"]["train"] = str(tmp_path / "gone.csv")
    (run / "run_config.json").write_text(json.dumps(record))
    result = cli("export", run, "--output", tmp_path / "onnx")
    assert result.exit_code == 2, result.output + result.stderr
    assert "the parity check scores the run on its validation split" in result.stderr and "gone.csv" in result.stderr
    assert not (tmp_path / "onnx").exists()


def test_an_export_is_not_exported_again(exported, cli, tmp_path):
    result = cli("export", exported[0], "--output", tmp_path / "again")
    assert result.exit_code == 2 and "is an export already" in result.stderr


def test_a_token_run_trained_in_bf16_exports_and_finds_the_runs_entities(cli, tiny_model, tmp_path):
    """The export is fp32: its parity check, and what it answers, match the run's own weights
    computed in fp32, not the bf16 autocast the run trained and evaluated in."""
    rng = random.Random(5)
    train = write_conll(tmp_path / "train.conll", [tagged_sentence(rng, NAMES) for _ in range(96)])
    dev = write_conll(tmp_path / "dev.conll", [tagged_sentence(rng, NAMES) for _ in range(8)])
    # as test_token_classification's shared run: enough steps to find entities
    options = ("--train", train, "--validation", dev, "--epochs", "5", "--batch-size", "16", "--no-pictures")
    trained = cli(
        "run", "ner", "--model", tiny_model, *options, "--learning-rate", "8e-3", "--precision", "bf16",
        "--output-dir", tmp_path / "ner",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output + trained.stderr
    assert json.loads((tmp_path / "ner" / "run_config.json").read_text())["precision_used"] == "bf16"
    result = cli("export", tmp_path / "ner", "--output", tmp_path / "onnx")
    assert result.exit_code == 0, result.output + result.stderr
    assert json.loads((tmp_path / "onnx" / "export.json").read_text())["parity"]["largest_score_difference"] <= 1e-4
    texts = ["he met john smith in paris today", "shares of acme rose in berlin"]
    answers = {}
    for name in ("ner", "onnx"):
        done = cli("predict", tmp_path / name, *texts, "--precision", "fp32", "--output", tmp_path / f"{name}.jsonl")
        assert done.exit_code == 0, done.output + done.stderr
        answers[name] = [json.loads(line)["entities"] for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    assert any(answers["ner"]), answers  # entities found, so that the comparison below says something
    assert [[(e["type"], e["start"], e["end"]) for e in row] for row in answers["onnx"]] == [
        [(e["type"], e["start"], e["end"]) for e in row] for row in answers["ner"]
    ]
    scores = {}
    for name in ("ner", "onnx"):
        done = cli("eval", tmp_path / name, "ner", "--precision", "fp32", "--output", tmp_path / f"{name}.json")
        assert done.exit_code == 0, done.output + done.stderr
        scores[name] = json.loads((tmp_path / f"{name}.json").read_text())
    for key in ("loss", "f1", "accuracy"):
        assert scores["onnx"][key] == pytest.approx(scores["ner"][key], abs=1e-4), key
