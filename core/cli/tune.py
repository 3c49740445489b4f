"""`taskrun tune TASK`: a hyperparameter search, each trial a run; the table of trials after."""

from __future__ import annotations

from typing import Any

import click

from ..options import sources, tune_options
from ..settings import config_from_values
from ..task import TaskSpec
from .common import TaskGroup, handle_errors, interruptible, manager_of, split, table


class TuneGroup(TaskGroup):
    build = staticmethod(lambda task: _tune_command(task))


@click.group("tune", cls=TuneGroup)
def tune_group() -> None:
    """Search TASK's hyperparameters with Optuna: each trial a run, the best one's settings kept.

    `taskrun tune TASK --help` shows the options: every `run` option (fixed for all trials),
    --trials, --space, and --seeds to score each trial by its mean over several seeds.
    """


def _tune_command(task: TaskSpec) -> click.Command:
    @click.pass_context
    @handle_errors
    def callback(ctx: click.Context, **values: Any) -> None:
        from ..api import tune_output
        from ..search import BEST, SUMMARY, summary_rows, tune

        trials, space, seeds = values["trials"], values["space"], values["seeds"]
        config = config_from_values(task, tune_output(task, values), sources(ctx, task))
        outcome = interruptible(lambda: tune(manager_of(ctx), config, trials, space, seeds), config.output_dir)
        minutes, secs = divmod(int(round(outcome.summary["seconds"])), 60)
        finished = sum(1 for row in outcome.summary["trials"] if row["state"] != "interrupted")
        click.echo(f"\ntaskrun: {task.name}, {finished} trial(s) in {minutes}m {secs:02d}s")
        table(*split(summary_rows(outcome.summary)))
        trials_are = "trial-NNNN/seed-N/ runs" if outcome.summary.get("seeds") else "trial-NNNN/ runs"
        click.echo(f"  output   {outcome.output_dir}/ ({trials_are}, study.db, {SUMMARY})")
        if outcome.best_run is not None:
            click.echo(
                f"  best     {outcome.best_run}; again: taskrun run {task.name} --config {outcome.output_dir / BEST}"
            )

    help_text = f"Search the hyperparameters of {task.name}: {task.description}"
    return click.Command(
        task.name, params=tune_options(task), callback=callback, help=help_text, short_help=task.description
    )
