"""A run's README.md is a model card in the Hub's format, so that `hf upload USER/REPO RUN_DIR`
publishes the folder as it is.

`ModelCard.validate()` asks the Hub, which these tests cannot reach; instead each card is read
back the way the Hub and huggingface_hub read it: the Hub server's own YAML-block pattern
(`huggingface_hub.repocard.REGEX_YAML_BLOCK`), `yaml.safe_load`, the model-index parser
(`model_index_to_eval_results`, which raises on a missing required field), `ModelCard.load`
(which raises on metadata it cannot parse) and `validate_repo_id` for every Hub id.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard import REGEX_YAML_BLOCK
from huggingface_hub.repocard_data import model_index_to_eval_results
from huggingface_hub.utils import validate_repo_id
from taskrun.models import EMBEDDED_HUB_ID
from taskrun.record import hub_dataset, model_card
from taskrun.task import RunConfig, TaskSpec

FAST = ("--epochs", "1", "--batch-size", "8", "--precision", "fp32")


def hub_card(folder: Path) -> tuple[ModelCard, dict]:
    """The run's README.md checked as the Hub checks it; returns the card and its raw metadata."""
    text = (folder / "README.md").read_text(encoding="utf-8")
    block = REGEX_YAML_BLOCK.search(text)
    assert block is not None and block.start() == 0, "the metadata must open the file"
    raw = yaml.safe_load(block.group(2))
    assert isinstance(raw, dict)
    for repo_id in [raw.get("base_model"), *raw.get("datasets", [])]:
        if repo_id is not None:
            validate_repo_id(repo_id)
    model_name, results = model_index_to_eval_results(raw["model-index"])
    assert model_name == folder.name
    for metric in raw["model-index"][0]["results"][0]["metrics"]:
        assert type(metric["value"]) is float and math.isfinite(metric["value"]), metric
    card = ModelCard.load(folder / "README.md")  # raises on metadata it cannot parse
    assert card.data.eval_results == results
    assert "---" not in card.text.splitlines()[:2], "one metadata block, not two"
    return card, raw


def scores(card: ModelCard, dataset_type: str, dataset_config: str | None = None) -> dict[str, float]:
    """The card's validation scores by metric, every one a text-classification result on the
    validation split of `dataset_type`."""
    results = card.data.eval_results
    for result in results:
        assert (result.task_type, result.dataset_type, result.dataset_split) == (
            "text-classification",
            dataset_type,
            "validation",
        )
        assert result.dataset_config == dataset_config
    return {result.metric_type: result.metric_value for result in results}


def evaluation(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())["eval"]


def test_a_single_label_runs_card_has_the_hubs_metadata_and_the_text(finished_reviews, tiny_model):
    out = finished_reviews.output  # run_reviews into a folder named reviews-model
    card, raw = hub_card(out)

    assert card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "text-classification"
    assert card.data.tags == ["taskrun", "custom-csv", "single-label"]
    # The tiny model is a local folder: no Hub id to name, and a path would be refused by the Hub.
    assert card.data.base_model is None and "base_model" not in raw
    assert str(tiny_model) not in yaml.safe_dump(raw)
    assert card.data.datasets is None and card.data.license is None  # the user's own files; no known licence
    figures = evaluation(out)
    assert scores(card, "custom-csv") == {
        name: figures[name] for name in ("loss", "accuracy", "macro_f1", "matthews_correlation")
    }

    text = card.text
    assert f"| base model | `{tiny_model}` (a local model folder) |" in text
    assert "| labels | `five`, `one`, `three` |" in text
    assert "### Per class" in text and "| three |" in text
    assert f"| accuracy | {figures['accuracy']:.4f} |" in text
    assert "![confusion_matrix.png](confusion_matrix.png)" in text
    assert "![training_curves.png](training_curves.png)" in text
    assert f'pipeline("text-classification", model="{out}")' in text
    assert f"hf upload USER/REPO {out}" in text


def test_an_mrpc_card_names_the_glue_dataset_on_the_hub(finished_mrpc):
    out = finished_mrpc.output  # mrpc on an mrpc_dir folder, FAST
    card, raw = hub_card(out)

    assert raw["datasets"] == ["nyu-mll/glue"]
    assert card.data.tags == ["taskrun", "mrpc", "single-label"]
    figures = evaluation(out)
    assert scores(card, "nyu-mll/glue", "mrpc") == {
        name: figures[name] for name in ("loss", "accuracy", "f1", "matthews_correlation")
    }
    assert card.data.eval_results[0].dataset_name == "nyu-mll/glue (mrpc)"
    assert "[nyu-mll/glue](https://huggingface.co/datasets/nyu-mll/glue) (mrpc), a local copy from --data-dir" in (
        card.text
    )
    assert 'classifier({"text": "first sentence", "text_pair": "second sentence"})' in card.text


def test_a_regression_card_has_its_scores_and_no_per_class_table(cli, tiny_model, tmp_path):
    train = tmp_path / "scores.jsonl"
    rows = [("the movie was good", 4.5), ("the plot was bad", 1.0), ("the story was fine", 3.0)] * 6
    train.write_text("".join(json.dumps({"text": t, "score": s}) + "\n" for t, s in rows))
    out = tmp_path / "scores-model"
    result = cli(
        "run", "custom-csv", "--train", train, "--label-column", "score", "--problem", "regression",
        "--model", tiny_model, "--output-dir", out, *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    card, _ = hub_card(out)

    assert card.data.tags == ["taskrun", "custom-csv", "regression"]
    figures = evaluation(out)
    assert scores(card, "custom-csv") == {
        name: figures[name] for name in ("loss", "pearson", "spearman", "mse", "rmse")
    }
    assert "### Per class" not in card.text
    assert "| labels | one value (regression) |" in card.text


def test_a_card_rewritten_after_a_failed_picture_is_still_a_hub_card(cli, tiny_model, tmp_path, monkeypatch):
    """Multi-label, whose one picture fails: add_pictures writes the card again, without it."""
    import taskrun.plots

    def explode(*args, **kwargs):
        raise RuntimeError("no backend")

    monkeypatch.setattr(taskrun.plots, "training_curves_png", explode)
    train = tmp_path / "tags.csv"
    rows = [("the movie was good", "film;positive"), ("shares fell today", "market;negative")] * 8
    train.write_text("text,tags\n" + "".join(f"{t},{tags}\n" for t, tags in rows))
    out = tmp_path / "tags-model"
    result = cli(
        "run", "custom-csv", "--train", train, "--label-column", "tags", "--problem", "multi-label",
        "--model", tiny_model, "--output-dir", out, *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "training_curves.png could not be drawn (RuntimeError: no backend)" in result.stderr
    assert json.loads((out / "metrics.json").read_text())["pictures"] == []
    card, _ = hub_card(out)

    assert card.data.tags == ["taskrun", "custom-csv", "multi-label"]
    figures = evaluation(out)
    assert scores(card, "custom-csv") == {
        name: figures[name] for name in ("loss", "micro_f1", "macro_f1", "exact_match")
    }
    assert "![" not in card.text and "training_curves.png" not in card.text
    assert "### Per class" in card.text and "| market |" in card.text


METRICS = {"eval": {"split": "validation", "samples": 4, "loss": 0.5, "accuracy": 0.75}, "train": {"samples": 8}}


@pytest.mark.parametrize(
    ("model", "base_model"),
    [
        ("embedded", EMBEDDED_HUB_ID),
        ("bert-base-uncased", "bert-base-uncased"),
        ("google-bert/bert-base-cased", "google-bert/bert-base-cased"),
        ("models/bert", None),  # a local folder, although it looks like a Hub id
        ("/no/such/folder/bert", None),
    ],
)
def test_base_model_is_a_hub_id_never_a_path(model, base_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "bert").mkdir(parents=True)
    task = TaskSpec(name="t", description="a task", plugin="p")
    config = RunConfig(task="t", model=model, output_dir=tmp_path / "run")
    card = ModelCard(model_card(task, config, METRICS, ["a", "b"], ["text"]))
    assert card.data.base_model == base_model
    assert card.data.eval_results[0].metric_value == 0.5  # loss, then accuracy
    if base_model is not None:
        assert f"[{base_model}](https://huggingface.co/{base_model})" in card.text


def test_a_metric_that_is_not_a_number_stays_out_of_the_model_index(tmp_path):
    task = TaskSpec(name="t", problem_type="regression", plugin="p")
    config = RunConfig(task="t", model="bert-base-uncased", output_dir=tmp_path / "run")
    metrics = {"eval": {"samples": 4, "loss": 0.5, "pearson": float("nan")}, "train": {"samples": 8}}
    card = ModelCard(model_card(task, config, metrics, [], ["text"]))
    assert [r.metric_type for r in card.data.eval_results] == ["loss"]
    assert "| pearson | nan |" in card.text


def test_the_built_in_tasks_name_their_hub_datasets(manager):
    tasks = manager.tasks()
    assert hub_dataset(tasks["mrpc"]) == ("nyu-mll/glue", "mrpc")
    assert hub_dataset(tasks["sentiment"]) == ("nyu-mll/glue", "sst2")
    assert hub_dataset(tasks["custom-csv"]) is None


def test_the_documented_upload_command_is_the_hf_clis():
    """docs/runs.md says `hf upload USER/REPO RUN_DIR`: the installed `hf upload` takes the repo id,
    then the local folder, whose files then go to the repository's top level."""
    import inspect

    from huggingface_hub.cli.upload import upload

    assert list(inspect.signature(upload).parameters)[:3] == ["repo_id", "local_path", "path_in_repo"]
    docs = (Path(__file__).resolve().parents[1] / "docs" / "runs.md").read_text(encoding="utf-8")
    assert "\nhf upload USER/REPO runs/mrpc\n" in docs
