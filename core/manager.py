"""Loading plugins and answering hooks.

Built-in plugins and installed ones (entry-point group `taskrun`) go through the same
`load_plugin` call. Order, on purpose: the core defaults first (and `trylast`), then the
built-ins, then installed plugins; pluggy calls the last registered first, so an installed plugin
gets the first say in every firstresult hook. Each plugin loads on its own: one that fails to
import or implements a hook that does not exist is recorded in `broken` and left out, and every
other task still works (TASKRUN_STRICT_PLUGINS=1 makes that fatal).

Environment:
  TASKRUN_PLUGINS        comma-separated entry-point names to load; empty or "none": no
                         installed plugins (built-ins always load). Unset: all of them.
  TASKRUN_STRICT_PLUGINS=1  a broken plugin is an error instead of a listed warning.
  TASKRUN_TRACE_HOOKS=1  print every hook call and result to stderr (for plugin authors).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Iterable

import pluggy

from . import hookspecs
from .errors import PluginError, TaskrunError, UsageError
from .hookspecs import PROJECT
from .registry import CatalogueEntry, load_catalogue
from .task import TaskSpec

DEFAULTS_PLUGIN = ("taskrun-defaults", "taskrun.defaults")
BUILTIN_PLUGINS = (
    ("glue-mrpc", "taskrun.plugins.glue_mrpc"),
    ("sentiment", "taskrun.plugins.sentiment"),
    ("custom-csv", "taskrun.plugins.custom_csv"),
)
ENTRY_POINT_GROUP = PROJECT


@dataclass(frozen=True)
class PluginInfo:
    """Who provides a plugin: its name, module, distribution and version."""

    name: str
    module: str
    distribution: str
    version: str


class TaskrunPluginManager:
    """A pluggy manager plus taskrun's own records: plugins, tasks, conflicts, broken plugins."""

    def __init__(self, catalogue: dict[str, CatalogueEntry] | None = None):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.catalogue = load_catalogue() if catalogue is None else catalogue
        self.plugins: dict[str, PluginInfo] = {}
        self.broken: dict[str, str] = {}
        self._providers: dict[str, list[tuple[str, TaskSpec]]] | None = None
        if os.environ.get("TASKRUN_TRACE_HOOKS") == "1":
            self.pm.trace.root.setwriter(lambda text: sys.stderr.write(text))
            self.pm.enable_tracing()

    # -- loading -----------------------------------------------------------------------------

    def load_plugin(self, name: str, load: Callable[[], Any], distribution: str, version: str) -> None:
        """Import one plugin and register it under `name`; record it as broken if that fails."""
        try:
            plugin = load()
        except Exception as exc:  # a plugin's import can raise anything
            self._mark_broken(name, f"cannot be imported: {type(exc).__name__}: {exc}")
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
        self.plugins[name] = PluginInfo(name, module, distribution, version)
        self._providers = None

    def load_modules(self, modules: Iterable[tuple[str, str]], distribution: str, version: str) -> None:
        """Register plugins given as (name, module name) pairs: the built-ins' path."""
        for name, module in modules:
            self.load_plugin(name, lambda module=module: importlib.import_module(module), distribution, version)

    def load_entry_points(self) -> None:
        """Register installed plugins (entry-point group `taskrun`), filtered by TASKRUN_PLUGINS."""
        wanted = os.environ.get("TASKRUN_PLUGINS")
        allowed = None if wanted is None else {n.strip() for n in wanted.split(",") if n.strip()} - {"none"}
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
            if allowed is not None and ep.name not in allowed:
                continue
            dist = ep.dist
            self.load_plugin(ep.name, ep.load, dist.name if dist else "?", dist.version if dist else "?")

    def register(self, plugin: Any, name: str | None = None) -> None:
        """Register an object (a module or a class instance) as a plugin: for tests and embedding."""
        name = name or getattr(plugin, "__name__", type(plugin).__name__)
        self.load_plugin(name, lambda: plugin, distribution="(registered in process)", version="")
        if name in self.broken:
            raise PluginError(f"plugin {name!r} is broken: {self.broken[name]}")

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.plugins.pop(name, None)
        self._providers = None

    def _mark_broken(self, name: str, error: str) -> None:
        if os.environ.get("TASKRUN_STRICT_PLUGINS") == "1":
            raise PluginError(f"plugin {name!r} {error}", hint="Unset TASKRUN_STRICT_PLUGINS to run without it.")
        self.broken[name] = error

    # -- tasks -------------------------------------------------------------------------------

    def _collect_tasks(self) -> dict[str, list[tuple[str, TaskSpec]]]:
        """Ask each plugin for its tasks, one plugin at a time, so that each task has an owner."""
        if self._providers is not None:
            return self._providers
        providers: dict[str, list[tuple[str, TaskSpec]]] = {}
        trace = self.pm.trace.root.get("hook")
        for impl in self.pm.hook.taskrun_register_tasks.get_hookimpls():
            owner = impl.plugin_name
            trace(f"taskrun_register_tasks [{owner}]")

            def register(spec: TaskSpec, owner: str = owner) -> None:
                if not isinstance(spec, TaskSpec):
                    raise TypeError(f"register() takes a taskrun.TaskSpec, got {type(spec).__name__}")
                providers.setdefault(spec.name, []).append((owner, spec))

            try:
                impl.function(register=register)
            except Exception as exc:
                for name in list(providers):
                    providers[name] = [(p, spec) for p, spec in providers[name] if p != owner]
                    if not providers[name]:
                        del providers[name]
                self.pm.unregister(name=owner)  # none of its hooks may run for any task
                self.plugins.pop(owner, None)
                self._mark_broken(owner, f"raised in taskrun_register_tasks: {type(exc).__name__}: {exc}")
        self._providers = providers
        return providers

    def tasks(self) -> dict[str, TaskSpec]:
        """Every runnable task (no conflict), with catalogue defaults filled in, by name."""
        return {
            name: self._with_catalogue(found[0][0], found[0][1])
            for name, found in sorted(self._collect_tasks().items())
            if len(found) == 1
        }

    def conflicts(self) -> dict[str, list[str]]:
        """Task names that more than one plugin registers, with the plugins."""
        return {name: [p for p, _ in found] for name, found in self._collect_tasks().items() if len(found) > 1}

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
        """Fill a built-in task's description, default model and hyperparameters from registry.toml."""
        entry = self.catalogue.get(spec.name)
        if entry is None or entry.plugin != owner:
            return dataclasses.replace(spec, plugin=owner)
        return dataclasses.replace(
            spec,
            plugin=owner,
            description=entry.description or spec.description,
            default_model=entry.default_model or spec.default_model,
            hyperparameters={**spec.hyperparameters, **entry.hyperparameters},
        )

    # -- calling hooks -----------------------------------------------------------------------

    def call(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook; an exception from a plugin becomes a PluginError naming plugin, hook, task.

        A `TaskrunError` raised by a plugin (say a DataError about the user's file) passes through
        unchanged: it is already a message for the user.
        """
        hook = getattr(self.pm.hook, hook_name)
        try:
            return hook(**kwargs)
        except TaskrunError:
            raise
        except Exception as exc:
            plugin = self._culprit(hook, exc)
            task = kwargs.get("task")
            task_part = f" for task {task.name!r}" if isinstance(task, TaskSpec) else ""
            raise PluginError(
                f"plugin {plugin!r} failed in {hook_name}{task_part}: {type(exc).__name__}: {exc}",
                hint="Set TASKRUN_TRACEBACK=1 to see the traceback.",
            ) from exc

    @staticmethod
    def _culprit(hook: Any, exc: BaseException) -> str:
        """The plugin whose hook function is on the traceback of `exc`."""
        owners = {
            impl.function.__code__: impl.plugin_name
            for impl in hook.get_hookimpls()
            if hasattr(impl.function, "__code__")
        }
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code in owners:
                return owners[tb.tb_frame.f_code]
            tb = tb.tb_next
        return "?"

    def implemented_hooks(self, name: str) -> list[str]:
        """The hooks that plugin `name` implements."""
        plugin = self.pm.get_plugin(name)
        return sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])


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
