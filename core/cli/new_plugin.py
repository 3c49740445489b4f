"""`taskrun new-plugin NAME`: a plugin package to start from."""

from __future__ import annotations

from pathlib import Path

import click

from ..options import new_plugin_params
from .common import handle_errors, manager_of


@click.command("new-plugin", params=new_plugin_params())
@click.pass_context
@handle_errors
def new_plugin(ctx: click.Context, name: str, directory: Path) -> None:
    """Write a plugin package for task NAME: module, pyproject.toml, a test and sample data."""
    from ..scaffold import write_plugin

    tasks = {task: spec.plugin or "" for task, spec in manager_of(ctx).tasks().items()}
    target = write_plugin(name, directory, tasks)
    click.echo(f"Created {target}/ with the plugin module, pyproject.toml, tests and sample data. Next:")
    click.echo(f"  cd {target} && pip install -e . && taskrun list --plugins && python -m pytest")
