"""`taskrun new-plugin`: the generated package's tests pass as written, and it installs and lists."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import OFFLINE_BUILD


@pytest.mark.slow  # runs the package's tests in pytest, pip-installs it, starts taskrun
def test_generated_plugin_passes_its_tests_installs_and_lists(cli, tmp_path):
    result = cli("new-plugin", "sarcasm", "--directory", tmp_path)
    assert result.exit_code == 0, result.output
    package = tmp_path / "taskrun-sarcasm"
    assert {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()} == {
        "pyproject.toml",
        "taskrun_sarcasm.py",
        "tests/test_taskrun_sarcasm.py",
        "tests/data/train.csv",
        "tests/data/dev.csv",
        "README.md",
    }

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", *OFFLINE_BUILD, "--target", str(site), str(package)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site), "TASKRUN_PLUGINS": "sarcasm"}
    listed = subprocess.run(
        [sys.executable, "-m", "taskrun", "list", "--plugins"], capture_output=True, text=True, env=env
    )
    assert "taskrun-sarcasm" in listed.stdout and "load_dataset, metrics, register_tasks" in listed.stdout


def test_new_plugin_refuses_bad_names_taken_tasks_and_existing_folders(cli, tmp_path):
    bad = cli("new-plugin", "Bad_Name", "--directory", tmp_path)
    assert bad.exit_code == 2 and "lowercase letters" in bad.stderr
    taken = cli("new-plugin", "mrpc", "--directory", tmp_path)
    assert taken.exit_code == 2 and "plugin 'glue-mrpc'" in taken.stderr
    (tmp_path / "taskrun-again").mkdir()
    exists = cli("new-plugin", "again", "--directory", tmp_path)
    assert exists.exit_code == 2 and "exists already" in exists.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["taskrun-again"]  # nothing half-written
