"""Loading plugins and routing hooks to them.

Built-in plugins and installed ones (entry-point group `taskrun`) go through the same
`load_plugin` call. Order, on purpose: the core defaults first (and `trylast`), then the
built-ins, then installed plugins in the order of their entry-point names. Each plugin loads on
its own: one that fails to import, implements a hook that does not exist, defines a `taskrun_*`
function without `@hookimpl`, or fails to register its tasks is recorded in `broken` and left
out, and every other task still works (TASKRUN_STRICT_PLUGINS=1 makes that fatal).

Routing: a task's stage hooks reach the plugin that registered it, then plugins that declare
(with `TASKRUN_FOR_ALL_TASKS`) that they change that stage for every task, then the core defaults;
no other plugin is asked. Among those, pluggy's order holds (the last registered first,
`tryfirst`/`trylast` respected). Each plugin is called through pluggy on its own, so that an
answer and an error are always attributed to the plugin that gave them.

Environment:
  TASKRUN_PLUGINS        comma-separated entry-point names to load; empty or "none": no
                         installed plugins (built-ins always load). Unset: all of them.
  TASKRUN_STRICT_PLUGINS=1  a broken plugin or a task name two plugins register is an error.
  TASKRUN_TRACE_HOOKS=1  print every hook call, its result and the plugin that answered, to stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import importlib
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Iterable, Iterator

import pluggy

from . import hookspecs
from .errors import PluginError, TaskrunError, UsageError
from .hookspecs import FOR_ALL_TASKS, PROJECT, STAGE_HOOKS
from .hub import env_flag
from .registry import CatalogueEntry, load_catalogue
from .task import RunConfig, TaskSpec

DEFAULTS = "taskrun-defaults"
DEFAULTS_PLUGIN = (DEFAULTS, "taskrun.defaults")
BUILTIN_PLUGINS = (
    ("glue-mrpc", "taskrun.plugins.glue_mrpc"),
    ("sentiment", "taskrun.plugins.sentiment"),
    ("custom-csv", "taskrun.plugins.custom_csv"),
    ("ner", "taskrun.plugins.ner"),
)
ENTRY_POINT_GROUP = PROJECT
log = logging.getLogger("taskrun")


@dataclass(frozen=True)
class PluginInfo:
    """Who provides a plugin: its name, module, distribution and version, and the stage hooks it
    declares for every task."""

    name: str
    module: str
    distribution: str
    version: str
    for_all_tasks: tuple[str, ...] = ()


class TaskrunPluginManager:
    """A pluggy manager plus taskrun's own records: plugins, task owners, conflicts, broken plugins."""

    def __init__(self, catalogue: dict[str, CatalogueEntry] | None = None):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.catalogue = load_catalogue() if catalogue is None else catalogue
        self.plugins: dict[str, PluginInfo] = {}
        self.broken: dict[str, str] = {}
        self._providers: dict[str, list[tuple[str, TaskSpec]]] | None = None
        self._warned: set[tuple[str, str]] = set()
        self._trace = self.pm.trace.root.get("taskrun")
        if env_flag("TASKRUN_TRACE_HOOKS"):
            self.pm.trace.root.setwriter(lambda text: sys.stderr.write(text))
            self.pm.enable_tracing()

    # -- loading -----------------------------------------------------------------------------

    def load_plugin(self, name: str, load: Callable[[], Any], distribution: str, version: str) -> None:
        """Import one plugin, check it and register it under `name`; record it as broken if that fails."""
        try:
            with self._deprecations(name):
                plugin = load()
        except Exception as exc:  # a plugin's import can raise anything
            self._mark_broken(name, f"cannot be imported: {type(exc).__name__}: {exc}")
            return
        problem = _unmarked_hooks(plugin) or _bad_declaration(plugin)
        if problem:
            self._mark_broken(name, problem)
            return
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            self._mark_broken(name, f"has invalid hooks: {exc}")
            return
        except ValueError as exc:  # pluggy: the name or the object is registered already
            self._mark_broken(name, f"cannot be registered: {exc}")
            return
        module = getattr(plugin, "__name__", type(plugin).__name__)
        declared = tuple(getattr(plugin, FOR_ALL_TASKS, ()))
        self.plugins[name] = PluginInfo(name, module, distribution, version, declared)
        self._providers = None

    def load_modules(self, modules: Iterable[tuple[str, str]], distribution: str, version: str) -> None:
        """Register plugins given as (name, module name) pairs: the built-ins' path."""
        for name, module in modules:
            self.load_plugin(name, functools.partial(importlib.import_module, module), distribution, version)

    def load_entry_points(self) -> None:
        """Register installed plugins (entry-point group `taskrun`), filtered by TASKRUN_PLUGINS."""
        wanted = os.environ.get("TASKRUN_PLUGINS")
        allowed = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()} - {"none"}
        found = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
        for ep in found:
            if allowed is not None and ep.name not in allowed:
                continue
            dist = ep.dist
            self.load_plugin(ep.name, ep.load, dist.name if dist else "?", dist.version if dist else "?")
        for name in sorted((allowed or set()) - {ep.name for ep in found}):
            known = ", ".join(ep.name for ep in found) or "none"
            log.warning("TASKRUN_PLUGINS names %r, which is no installed plugin (installed: %s)", name, known)

    def register(self, plugin: Any, name: str | None = None) -> None:
        """Register an object (a module or a class instance) as a plugin: for tests and embedding."""
        name = str(name or getattr(plugin, "__name__", type(plugin).__name__))
        self.load_plugin(name, lambda: plugin, distribution="(registered in process)", version="")
        if name in self.broken:
            raise PluginError(f"plugin {name!r} is broken: {self.broken[name]}")

    def unregister(self, name: str) -> None:
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        self.plugins.pop(name, None)
        self._providers = None

    def _mark_broken(self, name: str, error: str) -> None:
        if env_flag("TASKRUN_STRICT_PLUGINS"):
            raise PluginError(f"plugin {name!r} {error}", hint="Unset TASKRUN_STRICT_PLUGINS to run without it.")
        self.broken[name] = error

    @contextlib.contextmanager
    def _deprecations(self, plugin: str) -> Iterator[None]:
        """Show taskrun's deprecation warnings raised while `plugin` runs, once each, naming it
        (Python hides DeprecationWarning outside __main__); other warnings pass on unchanged."""
        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DeprecationWarning)
                yield
        finally:
            for warning in caught:
                text = str(warning.message)
                if not issubclass(warning.category, DeprecationWarning):
                    warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
                elif "taskrun" in text and (plugin, text) not in self._warned:
                    self._warned.add((plugin, text))
                    log.warning("plugin %r: %s", plugin, text)

    # -- tasks -------------------------------------------------------------------------------

    def _collect_tasks(self) -> dict[str, list[tuple[str, TaskSpec]]]:
        """Ask each plugin for its tasks through pluggy, one plugin at a time, so that each task
        has an owner; a plugin that raises (a TaskSpec that refuses a mistake, say) is broken."""
        if self._providers is not None:
            return self._providers
        providers: dict[str, list[tuple[str, TaskSpec]]] = {}
        for owner in self._call_order("taskrun_register_tasks"):
            found: list[TaskSpec] = []

            def register(spec: TaskSpec, found: list[TaskSpec] = found) -> None:
                if not isinstance(spec, TaskSpec):
                    raise TypeError(f"register() takes a taskrun.TaskSpec, got {type(spec).__name__}")
                found.append(spec)

            self._trace(f"taskrun_register_tasks [{owner}]")
            try:
                with self._deprecations(owner):
                    self._caller(owner, "taskrun_register_tasks")(register=register)
            except Exception as exc:
                self._drop(owner, f"raised in taskrun_register_tasks: {type(exc).__name__}: {exc}")
                continue
            for spec in found:
                providers.setdefault(spec.name, []).append((owner, spec))
        for owner, info in list(self.plugins.items()):
            orphan = [h for h in self.implemented_hooks(owner) if h in STAGE_HOOKS and h not in info.for_all_tasks]
            owns = any(p == owner for found in providers.values() for p, _ in found)
            if owner != DEFAULTS and orphan and not owns:
                self._drop(
                    owner,
                    f"implements {', '.join(orphan)} but registers no task, and since taskrun 0.2 a task's hooks "
                    f"reach only the plugin that registered it. To change these stages for every task, declare "
                    f"{FOR_ALL_TASKS} = {tuple(orphan)!r} in the plugin.",
                )
        self._providers = providers
        conflicts = self.conflicts()
        if conflicts and env_flag("TASKRUN_STRICT_PLUGINS"):
            name, owners = next(iter(conflicts.items()))
            raise PluginError(
                f"task {name!r} is registered by more than one plugin: {' and '.join(owners)}",
                hint="Unset TASKRUN_STRICT_PLUGINS to run the other tasks.",
            )
        return providers

    def _drop(self, name: str, error: str) -> None:
        """Unregister a plugin that turned out broken after loading: none of its hooks may run."""
        self.unregister(name)
        self._mark_broken(name, error)

    def tasks(self) -> dict[str, TaskSpec]:
        """Every runnable task (no conflict), with catalogue defaults filled in, by name."""
        return {
            name: self._with_catalogue(found[0][0], found[0][1])
            for name, found in sorted(self._collect_tasks().items())
            if len(found) == 1
        }

    def conflicts(self) -> dict[str, list[str]]:
        """Task names that more than one plugin registers, with the plugins."""
        return {name: sorted(p for p, _ in found) for name, found in self._collect_tasks().items() if len(found) > 1}

    def task(self, name: str) -> TaskSpec:
        """The task called `name`, or an error that says why it is not there."""
        tasks = self.tasks()
        if name in tasks:
            return tasks[name]
        if name in self.conflicts():
            providers = " and ".join(repr(p) for p in self.conflicts()[name])
            raise PluginError(
                f"task {name!r} is registered by more than one plugin: {providers}",
                hint="Uninstall one of them, or limit the plugins that load with TASKRUN_PLUGINS.",
            )
        entry = self.catalogue.get(name)
        if entry is not None and entry.plugin in self.broken:
            raise PluginError(
                f"task {name!r} comes from plugin {entry.plugin!r}, which is broken: {self.broken[entry.plugin]}"
            )
        close = difflib.get_close_matches(name, list(tasks), n=1)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        if self.broken:
            hint += f"Broken plugins that may provide it: {', '.join(sorted(self.broken))} (`taskrun list --plugins`). "
        raise UsageError(f"unknown task {name!r}", hint=f"{hint}`taskrun list` shows the tasks.")

    def _with_catalogue(self, owner: str, spec: TaskSpec) -> TaskSpec:
        """Fill a built-in task's description, default model, hyperparameters and search space from registry.toml."""
        entry = self.catalogue.get(spec.name)
        if entry is None or entry.plugin != owner:
            return dataclasses.replace(spec, plugin=owner)
        return dataclasses.replace(
            spec,
            plugin=owner,
            description=entry.description or spec.description,
            default_model=entry.default_model or spec.default_model,
            hyperparameters={**spec.hyperparameters, **entry.hyperparameters},
            search_space=entry.search_space or spec.search_space,
        )

    # -- calling hooks -----------------------------------------------------------------------

    def stage_plugins(self, task: TaskSpec, hook_name: str) -> list[str]:
        """The plugins asked for `task`'s stage `hook_name`, in call order: its owner and the plugins
        that declare the stage for every task (pluggy's order among them), then the core defaults."""
        allowed = {task.plugin, DEFAULTS} | {n for n, p in self.plugins.items() if hook_name in p.for_all_tasks}
        return [name for name in self._call_order(hook_name) if name in allowed]

    def others_for(self, task: TaskSpec) -> dict[str, tuple[str, ...]]:
        """Plugins other than the owner that change some of `task`'s stages, with those stages."""
        return {n: p.for_all_tasks for n, p in self.plugins.items() if p.for_all_tasks and n != task.plugin}

    def stages(self, task: TaskSpec) -> Stages:
        """`task`'s stage hooks, one typed method per stage."""
        return Stages(self, task)

    def call(self, hook_name: str, task: TaskSpec, **kwargs: Any) -> Any:
        """A firstresult stage hook: the first non-None answer of the task's plugins."""
        return self.answer(hook_name, task, **kwargs)[0]

    def answer(self, hook_name: str, task: TaskSpec, **kwargs: Any) -> tuple[Any, str | None]:
        """A firstresult stage hook's answer and the plugin that gave it ((None, None): nobody did)."""
        for name in self.stage_plugins(task, hook_name):
            result = self._call_one(name, hook_name, task, kwargs)
            if result is not None:
                self._trace(f"{hook_name} for task {task.name!r} answered by plugin {name!r}")
                return result, name
        return None, None

    def collect(self, hook_name: str, task: TaskSpec, **kwargs: Any) -> list[tuple[str, Any]]:
        """A collecting stage hook: (plugin, answer) of every task plugin that answers (not None)."""
        answers = []
        for name in self.stage_plugins(task, hook_name):
            for result in self._call_one(name, hook_name, task, kwargs):
                if result is not None:
                    self._trace(f"{hook_name} for task {task.name!r} answered by plugin {name!r}")
                    answers.append((name, result))
        return answers

    def _call_one(self, name: str, hook_name: str, task: TaskSpec, kwargs: dict[str, Any]) -> Any:
        """Call one plugin's implementation through pluggy; its exception becomes a PluginError
        naming plugin, hook and task. A `TaskrunError` (a DataError about the user's file, say)
        passes through unchanged: it is already a message for the user."""
        try:
            with self._deprecations(name):
                return self._caller(name, hook_name)(task=task, **kwargs)
        except TaskrunError:
            raise
        except Exception as exc:
            raise plugin_error(name, hook_name, task, exc) from exc

    def _caller(self, name: str, hook_name: str) -> Any:
        """Plugin `name`'s implementation of `hook_name` (with its own wrappers), through pluggy."""
        plugin = self.pm.get_plugin(name)
        return self.pm.subset_hook_caller(
            hook_name, remove_plugins=[p for p in self.pm.get_plugins() if p is not plugin]
        )

    def _call_order(self, hook_name: str) -> list[str]:
        """The plugins implementing `hook_name`, in the order pluggy calls them, each once."""
        names = [impl.plugin_name for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls())]
        return list(dict.fromkeys(names))

    def implemented_hooks(self, name: str) -> list[str]:
        """The hooks that plugin `name` implements."""
        plugin = self.pm.get_plugin(name)
        return sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])


class Stages:
    """The stage hooks of one task, one typed method per stage: the only way the core calls them.
    Each asks the task's plugins in order (see `TaskrunPluginManager.stage_plugins`); the methods
    that return a pair also name the plugin that answered (None where the family's default did),
    so that a failure inside the answer, later, can be blamed on it."""

    def __init__(self, manager: TaskrunPluginManager, task: TaskSpec):
        self.manager, self.task = manager, task

    def load_dataset(self, config: RunConfig) -> Any:
        return self.manager.call("taskrun_load_dataset", self.task, config=config)

    def preprocess(self, config: RunConfig, dataset: Any, tokenizer: Any) -> Any:
        return self.manager.call("taskrun_preprocess", self.task, config=config, dataset=dataset, tokenizer=tokenizer)

    def preprocess_plugins(self) -> list[tuple[str, Any]]:
        """(plugin, implementing function) of each plugin asked to preprocess: the cache key's code."""
        asked = set(self.manager.stage_plugins(self.task, "taskrun_preprocess"))
        return [
            (impl.plugin_name, impl.function)
            for impl in self.manager.pm.hook.taskrun_preprocess.get_hookimpls()
            if impl.plugin_name in asked
        ]

    def data_collator(self, config: RunConfig, tokenizer: Any) -> tuple[Any, str | None]:
        return self.manager.answer("taskrun_data_collator", self.task, config=config, tokenizer=tokenizer)

    def model(self, config: RunConfig, label_names: list[str]) -> tuple[Any, str | None]:
        return self.manager.answer("taskrun_model", self.task, config=config, label_names=label_names)

    def loss(self, config: RunConfig, label_counts: list[int]) -> tuple[Any, str | None]:
        return self.manager.answer("taskrun_loss", self.task, config=config, label_counts=label_counts)

    def postprocess(
        self, config: RunConfig, logits: Any, label_names: list[str], inputs: list[dict[str, Any]] | None
    ) -> Any:
        return self.manager.call(
            "taskrun_postprocess", self.task, config=config, logits=logits, inputs=inputs, label_names=label_names
        )

    def metrics(self, predictions: Any, references: Any, label_names: list[str]) -> list[tuple[str, Any]]:
        """(plugin, answer) of every plugin that reports metrics (collecting)."""
        return self.manager.collect(
            "taskrun_metrics", self.task, predictions=predictions, references=references, label_names=label_names
        )


def plugin_error(plugin: str, hook_name: str, task: TaskSpec, exc: BaseException, during: str = "") -> PluginError:
    """The one message for a plugin's failure: plugin, hook, task, the exception."""
    return PluginError(
        f"plugin {plugin!r} failed in {hook_name}{during} for task {task.name!r}: {type(exc).__name__}: {exc}",
        hint="Set TASKRUN_TRACEBACK=1 to see the traceback.",
    )


def _unmarked_hooks(plugin: Any) -> str | None:
    """A reason if the plugin defines `taskrun_*` functions that lack @hookimpl (pluggy ignores them)."""
    unmarked = [
        name
        for name in dir(plugin)
        if name.startswith("taskrun_")
        and callable(getattr(plugin, name, None))
        and not hasattr(getattr(plugin, name), f"{PROJECT}_impl")
    ]
    if not unmarked:
        return None
    return (
        f"defines {', '.join(unmarked)} without @hookimpl, so taskrun would never call it: mark it with "
        "@taskrun.hookimpl (or rename it: the taskrun_ prefix is for hooks)"
    )


def _bad_declaration(plugin: Any) -> str | None:
    """A reason if the plugin's TASKRUN_FOR_ALL_TASKS is not a tuple of stage hooks it implements."""
    declared = getattr(plugin, FOR_ALL_TASKS, ())
    if isinstance(declared, str) or not isinstance(declared, (tuple, list)):
        return f"{FOR_ALL_TASKS} must be a tuple of hook names, not {declared!r}"
    for hook in declared:
        if hook not in STAGE_HOOKS:
            return f"{FOR_ALL_TASKS} names {hook!r}, which is not a stage hook ({', '.join(STAGE_HOOKS)})"
        if not hasattr(getattr(plugin, hook, None), f"{PROJECT}_impl"):
            return f"{FOR_ALL_TASKS} names {hook!r}, which the plugin does not implement with @hookimpl"
    return None


def _taskrun_version() -> str:
    from . import __version__

    return __version__


def build_manager(load_installed: bool = True) -> TaskrunPluginManager:
    """The manager the CLI uses: core defaults, built-ins, then installed plugins."""
    manager = TaskrunPluginManager()
    version = _taskrun_version()
    manager.load_modules([DEFAULTS_PLUGIN], "taskrun", version)
    manager.load_modules(BUILTIN_PLUGINS, "taskrun", version)
    if load_installed:
        manager.load_entry_points()
    return manager
