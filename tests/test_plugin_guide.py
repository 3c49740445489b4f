"""The plugin-author guide (docs/plugins.md) is exact: every hook's signature is in it, and its
minimal plugin and its test, copied out of the guide, install with pip, list, run and pass."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OFFLINE_BUILD
from taskrun import hookspecs

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "plugins.md").read_text()
HOOK_NAMES = sorted(name for name in dir(hookspecs) if name.startswith("taskrun_"))


def rendered_signature(name: str) -> str:
    signature = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"def {name}({params}) -> {signature.return_annotation}"


def test_every_hook_is_in_the_guide_with_its_exact_signature():
    for name in HOOK_NAMES:
        assert f"### {name}\n" in GUIDE, f"{name} has no section in docs/plugins.md"
        assert rendered_signature(name) in GUIDE, f"docs/plugins.md shows another signature for {name}"
        kind = "Firstresult" if getattr(hookspecs, name).taskrun_spec.get("firstresult") else "Collecting"
        section = GUIDE.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        assert kind in section and "`None`" in section and "@hookimpl" in section, name


def _block(language: str, marker: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", GUIDE, flags=re.S)
    return next(block for block in blocks if marker in block)


@pytest.mark.slow  # pip-installs the plugin, starts taskrun and pytest
def test_the_guides_minimal_plugin_installs_lists_runs_and_tests(tmp_path):
    package = tmp_path / "taskrun-headlines"
    (package / "tests").mkdir(parents=True)
    (package / "taskrun_headlines.py").write_text(_block("python", 'TASK = "headlines"'))
    (package / "pyproject.toml").write_text(_block("toml", 'name = "taskrun-headlines"'))
    (package / "tests" / "test_headlines.py").write_text(_block("python", "def test_headlines_runs"))
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", *OFFLINE_BUILD, "--target", str(site), str(package)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site), "TASKRUN_PLUGINS": "headlines"}

    listed = subprocess.run([sys.executable, "-m", "taskrun", "list"], capture_output=True, text=True, env=env)
    assert any(line.startswith("headlines ") for line in listed.stdout.splitlines()), listed.stdout + listed.stderr
    plugins = subprocess.run(
        [sys.executable, "-m", "taskrun", "list", "--plugins"], capture_output=True, text=True, env=env
    )
    assert "taskrun-headlines" in plugins.stdout

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=package,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "1 passed" in tests.stdout
