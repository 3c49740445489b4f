"""`taskrun list` and `taskrun info TASK`: the tasks and plugins there are, and all about one task."""

from __future__ import annotations

import json
from typing import Any

import click

from ..family import family_of
from ..manager import TaskrunPluginManager
from ..options import info_params, list_params
from ..rundir import SEQUENCE_CLASSIFICATION
from ..settings import RUN_DEFAULTS
from ..task import HYPERPARAMETERS, TaskSpec
from .common import handle_errors, manager_of, table


@click.command("list", params=list_params())
@click.pass_context
@handle_errors
def list_tasks(ctx: click.Context, show_plugins: bool, as_json: bool) -> None:
    """Show every task: built-in ones and those that installed plugins add."""
    manager = manager_of(ctx)
    if show_plugins:
        _list_plugins(manager, as_json)
        return
    rows = []
    for name, spec in manager.tasks().items():
        info = manager.plugins[str(spec.plugin)]
        rows.append(
            {
                "task": name,
                "plugin": spec.plugin,
                "distribution": info.distribution,
                "version": info.version,
                "family": spec.family_name,
                "problem_type": spec.problem_type,
                "description": spec.description,
            }
        )
    if as_json:
        click.echo(
            json.dumps({"tasks": rows, "conflicts": manager.conflicts(), "broken_plugins": manager.broken}, indent=2)
        )
        return
    table(
        ["TASK", "PLUGIN", "PROBLEM", "DESCRIPTION"],
        [[r["task"], f"{r['plugin']} {r['version']}".strip(), _problem(r), r["description"]] for r in rows],
    )
    for name, providers in manager.conflicts().items():
        click.echo(f"warning: task {name!r} is registered by {' and '.join(providers)}; it cannot run.", err=True)
    for name, error in manager.broken.items():
        click.echo(f"warning: plugin {name!r} is broken and left out: {error}", err=True)


def _problem(row: dict[str, Any]) -> str:
    """list's PROBLEM column: the problem of a classification task, else the task's family."""
    return row["problem_type"] if row["family"] == SEQUENCE_CLASSIFICATION else row["family"]


def _shown(value: Any) -> str:
    """A hyperparameter as `info` shows it: numbers with :g, None as "model's own"."""
    if value is None:
        return "model's own"
    return str(value).lower() if isinstance(value, bool) else f"{value:g}"


def _labels_line(task: TaskSpec) -> str:
    problems = task.problem_types or (task.problem_type,)
    classes = ", ".join(task.labels) if task.labels else "read from the data"
    if problems == ("regression",):
        return "none: the label column holds a number, and the model predicts one value"
    if "regression" in problems:
        return f"{classes} (with --problem regression: a number, and the model predicts one value)"
    return classes


def _metrics_lines(task: TaskSpec) -> list[str]:
    """What the task reports for each problem it can run as, and which metric is primary."""
    from ..metrics import default_metric_names

    lines: list[str] = []
    family = family_of(task)
    for problem in task.problem_types or (task.problem_type,):
        if family.name != SEQUENCE_CLASSIFICATION:
            names = list(task.metrics or family.metric_names(task, len(task.labels or ())))
            shown = ", ".join(names)
        elif task.metrics:
            names, shown = list(task.metrics), ", ".join(task.metrics)
        elif task.labels is not None or problem != "single-label":
            names = list(default_metric_names(problem, len(task.labels or ())))
            shown = ", ".join(names)
        else:  # the label count decides between binary and macro F1
            names = list(default_metric_names(problem, 2))
            many = default_metric_names(problem, 3)
            shown = ", ".join(a if a == b else f"{a} (2 labels) or {b}" for a, b in zip(names, many))
        primary, higher = task.primary(names)
        prefix = f"{problem}: " if len(task.problem_types) > 1 else ""
        label = "metrics" if not lines else ""
        lines.append(f"  {label:<16} {prefix}{shown}; primary {primary} ({'higher' if higher else 'lower'} is better)")
    if task.metrics_help:
        lines.append(f"  {'':<16} {task.metrics_help}")
    return lines


def _list_plugins(manager: TaskrunPluginManager, as_json: bool) -> None:
    manager.tasks()  # asking every plugin for its tasks finds those that fail to register
    rows = [
        {
            "plugin": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "module": p.module,
            "hooks": manager.implemented_hooks(p.name),
            "for_all_tasks": list(p.for_all_tasks),
        }
        for p in manager.plugins.values()
    ]
    conflicts = manager.conflicts()
    if as_json:
        click.echo(json.dumps({"plugins": rows, "broken": manager.broken, "conflicts": conflicts}, indent=2))
        return

    def hooks(row: dict[str, Any]) -> str:
        return ", ".join(
            h.removeprefix("taskrun_") + (" (all tasks)" if h in row["for_all_tasks"] else "") for h in row["hooks"]
        )

    table(
        ["PLUGIN", "DISTRIBUTION", "VERSION", "HOOKS"],
        [[r["plugin"], r["distribution"], r["version"], hooks(r)] for r in rows],
    )
    if conflicts:
        click.echo("\nTask names registered by more than one plugin (they cannot run):")
        for name, owners in conflicts.items():
            click.echo(f"  {name}: {', '.join(owners)}")
    if manager.broken:
        click.echo("\nBroken plugins (left out):")
        for name, error in manager.broken.items():
            click.echo(f"  {name}: {error}")


@click.command("info", params=info_params())
@click.pass_context
@handle_errors
def info(ctx: click.Context, task_name: str) -> None:
    """Everything about one task: data, labels, metrics, defaults, options."""
    manager = manager_of(ctx)
    task = manager.task(task_name)
    plugin = manager.plugins[str(task.plugin)]
    hyper = {**RUN_DEFAULTS, **task.hyperparameters}
    inputs = " + ".join(task.text_columns) + (" (encoded as a pair)" if len(task.text_columns) > 1 else "")
    lines = [
        f"{task.name}: {task.description}",
        f"  plugin           {task.plugin} ({plugin.distribution} {plugin.version})".rstrip(),
        f"  problem          {_problem({'family': task.family_name, 'problem_type': task.problem_type})}"
        + (f" (--problem: {', '.join(task.problem_types)})" if len(task.problem_types) > 1 else ""),
        f"  inputs           {inputs}; label column {task.label_column}",
        f"  labels           {_labels_line(task)}",
        *_metrics_lines(task),
        f"  data             {task.data_source or 'not described'}",
        f"  default model    {task.default_model or '(none: --model is required)'}",
        "  hyperparameters  " + ", ".join(f"{k} {_shown(hyper[k])}" for k in HYPERPARAMETERS),
    ]
    for name, stages in manager.others_for(task).items():
        changed = ", ".join(stage.removeprefix("taskrun_") for stage in stages)
        lines.append(f"  also changed by  plugin {name} ({changed}), which declares it for every task")
    if task.options:
        lines.append("  options")
        for option in task.options:
            default = f" [default: {option.default}]" if option.default is not None else ""
            required = " (required)" if option.required else ""
            lines.append(f"    {option.name:<24} {option.help}{required}{default}")
    click.echo("\n".join(lines))
