"""Plugins installed as real packages (pip, entry-point group `taskrun`), run in real processes.

One session fixture pip-installs the example plugin from examples/ and a few deliberately faulty
packages into a folder of their own; each test puts that folder on PYTHONPATH and picks the
plugins it wants with TASKRUN_PLUGINS, exactly as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import OFFLINE_BUILD

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "taskrun-topics"
pytestmark = pytest.mark.slow  # pip installs, and every test starts python

FAULTY = {
    # entry-point name: module source
    "broken-import": "import a_dependency_that_is_not_installed\n",
    "bad-hook": textwrap.dedent("""
        from taskrun import hookimpl

        @hookimpl
        def taskrun_load_datset(task, config):  # misspelled hook name
            return None
    """),
    "aaa-dup": textwrap.dedent("""
        from taskrun import TaskSpec, hookimpl

        @hookimpl
        def taskrun_register_tasks(register):
            register(TaskSpec(name="topics", description="a second topics task"))
            register(TaskSpec(name="mrpc", description="a second mrpc task"))
    """),
    "zzz-dup": textwrap.dedent("""
        from taskrun import TaskSpec, hookimpl

        @hookimpl
        def taskrun_register_tasks(register):
            register(TaskSpec(name="topics", description="yet another topics task"))
    """),
    "sloppy": textwrap.dedent("""
        from taskrun import TaskSpec, hookimpl

        @hookimpl
        def taskrun_register_tasks(register):
            register(TaskSpec(name="sloppy", description="a task whose hooks forget to check the task name"))

        @hookimpl(tryfirst=True)
        def taskrun_load_dataset(task, config):  # answers for any task it is asked about
            raise RuntimeError(f"sloppy took over {task.name}")
    """),
    "exploding": textwrap.dedent("""
        from taskrun import TaskSpec, hookimpl

        @hookimpl
        def taskrun_register_tasks(register):
            register(TaskSpec(name="exploding", description="a task whose data loader fails",
                              default_model="embedded"))

        @hookimpl
        def taskrun_load_dataset(task, config):
            if task.name == "exploding":
                return {}["no such key"]
    """),
}


def _package(parent: Path, name: str, source: str) -> Path:
    module = "tr_" + name.replace("-", "_")
    folder = parent / name
    folder.mkdir()
    (folder / f"{module}.py").write_text(source)
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(f'''
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "tr-{name}"
        version = "0.0.1"
        [project.entry-points.taskrun]
        {name} = "{module}"
        [tool.setuptools]
        py-modules = ["{module}"]
    ''')
    )
    return folder


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """A folder with the example plugin and the faulty ones installed by pip."""
    sources = tmp_path_factory.mktemp("plugin-sources")
    target = tmp_path_factory.mktemp("plugin-site")
    packages = [str(EXAMPLE)] + [str(_package(sources, name, source)) for name, source in FAULTY.items()]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", *OFFLINE_BUILD, "--target", str(target), *packages],
        check=True,
        capture_output=True,
    )
    return target


def taskrun(site: Path, *args, plugins: str | None, **env):
    """`python -m taskrun ARGS` with the installed folder on the path and TASKRUN_PLUGINS=plugins."""
    environment = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", **env}
    environment.pop("TASKRUN_PLUGINS", None)
    if plugins is not None:
        environment["TASKRUN_PLUGINS"] = plugins
    return subprocess.run(
        [sys.executable, "-m", "taskrun", *map(str, args)], capture_output=True, text=True, env=environment, timeout=300
    )


def test_an_installed_plugin_is_listed_with_its_distribution(site):
    listed = taskrun(site, "list", plugins="topics")
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:3] == ["topics", "topics", "1.0.0"] for line in listed.stdout.splitlines())
    plugins = json.loads(taskrun(site, "list", "--plugins", "--json", plugins="topics").stdout)["plugins"]
    topics = next(p for p in plugins if p["plugin"] == "topics")
    assert topics["distribution"] == "taskrun-topics" and topics["version"] == "1.0.0"
    assert topics["hooks"] == ["taskrun_load_dataset", "taskrun_register_tasks"]
    info = taskrun(site, "info", "topics", plugins="topics").stdout
    assert "business, science, sports, world" in info and "--data-file" in info and "taskrun-topics 1.0.0" in info


@pytest.fixture(scope="module")
def topics_run(site, tiny_model, tmp_path_factory):
    """The installed `topics` task run end to end, with a plugin that cannot be imported installed
    beside it: (the finished process, its output folder)."""
    out = tmp_path_factory.mktemp("topics") / "run"
    options = ("--model", tiny_model, "--output-dir", out, "--epochs", "1", "--precision", "fp32")
    return taskrun(site, "run", "topics", *options, plugins="topics,broken-import"), out


def test_an_installed_plugin_runs_end_to_end(topics_run):
    result, out = topics_run
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    assert list(config["id2label"].values()) == ["business", "science", "sports", "world"]
    assert json.loads((out / "run_config.json").read_text())["plugin"] == "topics"


def test_the_example_plugins_own_tests_pass(site):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_broken_plugins_are_listed_and_everything_else_works(site, topics_run):
    listed = taskrun(site, "list", "--plugins", plugins="topics,broken-import,bad-hook")
    assert listed.returncode == 0
    assert "broken-import: cannot be imported: ModuleNotFoundError" in listed.stdout
    assert "bad-hook: has invalid hooks" in listed.stdout and "taskrun_load_datset" in listed.stdout
    tasks = taskrun(site, "list", plugins="topics,broken-import,bad-hook")
    assert "topics" in tasks.stdout and "mrpc" in tasks.stdout and "broken-import" in tasks.stderr
    run, _ = topics_run  # the run with broken-import installed beside topics
    assert run.returncode == 0, run.stderr
    missing = taskrun(site, "run", "its-task", "--help", plugins="broken-import")
    assert missing.returncode == 2 and "Broken plugins that may provide it: broken-import" in missing.stderr


def test_strict_switch_makes_a_broken_plugin_fatal(site):
    result = taskrun(site, "list", plugins="topics,broken-import", TASKRUN_STRICT_PLUGINS="1")
    assert result.returncode == 4
    assert "plugin 'broken-import' cannot be imported" in result.stderr and "Traceback" not in result.stderr


def test_allow_list_limits_the_installed_plugins(site):
    none = taskrun(site, "list", plugins="")
    assert "topics" not in none.stdout and "mrpc" in none.stdout and none.stderr == ""
    also_none = taskrun(site, "list", plugins="none")
    assert also_none.stdout == none.stdout
    everything = taskrun(site, "list", plugins=None)
    assert "topics" not in everything.stdout  # aaa-dup and zzz-dup also register it: a conflict
    assert "broken-import" in everything.stderr


@pytest.mark.parametrize("other", ["aaa-dup", "zzz-dup"])  # entry points sorted before and after `topics`
def test_a_task_name_registered_twice_names_both_plugins(site, other):
    result = taskrun(site, "run", "topics", "--help", plugins=f"topics,{other}")
    assert result.returncode == 4
    assert "task 'topics' is registered by more than one plugin" in result.stderr
    assert "'topics'" in result.stderr and f"'{other}'" in result.stderr


def test_a_plugin_cannot_take_over_a_built_in_task(site):
    result = taskrun(site, "run", "mrpc", "--help", plugins="aaa-dup")
    assert result.returncode == 4 and "'aaa-dup' and 'glue-mrpc'" in result.stderr


def test_an_installed_plugin_that_answers_for_any_task_leaves_the_others_untouched(
    site, tiny_model, tmp_path, mrpc_dir
):
    """Installed, as test_contract.py checks it registered in process (there on two built-in tasks)."""
    options = ("--model", tiny_model, "--epochs", "1", "--precision", "fp32", "--batch-size", "8")
    mrpc = taskrun(
        site, "run", "mrpc", "--data-dir", mrpc_dir, "--output-dir", tmp_path / "m", *options, plugins="sloppy"
    )
    assert mrpc.returncode == 0, mrpc.stderr
    assert "sloppy took over" not in mrpc.stderr
    own = taskrun(site, "run", "sloppy", "--output-dir", tmp_path / "s", *options, plugins="sloppy")
    assert own.returncode == 4 and "sloppy took over sloppy" in own.stderr  # its own task: it is asked


def test_an_exception_in_an_installed_hook_names_plugin_hook_and_task(site, tmp_path):
    args = ("run", "exploding", "--output-dir", tmp_path / "run")
    result = taskrun(site, *args, plugins="exploding")
    assert result.returncode == 4
    assert (
        "plugin 'exploding' failed in taskrun_load_dataset for task 'exploding': KeyError: 'no such key'"
        in result.stderr
    )
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()
    traced = taskrun(site, *args, plugins="exploding", TASKRUN_TRACEBACK="1")
    assert "Traceback" in traced.stderr and "tr_exploding.py" in traced.stderr
    assert traced.returncode == 4 and "plugin 'exploding' failed in taskrun_load_dataset" in traced.stderr


def test_hook_tracing_shows_every_call(site):
    result = taskrun(site, "list", plugins="topics", TASKRUN_TRACE_HOOKS="1")
    assert "taskrun_register_tasks [topics]" in result.stderr
    assert "taskrun_register_tasks [glue-mrpc]" in result.stderr


def test_listing_with_installed_plugins_imports_no_heavy_library(site):
    probe = (
        "import sys; from taskrun.manager import build_manager; m = build_manager(); m.tasks(); "
        "assert 'topics' in m.tasks(), m.broken; "
        "print(sorted(x for x in ('torch', 'transformers', 'datasets') if x in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site), "TASKRUN_PLUGINS": "topics"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
