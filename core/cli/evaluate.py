"""`taskrun eval RUN_DIR TASK`: a finished run's model scored on a task's split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..options import eval_group_params, eval_options, given_options
from ..task import TaskSpec
from .common import TaskGroup, handle_errors, manager_of, per_class_lines


class EvalGroup(TaskGroup):
    build = staticmethod(lambda task: _eval_command(task))


@click.group("eval", cls=EvalGroup, params=eval_group_params())
@click.pass_context
def eval_group(ctx: click.Context, run_dir: Path) -> None:
    """Score a finished run's model on TASK's validation or test split.

    Labels are matched by name through the model's saved id2label; `taskrun eval RUN_DIR TASK
    --help` shows the task's data options.
    """
    ctx.meta["taskrun.run_dir"] = run_dir


def _eval_command(task: TaskSpec) -> click.Command:
    @click.pass_context
    @handle_errors
    def callback(ctx: click.Context, **values: Any) -> None:
        from ..api import evaluation

        run_dir = ctx.meta["taskrun.run_dir"]
        metrics = evaluation(manager_of(ctx), run_dir, task, values, given_options(ctx, task))
        scores = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        click.echo(f"taskrun: {run_dir} on {task.name} {metrics['split']} ({metrics['samples']:,} examples): {scores}")
        if "positive_label" in metrics:
            click.echo(f"           f1 is the F1 of '{metrics['positive_label']}'")
        for line in per_class_lines(metrics.get("per_class", {})):
            click.echo(line)

    return click.Command(task.name, params=eval_options(task), callback=callback, help=f"Score a model on {task.name}.")
