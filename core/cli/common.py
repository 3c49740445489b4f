"""What every command shares: the plugin manager, errors turned into messages and exit codes, log
messages on stderr, tables, and the groups with one subcommand per task.

Errors: a `TaskrunError` becomes `Error: message` on stderr and its exit code (TASKRUN_TRACEBACK=1
adds the traceback before the message, and keeps the code); Ctrl-C exits with 130.
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import click

from ..errors import TaskrunError
from ..hub import env_flag
from ..launch import exit_together, is_main_process
from ..manager import TaskrunPluginManager, build_manager
from ..task import TaskSpec


def manager_of(ctx: click.Context) -> TaskrunPluginManager:
    """The plugin manager: the one passed in as `obj` (tests), else the installed set, built once."""
    root = ctx.find_root()
    if not isinstance(root.obj, TaskrunPluginManager):
        root.obj = build_manager()
    return root.obj


def handle_errors(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TaskrunError as exc:
            close_progress_bars()
            if env_flag("TASKRUN_TRACEBACK"):  # the traceback besides the message; the exit code stays
                traceback.print_exc(file=sys.stderr)
            if not exc.shown_elsewhere:
                click.echo(f"Error: {exc.message}", err=True)
                if exc.hint:
                    click.echo(exc.hint, err=True)
            if exc.decided_for_all:  # a distributed launch: every process exits with the code
                exit_together(exc.exit_code)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            close_progress_bars()
            click.echo("\nInterrupted: nothing was saved.", err=True)
            sys.exit(130)

    return wrapper


def close_progress_bars() -> None:
    """Close any open progress bar and end its line, so that a message printed next is never
    overwritten by the bar's last redraw (tqdm closes open bars at exit)."""
    tqdm = sys.modules.get("tqdm")
    bars = list(getattr(getattr(tqdm, "tqdm", None), "_instances", []) or [])
    for bar in bars:
        bar.close()
    if bars:
        sys.stderr.write("\n")
        sys.stderr.flush()


class EchoHandler(logging.Handler):
    """Log records of the `taskrun` loggers (plugins included) on stderr: `taskrun: message` for
    progress, `taskrun: warning: message` for warnings. Only rank 0 of a distributed launch speaks."""

    def emit(self, record: logging.LogRecord) -> None:
        if not is_main_process():
            return
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        click.echo(f"taskrun: {level}{record.getMessage()}", err=True)


def show_log_messages() -> None:
    logger = logging.getLogger("taskrun")
    if not any(isinstance(h, EchoHandler) for h in logger.handlers):
        logger.addHandler(EchoHandler())
        logger.setLevel(logging.INFO)


def table(header: list[str], rows: list[list[Any]]) -> None:
    """Columns padded to their widest cell; the last column runs free."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [f"{cell:<{width}}" for cell, width in zip(row, widths)] + [str(row[-1])]
        click.echo("  ".join(cells).rstrip())


def split(rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """A table's header and rows."""
    return rows[0], rows[1:]


MAX_CLASS_LINES = 20


def per_class_lines(per_class: dict[str, dict[str, float]]) -> list[str]:
    """A small table of precision, recall, F1 and support per class: the most frequent
    MAX_CLASS_LINES classes where there are more (all of them are in metrics.json)."""
    from ..rundir import METRICS

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
        lines.append(f"           ... {len(per_class) - len(shown)} more classes in {METRICS}")
    return lines


class TaskGroup(click.Group):
    """A group with one subcommand per registered task, built when asked for (`run`, `eval`, `tune`)."""

    @staticmethod
    def build(task: TaskSpec) -> click.Command:
        raise NotImplementedError

    def list_commands(self, ctx: click.Context) -> list[str]:
        return handle_errors(lambda: list(manager_of(ctx).tasks()))()

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return handle_errors(lambda: self.build(manager_of(ctx).task(name)))()


def interruptible(work: Callable[[], Any], output_dir: Path, several_runs: bool = True) -> Any:
    """Do `work`; Ctrl-C or SIGTERM (a scheduler's preemption) stops it: the runner cleans up,
    complete checkpoints and finished runs stay, and the message says how to continue (exit 130)."""
    from ..checkpoints import checkpoint_folder, complete_checkpoints

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
