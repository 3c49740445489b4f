"""Plugins: a task added by a plugin registered in the test, conflicts, broken plugins, hook errors."""

from __future__ import annotations

import types

import pytest
from conftest import assert_finished_run
from taskrun import TaskOption, TaskSpec, hookimpl
from taskrun.errors import PluginError

FAST = ("--epochs", "1", "--batch-size", "8", "--precision", "fp32")


class TopicPlugin:
    """A third-party task defined inside the test: three topics from in-memory data."""

    labels = ("sports", "finance", "film")

    @hookimpl
    def taskrun_register_tasks(self, register):
        register(
            TaskSpec(
                name="topic",
                description="Topic of a headline.",
                labels=self.labels,
                default_model="embedded",
                hyperparameters={"epochs": 2},
                options=(TaskOption("--rows", "How many rows to make.", type=int, default=30),),
            )
        )

    @hookimpl
    def taskrun_load_dataset(self, task, config):
        if task.name != "topic":
            return None
        import datasets

        words = {0: "actor", 1: "shares", 2: "film"}
        rows = config.task_options["rows"]
        data = {"text": [f"the {words[i % 3]} was good" for i in range(rows)], "label": [i % 3 for i in range(rows)]}
        features = datasets.Features(
            {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=list(self.labels))}
        )
        split = datasets.Dataset.from_dict(data, features=features)
        return datasets.DatasetDict(train=split, validation=split.select(range(9)))


@pytest.fixture
def topic_plugin(manager):
    plugin = TopicPlugin()
    manager.register(plugin, name="topic-plugin")
    yield plugin
    manager.unregister("topic-plugin")


def test_a_plugin_task_is_listed_and_runs_through_the_same_runner(cli, topic_plugin, tiny_model, tmp_path):
    listed = cli("list")
    assert "topic" in listed.stdout and "topic-plugin" in listed.stdout
    helped = cli("run", "topic", "--help")
    assert "--rows" in helped.stdout and "--data-dir" not in helped.stdout
    out = tmp_path / "run"
    result = cli("run", "topic", "--model", tiny_model, "--output-dir", out, "--rows", "21", *FAST)
    assert result.exit_code == 0, result.output
    metrics = assert_finished_run(out, list(TopicPlugin.labels), ["the film was good"])
    assert metrics["train"]["samples"] == 21
    assert "accuracy" in metrics["eval"]  # the core's fallback metric: the plugin reports none


def test_two_plugins_with_one_task_name_name_both(manager, cli):
    class Impostor:
        @hookimpl
        def taskrun_register_tasks(self, register):
            register(TaskSpec(name="mrpc", description="not the real one"))

    manager.register(Impostor(), name="impostor")
    result = cli("run", "mrpc", "--help")
    assert result.exit_code == 4
    assert "'glue-mrpc'" in result.stderr and "'impostor'" in result.stderr
    assert "registered by glue-mrpc and impostor" in cli("list").stderr


def test_a_plugin_that_fails_to_import_is_listed_and_the_rest_still_work(manager, cli, monkeypatch):
    manager.load_modules([("broken-one", "taskrun_no_such_module_xyz")], "broken-dist", "1.0")
    assert "broken-one" in manager.broken
    result = cli("list")
    assert result.exit_code == 0
    assert "mrpc" in result.stdout and "broken-one" in result.stderr and "No module named" in result.stderr


def test_a_misspelled_hook_makes_the_plugin_broken_not_silent(manager):
    module = types.ModuleType("typo_plugin")

    @hookimpl
    def taskrun_load_datset(task, config):  # note the typo
        return None

    module.taskrun_load_datset = taskrun_load_datset
    with pytest.raises(PluginError, match="taskrun_load_datset"):
        manager.register(module, name="typo")
    assert "typo" not in manager.plugins and manager.pm.get_plugin("typo") is None


def test_strict_mode_makes_a_broken_plugin_fatal(manager, monkeypatch):
    monkeypatch.setenv("TASKRUN_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="broken-one"):
        manager.load_modules([("broken-one", "taskrun_no_such_module_xyz")], "broken-dist", "1.0")


def test_an_exception_in_a_hook_names_plugin_hook_and_task(manager, cli, topic_plugin, tiny_model, tmp_path):
    class Faulty:
        TASKRUN_FOR_ALL_TASKS = ("taskrun_load_dataset",)  # declared: it is asked for every task

        @hookimpl(tryfirst=True)
        def taskrun_load_dataset(self, task, config):
            raise RuntimeError("disk on fire")

    manager.register(Faulty(), name="faulty")
    out = tmp_path / "run"
    result = cli("run", "topic", "--model", tiny_model, "--output-dir", out)
    assert result.exit_code == 4
    assert (
        "plugin 'faulty' failed in taskrun_load_dataset for task 'topic': RuntimeError: disk on fire" in result.stderr
    )
    assert not out.exists()


def test_unknown_task_suggests_the_nearest(cli):
    result = cli("run", "mrcp", "--help")
    assert result.exit_code == 2
    assert "unknown task 'mrcp'" in result.stderr and "'mrpc'" in result.stderr


def test_a_plugin_that_raises_while_registering_is_left_out_entirely(manager, cli):
    class Half:
        @hookimpl
        def taskrun_register_tasks(self, register):
            register(TaskSpec(name="half"))
            raise RuntimeError("config file missing")

        @hookimpl
        def taskrun_metrics(self, task, predictions, references, label_names):
            return {"never": 1.0}

    manager.register(Half(), name="half")
    result = cli("list", "--plugins")
    assert "half: raised in taskrun_register_tasks: RuntimeError: config file missing" in result.stdout
    assert "half" not in manager.tasks() and manager.pm.get_plugin("half") is None


def test_a_failure_late_in_training_leaves_no_output_folder(manager, cli, topic_plugin, tiny_model, tmp_path):
    class FailingMetric:
        TASKRUN_FOR_ALL_TASKS = ("taskrun_metrics",)

        @hookimpl
        def taskrun_metrics(self, task, predictions, references, label_names):
            raise ValueError("metric exploded")

    manager.register(FailingMetric(), name="failing-metric")
    out = tmp_path / "run"
    result = cli("run", "topic", "--model", tiny_model, "--output-dir", out, *FAST)
    assert result.exit_code == 4
    assert "plugin 'failing-metric' failed in taskrun_metrics for task 'topic'" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["taskrun-cache"]  # no output folder, no staging folder
