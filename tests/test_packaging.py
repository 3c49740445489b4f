"""The wheel installs `taskrun` and `taskrun.plugins` (never top-level `core`/`plugins`) and
carries registry.toml, so `taskrun list` works from a plain `pip install .`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import OFFLINE_BUILD

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # pip builds the wheel
def test_wheel_contents(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", *OFFLINE_BUILD, "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("taskrun-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "taskrun/registry.toml" in names
    assert {
        "taskrun/cli/__init__.py",
        "taskrun/cli/run.py",
        "taskrun/plugins/glue_mrpc.py",
        "taskrun/plugins/custom_csv.py",
    } <= set(names)
    assert not [n for n in names if n.split("/")[0] in ("core", "plugins", "tests")]
    registry = zipfile.ZipFile(wheel).read("taskrun/registry.toml").decode()
    assert registry == (ROOT / "registry.toml").read_text()
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "taskrun = taskrun.cli:main" in entry_points


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    command = readme.split("The full suite, as CI runs it:", 1)[1].split("```\n", 2)[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command == "python -m pytest" and any(line.split('" ')[-1] == command for line in ci_lines)
