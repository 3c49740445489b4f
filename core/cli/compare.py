"""`taskrun compare RUN_DIR...`: finished runs side by side (taskrun.compare does the comparing)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..compare import check_picture_path, comparison_png, comparison_table, load_runs, table_rows, to_csv, to_json
from ..errors import UsageError
from ..options import compare_params
from .common import handle_errors, show_log_messages, table

log = logging.getLogger("taskrun")


@click.command("compare", params=compare_params())
def compare_command(folders: tuple[Path, ...], as_json: bool, as_csv: bool, picture: Path | None) -> None:
    """Compare finished runs: the settings that differ, the metrics, the time.

    A folder whose subfolders are runs (OUTPUT/seed-13/, OUTPUT/trial-0003/, ...; with `tune
    --seeds`, OUTPUT/trial-0003/seed-13/) stands for them. Only the runs' JSON files are read: no
    model is loaded.
    """
    show_log_messages()
    handle_errors(_compare)(folders, as_json, as_csv, picture)


def _compare(folders: tuple[Path, ...], as_json: bool, as_csv: bool, picture: Path | None) -> None:
    if as_json and as_csv:
        raise UsageError("--json and --csv: choose one.")
    if picture is not None:
        check_picture_path(picture)
    comparison = comparison_table(load_runs(folders))
    for warning in comparison.warnings:
        log.warning(warning)
    if as_json:
        click.echo(to_json(comparison))
    elif as_csv:
        click.echo(to_csv(comparison), nl=False)
    else:
        header, rows, notes = table_rows(comparison)
        table(header, rows)
        for note in notes:
            click.echo(note)
    if picture is not None:
        if len(comparison.runs) < 2:
            log.warning("--picture: one run, nothing to compare: no picture drawn")
        else:
            comparison_png(comparison, picture)
            log.info("picture written to %s", picture)
