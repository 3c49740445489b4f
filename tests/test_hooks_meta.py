"""The hooks as a run uses them: every hook is asked, a plugin that declines (None) changes
nothing, and every stage hook's answer is the one the run goes on with.

(This file used to check each hookspec's docstring and annotations, and that the built-ins are
loaded from the table that loads them: restatements of the code, which test_plugin_guide's check
of the guide, the documentation plugin authors read, covers where it matters.)"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import taskrun
from taskrun import Predictions, TaskSpec, hookimpl, hookspecs

HOOK_NAMES = sorted(name for name in dir(hookspecs) if name.startswith("taskrun_"))
SCORES = ("loss", "accuracy", "macro_f1", "matthews_correlation", "per_class", "confusion_matrix")


def declining_plugin():
    """A plugin answering every hook of `hookspecs` with None, recording each call. It declares
    every stage for every task, since a task's hooks otherwise reach only the plugin that registered
    it. Made from the hookspecs, so that a hook added there is asked of it too."""
    source = "".join(
        f"    @hookimpl\n    def {name}(self, {', '.join(inspect.signature(getattr(hookspecs, name)).parameters)}):\n"
        f"        self.calls.add({name!r})\n"
        for name in HOOK_NAMES
    )
    scope = {"hookimpl": hookimpl}
    exec("class Declining:\n" + source, scope)
    plugin = scope["Declining"]()
    plugin.calls = set()
    plugin.TASKRUN_FOR_ALL_TASKS = hookspecs.STAGE_HOOKS
    return plugin


def test_a_plugin_that_declines_every_hook_is_asked_each_and_changes_nothing(
    manager, run_reviews, finished_reviews, tmp_path
):
    plugin = declining_plugin()
    manager.register(plugin, name="declining")
    assert manager.implemented_hooks("declining") == HOOK_NAMES
    result = run_reviews(tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert plugin.calls == set(HOOK_NAMES)  # a hook the run never asks would be a silent no-op for its authors
    # Every None fell through to the built-in answer: the same run, the same figures, as without the plugin.
    ours, theirs = (
        json.loads((folder / "metrics.json").read_text())["eval"]
        for folder in (tmp_path / "r", finished_reviews.output)
    )
    assert {key: ours[key] for key in SCORES} == {key: theirs[key] for key in SCORES}


class EveryHook:
    """A task whose plugin answers every hook with something the finished run shows."""

    def __init__(self):
        self.lengths: set[int] = set()
        self.label_counts: list[int] | None = None

    @hookimpl
    def taskrun_register_tasks(self, register):
        register(TaskSpec(name="every-hook", labels=("a", "b")))

    @hookimpl
    def taskrun_load_dataset(self, task, config):
        import datasets

        features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])})
        train = {"text": [f"the film was good number {i}" for i in range(12)], "label": [0, 1] * 6}
        validation = {"text": [f"the plot was fine number {i}" for i in range(6)], "label": [1, 1, 1, 1, 0, 0]}
        return datasets.DatasetDict(
            train=datasets.Dataset.from_dict(train, features=features),
            validation=datasets.Dataset.from_dict(validation, features=features),
        )

    @hookimpl
    def taskrun_preprocess(self, task, config, dataset, tokenizer):
        def encode(batch):  # 5 tokens at most: the default would keep the whole text
            return tokenizer(batch["text"], truncation=True, max_length=5)

        encoded = dataset.map(encode, batched=True, remove_columns=["text"])
        labelled = "label" in next(iter(encoded.values())).column_names  # none in what predict asks about
        return encoded.rename_column("label", "labels") if labelled else encoded

    @hookimpl
    def taskrun_data_collator(self, task, config, tokenizer):
        from transformers import DataCollatorWithPadding

        padding = DataCollatorWithPadding(tokenizer)

        def collate(examples):
            self.lengths.add(max(len(example["input_ids"]) for example in examples))
            return padding(examples)

        return collate

    @hookimpl
    def taskrun_model(self, task, config, label_names):
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(
            config.model_path,
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
        )
        model.config.every_hook = "the plugin's model"  # saved with the model, in config.json
        return model

    @hookimpl
    def taskrun_loss(self, task, config, label_counts):
        import torch

        self.label_counts = list(label_counts)

        def doubled(outputs, labels, num_items_in_batch=None):
            return 2 * torch.nn.functional.cross_entropy(outputs["logits"], labels)

        return doubled

    @hookimpl
    def taskrun_postprocess(self, task, config, logits):
        return Predictions(label_ids=np.ones(len(logits), dtype=int), scores=np.full(logits.shape, 0.5))  # always "b"

    @hookimpl
    def taskrun_metrics(self, task, predictions, references, label_names):
        return {"every_hook": 0.25}


def test_every_stage_hooks_answer_is_the_one_the_run_uses(cli, manager, tiny_model, tmp_path):
    plugin = EveryHook()
    manager.register(plugin, name="every-hook")
    out = tmp_path / "run"
    result = cli("run", "every-hook", "--model", tiny_model, "--output-dir", out, "--epochs", "1", "--batch-size", "8")
    assert result.exit_code == 0, result.output + result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    # taskrun_register_tasks and taskrun_load_dataset: the task ran on the plugin's 12 and 6 rows
    assert metrics["train"]["samples"] == 12 and metrics["eval"]["samples"] == 6
    # taskrun_preprocess and taskrun_data_collator: batches of the plugin's 5-token encoding, through its collator
    assert plugin.lengths == {5}
    # taskrun_model: the plugin's model is the one trained and saved
    assert json.loads((out / "config.json").read_text())["every_hook"] == "the plugin's model"
    # taskrun_loss: asked with the label counts, and the objective it returned is reported beside the model's own
    assert plugin.label_counts == [6, 6]
    assert metrics["eval"]["objective_loss"] == pytest.approx(2 * metrics["eval"]["loss"], rel=1e-5)
    # taskrun_postprocess: every prediction "b", so accuracy is the share of "b" in validation
    assert metrics["eval"]["accuracy"] == pytest.approx(4 / 6)
    # taskrun_metrics: merged over the defaults
    assert metrics["eval"]["every_hook"] == 0.25 and "matthews_correlation" in metrics["eval"]
    # predict goes through the same postprocess
    answers = taskrun.predict(out, ["the film was good", "the plot was awful"], plugins=[plugin])
    assert [answer["label"] for answer in answers] == ["b", "b"]


def test_an_installed_plugins_answer_comes_before_the_built_ins(manager):
    """Each built-in is registered before installed plugins, so that an installed plugin's answer
    to a shared hook comes first (pluggy calls the last registered first)."""

    class Installed:
        TASKRUN_FOR_ALL_TASKS = ("taskrun_data_collator",)

        @hookimpl
        def taskrun_data_collator(self, task, config, tokenizer):
            return "installed"

    manager.register(Installed(), name="installed")
    assert manager.tasks()
    for task in manager.tasks().values():
        assert manager.stages(task).data_collator(None, None) == ("installed", "installed")
