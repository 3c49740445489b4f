"""`taskrun run TASK`: fine-tune, evaluate and save, once or once per seed; the summary after."""

from __future__ import annotations

from typing import Any, Sequence

import click

from ..launch import is_main_process
from ..manager import TaskrunPluginManager
from ..options import run_options, sources
from ..settings import config_from_values, option_record, settings_file_text
from ..task import RunConfig, TaskSpec
from .common import TaskGroup, handle_errors, interruptible, manager_of, per_class_lines, split, table


class RunGroup(TaskGroup):
    build = staticmethod(lambda task: _task_command(task))


@click.group("run", cls=RunGroup)
def run_group() -> None:
    """Fine-tune a model on TASK, evaluate it on the validation split, and save it.

    `taskrun run TASK --help` shows the task's options and defaults.
    """


def _task_command(task: TaskSpec) -> click.Command:
    @click.pass_context
    @handle_errors
    def callback(ctx: click.Context, print_config: bool, seeds: tuple[int, ...] | None, **values: Any) -> None:
        config = config_from_values(task, values, sources(ctx, task))
        if print_config:
            record = option_record(config)
            if seeds:
                record["seeds"] = {"value": list(seeds), "source": config.sources["seeds"]}
            click.echo(settings_file_text(task.name, record), nl=False)
            return
        _run_and_report(manager_of(ctx), config, seeds)

    data = f" Data: {task.data_source}" if task.data_source else ""
    help_text = f"{task.description}\n\nPlugin: {task.plugin}.{data}"
    return click.Command(
        task.name, params=run_options(task), callback=callback, help=help_text, short_help=task.description
    )


def _run_and_report(manager: TaskrunPluginManager, config: RunConfig, seeds: Sequence[int] | None = None) -> None:
    """Run (once, or once per seed), print the summary."""
    from ..runner import RunResult, run
    from ..seeds import run_seeds

    outcome = interruptible(
        lambda: run_seeds(manager, config, seeds) if seeds else run(manager, config), config.output_dir, bool(seeds)
    )
    if isinstance(outcome, RunResult):
        if outcome.main_process:
            click.echo(summary(outcome.metrics, config, outcome.seconds))
    elif is_main_process():
        _seeds_summary(outcome)


def _seeds_summary(outcome: Any) -> None:
    """The table after --seeds: each metric's mean ± standard deviation and each seed's value."""
    from ..seeds import SUMMARY, summary_table

    minutes, secs = divmod(int(round(outcome.summary["total_seconds"])), 60)
    seeds = ", ".join(map(str, outcome.summary["seeds"]))
    click.echo(f"\ntaskrun: {outcome.summary['task']}, seeds {seeds}, finished in {minutes}m {secs:02d}s")
    table(*split(summary_table(outcome.summary)))
    click.echo(f"  output   {outcome.output_dir}/ (seed-N/ runs, {SUMMARY})")


def summary(metrics: dict[str, Any], config: RunConfig, seconds: float) -> str:
    """The lines printed when a run ends: task, model, metrics, time, where the files are."""
    from ..rundir import METRICS, MODEL_CARD, RUN_CONFIG
    from ..scoring import epochs_text, kept_text, scores_of

    train, evaluation = metrics["train"], metrics["eval"]
    scores = "  ".join(f"{k} {v:.4f}" for k, v in scores_of(evaluation).items())
    kept = kept_text(metrics)
    minutes, secs = divmod(int(round(seconds)), 60)
    return "\n".join(
        [
            "",
            f"taskrun: {metrics['task']} finished in {minutes}m {secs:02d}s",
            f"  model    {config.model}",
            f"  train    {train['samples']:,} examples, {epochs_text(metrics, config.epochs)}, "
            f"{train['samples_per_second']:.1f} samples/s, {train['tokens_per_second']:,.0f} tokens/s",
            *([f"  kept     {kept}"] if kept else []),
            f"  eval     {evaluation['samples']:,} validation examples: {scores}",
            *(
                [f"           f1 is the F1 of '{evaluation['positive_label']}'"]
                if "positive_label" in evaluation
                else []
            ),
            *([f"  warning  {evaluation['collapsed']}"] if evaluation.get("collapsed") else []),
            *per_class_lines(evaluation.get("per_class", {})),
            f"  output   {config.output_dir}/ (model, tokenizer, {METRICS}, {RUN_CONFIG}, {MODEL_CARD})",
            *([f"  pictures {', '.join(metrics['pictures'])}"] if metrics.get("pictures") else []),
        ]
    )
