"""The `taskrun` command. Imports only click and the light core modules: --help and list stay fast.

Errors: a `TaskrunError` becomes `Error: message` on stderr and its exit code (TASKRUN_TRACEBACK=1
shows the traceback); Ctrl-C exits with 130.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from . import __version__
from .errors import TaskrunError, UsageError
from .family import family_of
from .hub import env_flag
from .launch import exit_together, is_main_process
from .manager import TaskrunPluginManager, build_manager
from .settings import RUN_DEFAULTS, config_file_option, eval_options, run_options, tune_options
from .task import HYPERPARAMETERS, RunConfig, TaskSpec

SEQUENCE_CLASSIFICATION = "sequence-classification"


def _manager(ctx: click.Context) -> TaskrunPluginManager:
    """The plugin manager: the one passed in as `obj` (tests), else the installed set, built once."""
    root = ctx.find_root()
    if not isinstance(root.obj, TaskrunPluginManager):
        root.obj = build_manager()
    return root.obj


def _handle_errors(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TaskrunError as exc:
            if env_flag("TASKRUN_TRACEBACK"):
                raise
            _close_progress_bars()
            if not exc.shown_elsewhere:
                click.echo(f"Error: {exc.message}", err=True)
                if exc.hint:
                    click.echo(exc.hint, err=True)
            if exc.decided_for_all:  # a distributed launch: every process exits with the code
                exit_together(exc.exit_code)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _close_progress_bars()
            click.echo("\nInterrupted: nothing was saved.", err=True)
            sys.exit(130)

    return wrapper


def _close_progress_bars() -> None:
    """Close any open progress bar and end its line, so that a message printed next is never
    overwritten by the bar's last redraw (tqdm closes open bars at exit)."""
    tqdm = sys.modules.get("tqdm")
    bars = list(getattr(getattr(tqdm, "tqdm", None), "_instances", []) or [])
    for bar in bars:
        bar.close()
    if bars:
        sys.stderr.write("\n")
        sys.stderr.flush()


class _EchoHandler(logging.Handler):
    """Log records of the `taskrun` loggers (plugins included) on stderr: `taskrun: message` for
    progress, `taskrun: warning: message` for warnings. Only rank 0 of a distributed launch speaks."""

    def emit(self, record: logging.LogRecord) -> None:
        if not is_main_process():
            return
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        click.echo(f"taskrun: {level}{record.getMessage()}", err=True)


def _show_log_messages() -> None:
    logger = logging.getLogger("taskrun")
    if not any(isinstance(h, _EchoHandler) for h in logger.handlers):
        logger.addHandler(_EchoHandler())
        logger.setLevel(logging.INFO)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="taskrun")
def main() -> None:
    """Fine-tune and evaluate a pretrained Hugging Face model on a task, in one command.

    \b
    taskrun list                      the tasks you can run
    taskrun run mrpc --model embedded --data-dir glue/MRPC
    taskrun run TASK --help           a task's options and defaults
    """
    _show_log_messages()


# -- list ---------------------------------------------------------------------------------------


@main.command("list")
@click.option("--plugins", "show_plugins", is_flag=True, help="List the plugins instead of the tasks.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
@click.pass_context
@_handle_errors
def list_tasks(ctx: click.Context, show_plugins: bool, as_json: bool) -> None:
    """Show every task: built-in ones and those that installed plugins add."""
    manager = _manager(ctx)
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
    _table(
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
    from .metrics import default_metric_names

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

    _table(
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


def _table(header: list[str], rows: list[list[Any]]) -> None:
    """Columns padded to their widest cell; the last column runs free."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [f"{cell:<{width}}" for cell, width in zip(row, widths)] + [str(row[-1])]
        click.echo("  ".join(cells).rstrip())


@main.command("info")
@click.argument("task_name", metavar="TASK")
@click.pass_context
@_handle_errors
def info(ctx: click.Context, task_name: str) -> None:
    """Everything about one task: data, labels, metrics, defaults, options."""
    manager = _manager(ctx)
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


@main.command("new-plugin")
@click.argument("name")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to create the package folder taskrun-NAME.",
)
@click.pass_context
@_handle_errors
def new_plugin(ctx: click.Context, name: str, directory: Path) -> None:
    """Write a plugin package for task NAME: module, pyproject.toml, a test and sample data."""
    from .scaffold import write_plugin

    tasks = {task: spec.plugin or "" for task, spec in _manager(ctx).tasks().items()}
    target = write_plugin(name, directory, tasks)
    click.echo(f"Created {target}/ with the plugin module, pyproject.toml, tests and sample data. Next:")
    click.echo(f"  cd {target} && pip install -e . && taskrun list --plugins && python -m pytest")


# -- predict and eval ----------------------------------------------------------------------------


@main.command("predict")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("texts", nargs=-1)
@click.option(
    "--input",
    "input_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A CSV, TSV or JSON Lines file; its columns are kept and the label and score added.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write CSV, TSV or JSON Lines (by extension) instead of printing a table.",
)
@click.option("--text-column", help="--input: the text column [default: the one the model trained on, or text].")
@click.option("--text-pair-column", help="--input, pair models: the second text column.")
@click.option("--all-scores", is_flag=True, help="Add the probability of every label.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option(
    "--precision",
    type=click.Choice(["run", "fp32", "bf16"]),
    default="run",
    show_default=True,
    help="run: the precision the model was trained and evaluated in (recorded in run_config.json).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "tsv", "jsonl"]),
    help="--input format, if the extension does not tell.",
)
@click.option("--encoding", default="utf-8", show_default=True, help="--input encoding.")
@click.pass_context
@_handle_errors
def predict_command(
    ctx,
    run_dir,
    texts,
    input_file,
    output,
    text_column,
    text_pair_column,
    all_scores,
    batch_size,
    precision,
    fmt,
    encoding,
) -> None:
    """Label texts with a finished run's model.

    Texts come as arguments, from --input, or one per line on standard input. A pair model
    (mrpc, say) takes the two texts separated by a tab, or two columns of --input.
    """
    from . import inference

    if texts and input_file:
        raise UsageError("give texts as arguments or --input, not both.")
    if output:
        inference.check_output_path(output)  # before any model is loaded
    if not texts and not input_file and sys.stdin.isatty():
        raise UsageError("no texts: give them as arguments, with --input FILE, or on standard input.")
    manager = _manager(ctx)
    run = inference.load_run(run_dir, manager=manager)
    if input_file:
        options = {
            "text_column": text_column,
            "text_pair_column": text_pair_column,
            "format": fmt,
            "encoding": encoding,
        }
        inputs = run.family.predict_file(input_file, run, options)
    elif texts:
        inputs = run.family.predict_texts(list(texts), run, "argument")
    else:
        try:
            inputs = run.family.predict_texts(list(sys.stdin), run, "line")
        except UnicodeDecodeError as exc:
            raise UsageError(f"standard input is not valid {sys.stdin.encoding}: {exc.reason}") from exc
    if not inputs.rows:
        if input_file:
            raise UsageError(f"{input_file}: no rows to label.")
        raise UsageError(f"no texts to label: the {'arguments' if texts else 'standard input'} held none.")
    chosen = None if precision == "run" else precision
    outcome = inference.predict(manager, run, inputs, batch_size, all_scores, chosen)
    if outcome.empty:
        shown = ", ".join(outcome.empty[:5]) + (" ..." if len(outcome.empty) > 5 else "")
        click.echo(f"taskrun: {len(outcome.empty)} empty text(s) left without an answer: {shown}", err=True)
    if outcome.truncated:
        click.echo(f"taskrun: {outcome.truncated} text(s) longer than {run.max_length} tokens were truncated", err=True)
    if output:
        suffix = output.suffix.lower()
        rows = run.family.output_rows(outcome.rows, suffix)
        inference.write_rows(rows, output, run.family.output_columns(suffix))
        click.echo(f"taskrun: {len(outcome.rows)} prediction(s) written to {output}", err=True)
    else:
        header, rows = run.family.table(outcome.answers, [_short(text) for text in outcome.texts])
        _table(header, rows)


predict_command.params.insert(0, config_file_option())


def _short(text: str, width: int = 60) -> str:
    """A text cut to fit a table's column."""
    return text if len(text) <= width else text[: width - 1] + "…"


class TaskGroup(click.Group):
    """A group with one subcommand per registered task, built when asked for (`run`, `eval`)."""

    @staticmethod
    def build(task: TaskSpec) -> click.Command:
        raise NotImplementedError

    def list_commands(self, ctx: click.Context) -> list[str]:
        return _handle_errors(lambda: list(_manager(ctx).tasks()))()

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return _handle_errors(lambda: self.build(_manager(ctx).task(name)))()


class EvalGroup(TaskGroup):
    build = staticmethod(lambda task: _eval_command(task))


class RunGroup(TaskGroup):
    build = staticmethod(lambda task: _task_command(task))


class TuneGroup(TaskGroup):
    build = staticmethod(lambda task: _tune_command(task))


@main.group("eval", cls=EvalGroup)
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def eval_group(ctx: click.Context, run_dir: Path) -> None:
    """Score a finished run's model on TASK's validation or test split.

    Labels are matched by name through the model's saved id2label; `taskrun eval RUN_DIR TASK
    --help` shows the task's data options.
    """
    ctx.meta["taskrun.run_dir"] = run_dir


def _eval_command(task: TaskSpec) -> click.Command:
    @click.pass_context
    @_handle_errors
    def callback(ctx: click.Context, **values: Any) -> None:
        from .api import evaluation
        from .settings import given_options

        run_dir = ctx.meta["taskrun.run_dir"]
        metrics = evaluation(_manager(ctx), run_dir, task, values, given_options(ctx, task))
        scores = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        click.echo(f"taskrun: {run_dir} on {task.name} {metrics['split']} ({metrics['samples']:,} examples): {scores}")
        for line in _per_class_lines(metrics.get("per_class", {})):
            click.echo(line)

    return click.Command(task.name, params=eval_options(task), callback=callback, help=f"Score a model on {task.name}.")


# -- run ----------------------------------------------------------------------------------------


def _task_command(task: TaskSpec) -> click.Command:
    @click.pass_context
    @_handle_errors
    def callback(ctx: click.Context, print_config: bool, seeds: tuple[int, ...] | None, **values: Any) -> None:
        from .settings import config_from_values, option_record, settings_file_text, sources

        config = config_from_values(task, values, sources(ctx, task))
        if print_config:
            record = option_record(config)
            if seeds:
                record["seeds"] = {"value": list(seeds), "source": config.sources["seeds"]}
            click.echo(settings_file_text(task.name, record), nl=False)
            return
        _run_and_report(_manager(ctx), config, seeds)

    data = f" Data: {task.data_source}" if task.data_source else ""
    help_text = f"{task.description}\n\nPlugin: {task.plugin}.{data}"
    return click.Command(
        task.name, params=run_options(task), callback=callback, help=help_text, short_help=task.description
    )


@main.group("run", cls=RunGroup)
def run_group() -> None:
    """Fine-tune a model on TASK, evaluate it on the validation split, and save it.

    `taskrun run TASK --help` shows the task's options and defaults.
    """


@main.group("tune", cls=TuneGroup)
def tune_group() -> None:
    """Search TASK's hyperparameters with Optuna: each trial a run, the best one's settings kept.

    `taskrun tune TASK --help` shows the options: every `run` option (fixed for all trials),
    --trials, --space, and --seeds to score each trial by its mean over several seeds.
    """


def _tune_command(task: TaskSpec) -> click.Command:
    @click.pass_context
    @_handle_errors
    def callback(ctx: click.Context, **values: Any) -> None:
        from .api import tune_output
        from .search import BEST, SUMMARY, summary_rows, tune
        from .settings import config_from_values, sources

        trials, space, seeds = values["trials"], values["space"], values["seeds"]
        config = config_from_values(task, tune_output(task, values), sources(ctx, task))
        outcome = _interruptible(lambda: tune(_manager(ctx), config, trials, space, seeds), config.output_dir)
        minutes, secs = divmod(int(round(outcome.summary["seconds"])), 60)
        finished = sum(1 for row in outcome.summary["trials"] if row["state"] != "interrupted")
        click.echo(f"\ntaskrun: {task.name}, {finished} trial(s) in {minutes}m {secs:02d}s")
        _table(*_split(summary_rows(outcome.summary)))
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


def _run_and_report(manager: TaskrunPluginManager, config: RunConfig, seeds: Sequence[int] | None = None) -> None:
    """Run (once, or once per seed), print the summary."""
    from .runner import RunResult, run
    from .seeds import run_seeds

    outcome = _interruptible(
        lambda: run_seeds(manager, config, seeds) if seeds else run(manager, config), config.output_dir, bool(seeds)
    )
    if isinstance(outcome, RunResult):
        if outcome.main_process:
            click.echo(summary(outcome.metrics, config, outcome.seconds))
    elif is_main_process():
        _seeds_summary(outcome)


def _interruptible(work: Callable[[], Any], output_dir: Path, several_runs: bool = True) -> Any:
    """Do `work`; Ctrl-C or SIGTERM (a scheduler's preemption) stops it: the runner cleans up,
    complete checkpoints and finished runs stay, and the message says how to continue (exit 130)."""
    import signal

    from .checkpoints import checkpoint_folder, complete_checkpoints

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return work()
    except KeyboardInterrupt:
        if several_runs:
            message = (
                f"\nInterrupted. The finished runs in {output_dir} are kept: the same command with "
                "--resume auto continues (an interrupted run from its newest complete checkpoint)."
            )
        elif complete_checkpoints(checkpoint_folder(output_dir), hashes=False):
            message = (
                f"\nInterrupted. Complete checkpoints are kept in {checkpoint_folder(output_dir)}: "
                "the same command with --resume auto continues from the newest."
            )
        else:
            message = "\nInterrupted before the first checkpoint: nothing was saved."
        click.echo(message, err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _seeds_summary(outcome: Any) -> None:
    """The table after --seeds: each metric's mean ± standard deviation and each seed's value."""
    from .seeds import SUMMARY, summary_table

    minutes, secs = divmod(int(round(outcome.summary["total_seconds"])), 60)
    seeds = ", ".join(map(str, outcome.summary["seeds"]))
    click.echo(f"\ntaskrun: {outcome.summary['task']}, seeds {seeds}, finished in {minutes}m {secs:02d}s")
    _table(*_split(summary_table(outcome.summary)))
    click.echo(f"  output   {outcome.output_dir}/ (seed-N/ runs, {SUMMARY})")


def _split(rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    return rows[0], rows[1:]


def summary(metrics: dict[str, Any], config: RunConfig, seconds: float) -> str:
    """The lines printed when a run ends: task, model, metrics, time, where the files are."""
    from .rundir import METRICS, MODEL_CARD, RUN_CONFIG
    from .scoring import scores_of

    train, evaluation = metrics["train"], metrics["eval"]
    scores = "  ".join(f"{k} {v:.4f}" for k, v in scores_of(evaluation).items())
    minutes, secs = divmod(int(round(seconds)), 60)
    return "\n".join(
        [
            "",
            f"taskrun: {metrics['task']} finished in {minutes}m {secs:02d}s",
            f"  model    {config.model}",
            f"  train    {train['samples']:,} examples, {config.epochs:g} epoch(s), "
            f"{train['samples_per_second']:.1f} samples/s, {train['tokens_per_second']:,.0f} tokens/s",
            f"  eval     {evaluation['samples']:,} validation examples: {scores}",
            *_per_class_lines(evaluation.get("per_class", {})),
            f"  output   {config.output_dir}/ (model, tokenizer, {METRICS}, {RUN_CONFIG}, {MODEL_CARD})",
            *([f"  pictures {', '.join(metrics['pictures'])}"] if metrics.get("pictures") else []),
        ]
    )


MAX_CLASS_LINES = 20


def _per_class_lines(per_class: dict[str, dict[str, float]]) -> list[str]:
    """A small table of precision, recall, F1 and support per class: the most frequent
    MAX_CLASS_LINES classes where there are more (all of them are in metrics.json)."""
    if not per_class:
        return []
    frequent = set(sorted(per_class, key=lambda name: -per_class[name]["support"])[:MAX_CLASS_LINES])
    shown = {name: row for name, row in per_class.items() if name in frequent}  # in label order
    width = min(40, max(12, *(len(name) for name in shown)))
    lines = [f"           {'class':<{width}}  precision  recall  f1      support"]
    for name, row in shown.items():
        lines.append(
            f"           {name[:width]:<{width}}  {row['precision']:<9.4f}  {row['recall']:<6.4f}  "
            f"{row['f1']:<6.4f}  {row['support']}"
        )
    if len(per_class) > len(shown):
        lines.append(f"           ... {len(per_class) - len(shown)} more classes in metrics.json")
    return lines


def _add_commands() -> None:
    """Commands that live in their own modules."""
    from .compare import compare_command

    main.add_command(compare_command)


_add_commands()
