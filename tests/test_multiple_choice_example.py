"""examples/taskrun-multiple-choice, a whole task family from a third-party package, installed by
pip into a folder of its own (as tests/test_installed_plugins.py installs taskrun-topics) and
run as a user would: listed through its entry point, and its own end-to-end tests (train,
predict, eval) run against the installed copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OFFLINE_BUILD

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "taskrun-multiple-choice"
pytestmark = pytest.mark.slow  # a pip install, and python started in subprocesses


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("multiple-choice-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", *OFFLINE_BUILD, "--target", str(target), str(EXAMPLE)],
        check=True,
        capture_output=True,
    )
    return target


def test_the_installed_family_is_listed_with_its_distribution(site):
    env = {**os.environ, "PYTHONPATH": str(site), "TASKRUN_PLUGINS": "multiple-choice"}
    listed = subprocess.run(
        [sys.executable, "-m", "taskrun", "list", "--json"], capture_output=True, text=True, env=env, timeout=300
    )
    assert listed.returncode == 0, listed.stderr
    task = next(row for row in json.loads(listed.stdout)["tasks"] if row["task"] == "multiple-choice")
    assert task["family"] == "multiple-choice" and task["distribution"] == "taskrun-multiple-choice"


def test_the_examples_own_tests_pass_against_the_installed_copy(site):
    probe = "import taskrun_multiple_choice as m, sys; sys.stdout.write(m.__file__)"
    env = {**os.environ, "PYTHONPATH": str(site)}
    # -P: the example's folder (the working directory) stays off sys.path, so the pip-installed copy is tested.
    where = subprocess.run([sys.executable, "-P", "-c", probe], cwd=EXAMPLE, capture_output=True, text=True, env=env)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    result = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "10 passed" in result.stdout
