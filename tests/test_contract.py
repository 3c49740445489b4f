"""The plugin contract (v1): hooks reach only their task's owner, registration goes through pluggy,
the run's settings are frozen, a TaskSpec refuses mistakes, no plugin mistake is silent, and
callables a plugin hands back are its own when they fail."""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from conftest import assert_finished_run
from taskrun import TaskOption, TaskSpec, hookimpl
from taskrun.errors import PluginError
from taskrun.task import RunConfig, TaskSpecError
from taskrun.testing import run_task

FAST = ("--epochs", "1", "--batch-size", "8", "--precision", "fp32")
ROOT = Path(__file__).resolve().parents[1]


class Sloppy:
    """A plugin with a task of its own whose stage hooks forget to check the task name."""

    def __init__(self):
        self.asked: list[tuple[str, str]] = []

    @hookimpl
    def taskrun_register_tasks(self, register):
        register(TaskSpec(name="sloppy", labels=("a", "b")))

    @hookimpl(tryfirst=True)
    def taskrun_load_dataset(self, task, config):
        self.asked.append(("load_dataset", task.name))
        import datasets

        features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])})
        split = datasets.Dataset.from_dict({"text": ["the plot was good"] * 4, "label": [0, 1] * 2}, features=features)
        return datasets.DatasetDict(train=split, validation=split)

    @hookimpl(tryfirst=True)
    def taskrun_metrics(self, task, predictions, references, label_names):
        self.asked.append(("metrics", task.name))
        return {"accuracy": 0.0}


def test_a_sloppy_plugin_cannot_take_over_other_tasks(manager, cli, run_reviews, tiny_model, mrpc_dir, tmp_path):
    sloppy = Sloppy()
    manager.register(sloppy, name="sloppy")
    mrpc = cli("run", "mrpc", "--model", tiny_model, "--data-dir", mrpc_dir, "--output-dir", tmp_path / "m", *FAST)
    assert mrpc.exit_code == 0, mrpc.output
    metrics = assert_finished_run(tmp_path / "m", ["not_equivalent", "equivalent"], [{"text": "a", "text_pair": "b"}])
    assert metrics["train"]["samples"] == 40 and metrics["eval"]["accuracy"] > 0  # the real data, the real metric
    csv = run_reviews(tmp_path / "c")
    assert csv.exit_code == 0, csv.output
    assert_finished_run(tmp_path / "c", ["five", "one", "three"], ["the film was good"])
    assert sloppy.asked == []  # never asked about a task it does not own
    own = cli("run", "sloppy", "--model", tiny_model, "--output-dir", tmp_path / "s", *FAST)
    assert own.exit_code == 0, own.output
    assert ("load_dataset", "sloppy") in sloppy.asked and ("metrics", "sloppy") in sloppy.asked


class PadToEight:
    """Declares that it changes the collator of every task (not only its own)."""

    TASKRUN_FOR_ALL_TASKS = ("taskrun_data_collator",)

    def __init__(self):
        self.batches = 0

    @hookimpl(tryfirst=True)
    def taskrun_data_collator(self, task, config, tokenizer):
        from transformers import DataCollatorWithPadding

        padding = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)

        def collate(examples):
            self.batches += 1
            batch = padding(examples)
            assert batch["input_ids"].shape[1] % 8 == 0
            return batch

        return collate


def test_a_declared_stage_reaches_every_task_and_info_shows_it(manager, cli, tiny_model, sst2_dir, tmp_path):
    plugin = PadToEight()
    manager.register(plugin, name="pad-to-eight")
    info = cli("info", "sentiment")
    assert "also changed by  plugin pad-to-eight (data_collator), which declares it for every task" in info.stdout
    result = cli(
        "run", "sentiment", "--model", tiny_model, "--data-dir", sst2_dir, "--output-dir", tmp_path / "r", *FAST
    )
    assert result.exit_code == 0, result.output
    assert plugin.batches > 0
    assert manager.stage_plugins(manager.task("sentiment"), "taskrun_data_collator") == [
        "pad-to-eight",
        "taskrun-defaults",
    ]
    listed = cli("list", "--plugins")
    assert "data_collator (all tasks)" in listed.stdout


def test_a_declaration_must_name_implemented_stage_hooks(manager):
    class Wrong:
        TASKRUN_FOR_ALL_TASKS = ("taskrun_model",)

        @hookimpl
        def taskrun_data_collator(self, task, config, tokenizer):
            return None

    with pytest.raises(PluginError, match="names 'taskrun_model', which the plugin does not implement"):
        manager.register(Wrong(), name="wrong")


def test_a_plugin_with_stage_hooks_and_no_task_is_told_what_to_change(manager, cli):
    class Orphan:  # taskrun 0.1 style: changes every task's collator without saying so
        @hookimpl
        def taskrun_data_collator(self, task, config, tokenizer):
            return None

    manager.register(Orphan(), name="orphan")
    listed = cli("list", "--plugins")
    assert "orphan: implements taskrun_data_collator but registers no task" in listed.stdout
    assert "TASKRUN_FOR_ALL_TASKS = ('taskrun_data_collator',)" in listed.stdout
    assert manager.pm.get_plugin("orphan") is None


def test_registration_goes_through_pluggy(manager, monkeypatch, capsys):
    class NoArguments:
        @hookimpl
        def taskrun_register_tasks(self):  # pluggy's argument subsetting: valid, registers nothing
            return None

    class Wrapped:
        def __init__(self):
            self.wrapped = 0

        @hookimpl(wrapper=True)
        def taskrun_register_tasks(self, register):
            self.wrapped += 1
            return (yield)

        @hookimpl
        def taskrun_register_tasks_impl(self, register):  # pragma: no cover - never a hook
            pass

    manager.register(NoArguments(), name="no-arguments")
    assert "no-arguments" not in manager.broken and manager.tasks()
    wrapped = Wrapped()
    with pytest.raises(PluginError, match="taskrun_register_tasks_impl"):  # pluggy: an unknown hook is an error
        manager.register(wrapped, name="wrapped-typo")
    del Wrapped.taskrun_register_tasks_impl
    wrapped = Wrapped()
    manager.register(wrapped, name="wrapped")
    manager.tasks()
    assert wrapped.wrapped == 1  # its own wrapper ran around its registration


@pytest.mark.slow
def test_the_trace_names_every_hook_call_and_the_plugin_that_answered(tmp_path, tiny_model, sst2_dir):
    script = textwrap.dedent(f"""
        import sys
        from taskrun.testing import run_task
        result = run_task("sentiment", "--data-dir", {str(sst2_dir)!r}, "--max-train-samples", "8",
                          model={str(tiny_model)!r}, output_dir={str(tmp_path / "out")!r}, plugins=[])
        sys.stderr.write(result.stderr)
        assert result.exit_code == 0
    """)
    env = {**os.environ, "TASKRUN_TRACE_HOOKS": "1", "HF_HUB_OFFLINE": "1", "TASKRUN_CACHE_DIR": str(tmp_path / "c")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "taskrun_register_tasks" in done.stderr
    assert "taskrun_load_dataset for task 'sentiment' answered by plugin 'sentiment'" in done.stderr
    assert "taskrun_model for task 'sentiment' answered by plugin 'taskrun-defaults'" in done.stderr


def test_the_run_config_is_frozen_for_every_hook(manager, cli, tiny_model, tmp_path):
    config = RunConfig(task="t", model="m", output_dir=Path("o"), task_options={"rows": 3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_length = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.task_options["rows"] = 4  # type: ignore[index]
    assert pickle.loads(pickle.dumps(config)) == config  # still travels to worker processes

    class Meddler:
        @hookimpl
        def taskrun_register_tasks(self, register):
            register(TaskSpec(name="meddle"))

        @hookimpl
        def taskrun_load_dataset(self, task, config):
            config.max_length = 8

    manager.register(Meddler(), name="meddler")
    result = cli("run", "meddle", "--model", tiny_model, "--output-dir", tmp_path / "o", *FAST)
    assert result.exit_code == 4
    assert "plugin 'meddler' failed in taskrun_load_dataset for task 'meddle': FrozenInstanceError" in result.stderr


def test_the_chosen_problem_type_is_in_the_config(manager, cli, tiny_model, tmp_path):
    seen = []

    class Either:
        @hookimpl
        def taskrun_register_tasks(self, register):
            register(TaskSpec(name="either", problem_types=("single-label", "regression")))

        @hookimpl
        def taskrun_load_dataset(self, task, config):
            seen.append((config.problem_type, task.problem_type))
            import datasets

            split = datasets.Dataset.from_dict({"text": ["good film", "bad film"] * 4, "label": [1.0, 0.0] * 4})
            return datasets.DatasetDict(train=split, validation=split)

    manager.register(Either(), name="either")
    result = cli(
        "run", "either", "--problem", "regression", "--model", tiny_model, "--output-dir", tmp_path / "o", *FAST
    )
    assert result.exit_code == 0, result.output
    assert seen == [("regression", "regression")]
    assert manager.task("either").problem_type == "single-label"  # the task's default is unchanged


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hyperparameters": {"epoch": 3}}, "unknown key 'epoch' (did you mean 'epochs'?)"),
        ({"hyperparameters": {"lr": 1e-4}}, "unknown key 'lr' (did you mean 'learning_rate'?)"),
        ({"hyperparameters": {"batch_size": 8.5}}, "batch_size must be a whole number of at least 1, not 8.5"),
        ({"hyperparameters": {"freeze_embeddings": "yes"}}, "freeze_embeddings must be true or false"),
        ({"hyperparameters": {"epochs": 0}}, "epochs must be a number above 0, not 0"),
        ({"metrics": ("accuracy", "F1")}, "metrics: 'F1' is not a metric name"),
        ({"metrics": ("accuracy",), "primary_metric": "acuracy"}, "(did you mean 'accuracy'?)"),
        ({"problem_type": "binary"}, "problem_type must be one of single-label, multi-label, regression"),
        ({"text_columns": "text"}, "text_columns must be a tuple of strings"),
        ({"labels": ("a", "a")}, "labels must be distinct"),
        ({"options": (TaskOption("--rows", "n"), TaskOption("--rows", "again"))}, "two options share a name"),
        ({"greater_is_better": "yes"}, "greater_is_better must be True, False or None"),
    ],
)
def test_a_task_spec_refuses_mistakes_naming_the_field(fields, message):
    with pytest.raises(TaskSpecError) as error:
        TaskSpec(name="typo-task", **fields)
    assert message in str(error.value) and "task 'typo-task'" in str(error.value)


def test_a_mistake_at_registration_makes_the_plugin_broken_naming_plugin_and_field(manager, cli):
    class Typo:
        @hookimpl
        def taskrun_register_tasks(self, register):
            register(TaskSpec(name="typo-task", hyperparameters={"epoch": 3}))

    manager.register(Typo(), name="typo-plugin")
    listed = cli("list", "--plugins")
    assert (
        "typo-plugin: raised in taskrun_register_tasks: TaskSpecError: task 'typo-task': hyperparameters: "
        "unknown key 'epoch' (did you mean 'epochs'?)" in listed.stdout
    )
    assert "typo-task" not in manager.tasks()
    assert cli("run", "typo-task", "--help").exit_code == 2


def test_task_option_names_and_types_are_checked():
    with pytest.raises(TaskSpecError, match="--some-option"):
        TaskOption("rows", "no dashes")
    with pytest.raises(TaskSpecError, match="type must be"):
        TaskOption("--rows", "n", type=list)


def test_metrics_names_primary_and_direction_are_separate_from_display_text():
    task = TaskSpec(name="scored", metrics=("rmse", "pearson"), metrics_help="rmse in stars")
    assert task.primary(["rmse", "pearson", "mse"]) == ("rmse", False)  # an error: lower is better
    assert TaskSpec(name="x").primary(["accuracy", "f1"]) == ("accuracy", True)
    assert TaskSpec(name="x", primary_metric="f1").primary(["accuracy", "f1"]) == ("f1", True)
    assert TaskSpec(name="x", primary_metric="margin", greater_is_better=False).primary(["margin"]) == ("margin", False)
    with pytest.warns(DeprecationWarning, match="metrics_help"):
        legacy = TaskSpec(name="old", metrics=("accuracy", "micro_f1 (multi-label)"))
    assert legacy.metrics == ("accuracy",) and legacy.metrics_help == "micro_f1 (multi-label)"


def test_a_module_level_hook_without_hookimpl_makes_the_plugin_broken(manager, cli):
    module = types.ModuleType("forgetful")

    def taskrun_register_tasks(register):
        register(TaskSpec(name="forgotten"))

    module.taskrun_register_tasks = taskrun_register_tasks
    with pytest.raises(PluginError, match="defines taskrun_register_tasks without @hookimpl"):
        manager.register(module, name="forgetful")
    assert "forgetful" in manager.broken and "forgotten" not in manager.tasks()


def test_an_unknown_name_in_taskrun_plugins_warns_naming_the_installed_ones(monkeypatch, caplog):
    from taskrun.manager import build_manager

    monkeypatch.setenv("TASKRUN_PLUGINS", "no-such-plugin")
    with caplog.at_level(logging.WARNING, logger="taskrun"):
        build_manager()
    assert "TASKRUN_PLUGINS names 'no-such-plugin', which is no installed plugin (installed:" in caplog.text


def test_duplicate_task_names_show_in_list_plugins_and_are_fatal_when_strict(manager, cli, monkeypatch):
    class Impostor:
        @hookimpl
        def taskrun_register_tasks(self, register):
            register(TaskSpec(name="mrpc"))

    manager.register(Impostor(), name="impostor")
    listed = cli("list", "--plugins")
    assert "Task names registered by more than one plugin" in listed.stdout
    assert "mrpc: glue-mrpc, impostor" in listed.stdout
    monkeypatch.setenv("TASKRUN_STRICT_PLUGINS", "1")
    manager._providers = None  # ask the plugins again, now strictly
    strict = cli("list")
    assert strict.exit_code == 4 and "task 'mrpc' is registered by more than one plugin" in strict.stderr


class FlakyCollator:
    """A task whose collator (a callable the hook returns) fails in the second epoch."""

    @hookimpl
    def taskrun_register_tasks(self, register):
        register(TaskSpec(name="flaky", labels=("a", "b")))

    @hookimpl
    def taskrun_load_dataset(self, task, config):
        import datasets

        features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])})
        split = datasets.Dataset.from_dict(
            {"text": ["good film", "bad film"] * 8, "label": [0, 1] * 8}, features=features
        )
        return datasets.DatasetDict(train=split, validation=split)

    @hookimpl
    def taskrun_data_collator(self, task, config, tokenizer):
        from transformers import DataCollatorWithPadding

        padding, calls = DataCollatorWithPadding(tokenizer), []

        def collate(examples):
            calls.append(1)
            if len(calls) > 5:  # 2 training + 1 evaluation batches an epoch
                raise KeyError("no column 'text_b'")
            return padding(examples)

        return collate


def test_a_failing_callable_from_a_plugin_is_its_error_with_the_resume_hint(tiny_model, tmp_path):
    result = run_task(
        "flaky",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--precision",
        "fp32",
        model=tiny_model,
        output_dir=tmp_path / "o",
        plugins=[FlakyCollator()],
    )
    assert result.exit_code == 4, result.stderr
    assert result.error is not None
    assert result.error.startswith(
        "plugin 'FlakyCollator' failed in taskrun_data_collator (the callable it returned) for task 'flaky': "
        "KeyError: \"no column 'text_b'\""
    )
    assert "--resume auto continues" in result.error  # epoch 1's checkpoint is complete
    assert (tmp_path / "o" / "checkpoints" / "checkpoint-2").is_dir()


def test_a_plugin_model_that_fails_in_training_is_the_plugins_error(tiny_model, tmp_path):
    class BrokenHead:
        @hookimpl
        def taskrun_register_tasks(self, register):
            register(TaskSpec(name="broken-head", labels=("a", "b")))

        @hookimpl
        def taskrun_load_dataset(self, task, config):
            return FlakyCollator().taskrun_load_dataset(task, config)

        @hookimpl
        def taskrun_model(self, task, config, label_names):
            from transformers import AutoModelForSequenceClassification

            model = AutoModelForSequenceClassification.from_pretrained(config.model_path, num_labels=2)

            def forward(input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
                raise RuntimeError("head misconfigured")

            model.forward = forward
            return model

    result = run_task("broken-head", model=tiny_model, output_dir=tmp_path / "o", plugins=[BrokenHead()])
    assert result.exit_code == 4
    assert result.error.startswith(
        "plugin 'BrokenHead' failed in taskrun_model (the model's forward) for task "
        "'broken-head': RuntimeError: head misconfigured"
    )
    assert not (tmp_path / "o").exists()


PROGRESS_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_contract import FlakyCollator
from taskrun.cli import main
from taskrun.testing import make_manager
main(["run", "flaky", "--model", {model!r}, "--output-dir", {out!r}, "--epochs", "3", "--batch-size", "8",
      "--precision", "fp32", "--save-every", "none"], obj=make_manager([FlakyCollator()]))
"""


@pytest.mark.slow
def test_the_error_line_is_not_overwritten_by_a_progress_bar(tiny_model, tmp_path):
    script = PROGRESS_SCRIPT.format(tests=str(ROOT / "tests"), model=str(tiny_model), out=str(tmp_path / "o"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TASKRUN_CACHE_DIR": str(tmp_path / "c"), "TASKRUN_PLUGINS": "none"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 4, done.stderr[-3000:]
    error_at = done.stderr.rindex("Error: plugin 'FlakyCollator' failed")
    assert "\r" not in done.stderr[error_at:]  # nothing redraws over it
    assert done.stderr[error_at - 1] == "\n"  # it starts its own line


class OwnStages:
    """A task plugin that answers preprocess, collator and postprocess itself."""

    def __init__(self):
        self.used: set[str] = set()

    @hookimpl
    def taskrun_register_tasks(self, register):
        register(TaskSpec(name="own-stages", labels=("a", "b")))

    @hookimpl
    def taskrun_load_dataset(self, task, config):
        return FlakyCollator().taskrun_load_dataset(task, config)

    @hookimpl
    def taskrun_preprocess(self, task, config, dataset, tokenizer):
        self.used.add("preprocess")

        def encode(batch):
            return tokenizer([text.upper().lower() for text in batch["text"]], truncation=True, max_length=16)

        return dataset.map(encode, batched=True, remove_columns=["text"]).rename_column("label", "labels")

    @hookimpl
    def taskrun_data_collator(self, task, config, tokenizer):
        from transformers import DataCollatorWithPadding

        self.used.add("collator")
        return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=4)

    @hookimpl
    def taskrun_postprocess(self, task, config, logits):
        import numpy as np
        from taskrun import Predictions

        self.used.add("postprocess")
        return Predictions(label_ids=np.zeros(len(logits), dtype=int), scores=np.full(logits.shape, 0.5))


def test_a_plugin_answers_preprocess_collator_and_postprocess(tiny_model, tmp_path):
    plugin = OwnStages()
    result = run_task("own-stages", model=tiny_model, output_dir=tmp_path / "o", plugins=[plugin])
    assert result.exit_code == 0, result.stderr
    assert plugin.used == {"preprocess", "collator", "postprocess"}
    assert result.metrics["eval"]["accuracy"] == 0.5  # its postprocess always says "a"
    assert not any("truncated" in key for key in result.metrics["truncated"])


def test_a_plugin_written_for_taskrun_0_1_still_loads_and_runs(tiny_model, tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "legacy"))
    try:
        import taskrun_legacy_reviews as legacy
    finally:
        sys.path.pop(0)
    data = tmp_path / "data"
    data.mkdir()
    rows = "".join(f"the film was {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}\n" for i in range(12))
    (data / "train.csv").write_text("text,label\n" + rows)
    (data / "dev.csv").write_text("text,label\n" + rows)
    result = run_task(
        "legacy-reviews", "--data-dir", data, model=tiny_model, output_dir=tmp_path / "o", plugins=[legacy]
    )
    assert result.exit_code == 0, result.stderr
    assert result.labels == ["neg", "pos"]
    # told what to change, and still working
    assert "taskrun: warning: plugin 'taskrun_legacy_reviews': taskrun.metrics.Accuracy is deprecated" in result.stderr
    assert 0 <= result.metrics["eval"]["accuracy"] <= 1


@pytest.mark.slow
def test_using_a_finished_run_imports_no_training_code():
    code = (
        "import sys, taskrun.inference, taskrun.scoring\n"
        "loaded = [m for m in ('taskrun.runner', 'taskrun.training', 'taskrun.cache', 'transformers.trainer') "
        "if m in sys.modules]\n"
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
