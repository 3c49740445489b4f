"""`taskrun new-plugin NAME`: a plugin package whose own tests pass as soon as it is written."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import UsageError
from .files import staged_folder

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "taskrun-{name}"
version = "0.1.0"
description = "taskrun task plugin: {name}"
requires-python = ">=3.11"
dependencies = ["taskrun>=0.2"]

[project.optional-dependencies]
test = ["pytest"]

# This line is what makes taskrun find the plugin once the package is installed.
[project.entry-points.taskrun]
{name} = "{module}"

[tool.setuptools]
py-modules = ["{module}"]

[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]
"""

MODULE = '''\
"""taskrun plugin: task `{name}`, text classification from a folder with train.csv and dev.csv.

Each file has a `text` and a `label` column; labels are any strings. Change the task's
description, defaults and data loading below; the core does tokenising, batching, the model
head, training, evaluation (accuracy, F1, Matthews correlation) and saving. Import heavy
libraries inside the hooks, as here, so that `taskrun list` stays fast.
"""

from taskrun import TaskSpec, hookimpl

TASK = "{name}"


@hookimpl
def taskrun_register_tasks(register):
    register(TaskSpec(
        name=TASK,
        description="Text classification from a folder with train.csv and dev.csv.",
        text_columns=("text",),
        default_model="embedded",
        hyperparameters={{"epochs": 3, "learning_rate": 5e-5, "batch_size": 16}},
        uses_data_dir=True,
        data_source="--data-dir: a folder with train.csv and dev.csv (columns text, label).",
    ))


@hookimpl
def taskrun_load_dataset(task, config):
    # Called for this plugin's own task only.
    import datasets

    from taskrun.data import labelled_dataset, read_table, require_column, sorted_label_names
    from taskrun.errors import DataError

    if config.data_dir is None:
        raise DataError(f"task {{TASK}} needs --data-dir: a folder with train.csv and dev.csv")
    files = {{"train": "train.csv", "validation": "dev.csv"}}
    tables = {{split: read_table(config.data_dir / name) for split, name in files.items()}}
    for table in tables.values():
        require_column(table, "text", "--data-dir")
        require_column(table, "label", "--data-dir")
    names = sorted_label_names(tables["train"].column("label"))
    splits = {{}}
    for split, table in tables.items():
        for row, line in zip(table.rows, table.lines):
            if row["label"] not in names:
                raise DataError(f"{{table.path}}:{{line}}: label {{row['label']!r}} is not a training label {{names}}")
        ids = [names.index(label) for label in table.column("label")]
        splits[split] = labelled_dataset({{"text": table.column("text")}}, ids, names)
    return datasets.DatasetDict(splits)
'''

TEST = '''\
"""Runs the task end to end with taskrun's tiny test model (fixtures from taskrun.testing)."""

from pathlib import Path

import {module}

DATA = Path(__file__).parent / "data"


def test_task_runs_end_to_end(taskrun_run):
    result = taskrun_run("{name}", "--data-dir", DATA, plugins=[{module}])
    assert result.exit_code == 0, result.output + result.stderr
    assert result.labels == ["negative", "positive"]
    assert 0.0 <= result.metrics["eval"]["accuracy"] <= 1.0
    assert result.predict(["what a lovely day"])[0]["label"] in ("negative", "positive")


def test_missing_data_dir_is_a_clear_error(taskrun_run):
    result = taskrun_run("{name}", plugins=[{module}])
    assert result.exit_code == 2
    assert "needs --data-dir" in result.stderr
'''

README = """\
# taskrun-{name}

A [taskrun](https://pypi.org/project/taskrun/) task plugin: task `{name}`.

```
pip install -e ".[test]"
taskrun list --plugins          # shows {name}
taskrun run {name} --data-dir tests/data
python -m pytest
```
"""

POSITIVE = [
    "what a lovely day",
    "the film was great",
    "really good service",
    "a nice and fine story",
    "best meal of the year",
    "great actor and a good plot",
    "very nice people",
    "a really great market",
]
NEGATIVE = [
    "what an awful day",
    "the film was bad",
    "really poor service",
    "a dull and boring story",
    "worst meal of the year",
    "bad actor and a poor plot",
    "very awful people",
    "a really bad market",
]


def _csv(rows: list[tuple[str, str]]) -> str:
    return "text,label\n" + "".join(f"{text},{label}\n" for text, label in rows)


def write_plugin(name: str, parent: Path, existing_tasks: dict[str, str]) -> Path:
    """Write the package `taskrun-NAME` under `parent`; returns its folder. All or nothing."""
    if not NAME_PATTERN.match(name):
        raise UsageError(f"plugin name {name!r}: use lowercase letters, digits and '-', starting with a letter.")
    if name in existing_tasks:
        raise UsageError(f"a task named {name!r} exists already (plugin {existing_tasks[name]!r}); pick another name.")
    target = parent / f"taskrun-{name}"
    if target.exists():
        raise UsageError(f"{target} exists already; taskrun will not write over it.")
    module = "taskrun_" + name.replace("-", "_")
    values = {"name": name, "module": module}
    train = [(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE]
    dev = [(t, "positive") for t in POSITIVE[:3]] + [(t, "negative") for t in NEGATIVE[:3]]
    files = {
        "pyproject.toml": PYPROJECT.format(**values),
        f"{module}.py": MODULE.format(**values),
        f"tests/test_{module}.py": TEST.format(**values),
        "tests/data/train.csv": _csv(train),
        "tests/data/dev.csv": _csv(dev),
        "README.md": README.format(**values),
    }
    with staged_folder(target) as staging:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return target
