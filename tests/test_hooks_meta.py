"""Every hook is documented, typed, prefixed, and called during a real run."""

from __future__ import annotations

import inspect

from taskrun import hookimpl, hookspecs
from taskrun.manager import BUILTIN_PLUGINS

HOOK_NAMES = sorted(name for name in dir(hookspecs) if name.startswith("taskrun_"))


def test_every_hookspec_is_prefixed_typed_and_says_how_it_is_called():
    for name in HOOK_NAMES:
        function = getattr(hookspecs, name)
        doc = inspect.getdoc(function) or ""
        options = function.taskrun_spec
        kind = "Firstresult" if options.get("firstresult") else "Collecting"
        assert kind in doc, f"{name}: docstring must say {kind}"
        assert "None" in doc, f"{name}: docstring must say what returning None means"
        signature = inspect.signature(function)
        assert all(p.annotation is not inspect.Parameter.empty for p in signature.parameters.values()), name
        assert signature.return_annotation is not inspect.Signature.empty, name


class Recorder:
    """Answers no hook (returns None) but records that each one was called; it declares every
    stage for every task, since a task's hooks otherwise reach only the plugin that registered it."""

    TASKRUN_FOR_ALL_TASKS = hookspecs.STAGE_HOOKS

    def __init__(self):
        self.calls = set()

    def _seen(self, name):
        self.calls.add(name)

    @hookimpl
    def taskrun_register_tasks(self, register):
        self._seen("taskrun_register_tasks")

    @hookimpl
    def taskrun_load_dataset(self, task, config):
        self._seen("taskrun_load_dataset")

    @hookimpl
    def taskrun_preprocess(self, task, config, dataset, tokenizer):
        self._seen("taskrun_preprocess")

    @hookimpl
    def taskrun_data_collator(self, task, config, tokenizer):
        self._seen("taskrun_data_collator")

    @hookimpl
    def taskrun_model(self, task, config, label_names):
        self._seen("taskrun_model")

    @hookimpl
    def taskrun_postprocess(self, task, config, logits, label_names, inputs):
        self._seen("taskrun_postprocess")

    @hookimpl
    def taskrun_loss(self, task, config, label_counts):
        self._seen("taskrun_loss")

    @hookimpl
    def taskrun_metrics(self, task, predictions, references, label_names):
        self._seen("taskrun_metrics")


def test_every_hook_is_called_in_a_run(manager, cli, tiny_model, sst2_dir, tmp_path):
    recorder = Recorder()
    manager.register(recorder, name="recorder")
    result = cli(
        "run",
        "sentiment",
        "--model",
        tiny_model,
        "--data-dir",
        sst2_dir,
        "--output-dir",
        tmp_path / "r",
        "--epochs",
        "1",
        "--max-train-samples",
        "8",
        "--max-eval-samples",
        "8",
        "--precision",
        "fp32",
    )
    assert result.exit_code == 0, result.output
    assert recorder.calls == set(HOOK_NAMES)
    assert manager.implemented_hooks("recorder") == HOOK_NAMES


def test_builtins_load_through_the_same_path_as_installed_plugins(manager):
    """Each built-in is a plugin like any other, registered before installed ones, so that an
    installed plugin's answer to a shared hook comes first (pluggy calls the last registered first)."""
    for name, module in BUILTIN_PLUGINS:
        assert manager.plugins[name].module == module

    class Installed:
        TASKRUN_FOR_ALL_TASKS = ("taskrun_data_collator",)

        @hookimpl
        def taskrun_data_collator(self, task, config, tokenizer):
            return "installed"

    manager.register(Installed(), name="installed")
    for task in manager.tasks().values():
        assert manager.stages(task).data_collator(None, None) == ("installed", "installed")
