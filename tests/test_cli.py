"""The command line: help, listing, errors, and that listing stays light."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from taskrun.registry import load_catalogue


def test_list_shows_the_built_in_tasks_with_their_plugins(cli):
    result = cli("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TASK", "PLUGIN", "PROBLEM", "DESCRIPTION"]
    rows = {line.split()[0]: line.split()[1:4:2] for line in lines[1:]}
    assert rows == {
        "custom-csv": ["custom-csv", "single-label"],
        "mrpc": ["glue-mrpc", "single-label"],
        "ner": ["ner", "token-classification"],
        "sentiment": ["sentiment", "single-label"],
    }


def test_task_help_shows_shared_and_own_options_with_registry_defaults(cli):
    mrpc = cli("run", "mrpc", "--help").stdout
    for option in (
        "--model",
        "--output-dir",
        "--epochs",
        "--learning-rate",
        "--batch-size",
        "--max-length",
        "--seed",
        "--max-train-samples",
        "--max-eval-samples",
        "--data-dir",
    ):
        assert option in mrpc
    defaults = load_catalogue()["mrpc"].hyperparameters
    assert f"[default: {defaults['epochs']:g}" in mrpc
    csv_help = cli("run", "custom-csv", "--help").stdout
    assert "--text-column" in csv_help and "--label-column" in csv_help and "--data-dir" not in csv_help


def test_run_without_task_lists_the_tasks(cli):
    result = cli("run", "--help")
    assert result.exit_code == 0 and "mrpc" in result.stdout and "custom-csv" in result.stdout


def test_bad_option_value_is_a_usage_error(cli):
    result = cli("run", "mrpc", "--epochs", "zero")
    assert result.exit_code == 2 and "--epochs" in result.stderr


def test_traceback_variable_adds_the_traceback_and_keeps_the_exit_code(cli, monkeypatch, tmp_path):
    """Issue 23, item 10: TASKRUN_TRACEBACK=1 turned every exit code into 1."""
    monkeypatch.setenv("TASKRUN_TRACEBACK", "1")
    result = cli("run", "custom-csv", "--train", tmp_path / "absent.csv", "--model", "embedded")
    assert result.exit_code == 2  # a data error, as without the variable
    assert "Traceback (most recent call last)" in result.stderr and "DataError" in result.stderr
    assert f"Error: {tmp_path / 'absent.csv'}: no such file" in result.stderr


@pytest.mark.slow  # starts python and the console script
def test_console_script_lists_tasks_without_importing_torch(tmp_path):
    """`taskrun --help` and `taskrun list` load every plugin but never torch or transformers."""
    probe = (
        "import sys; from taskrun.cli import main; from taskrun.manager import build_manager; "
        "build_manager().tasks(); "
        "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))"
    )
    env = {**os.environ, "TASKRUN_PLUGINS": ""}
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert loaded.stdout.strip() == "[]"
    script = Path(sys.executable).with_name("taskrun")
    listed = subprocess.run([str(script), "list"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and "mrpc" in listed.stdout
    version = subprocess.run([sys.executable, "-m", "taskrun", "--version"], capture_output=True, text=True, env=env)
    assert version.returncode == 0 and "taskrun" in version.stdout
