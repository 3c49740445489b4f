"""The guide's three complete tasks (docs/plugins.md), taken out of the guide as printed, run end to
end: sentence pairs, regression, and a headerless single-sentence task scored by Matthews
correlation. A new author can write each with taskrun's toolkit alone."""

from __future__ import annotations

import random
import re
import types
from pathlib import Path

import pytest
from taskrun.testing import run_task

GUIDE = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
WORDS = "the a film plot was very good bad dull lovely great awful market shares rose fell".split()


def plugin_from_guide(marker: str) -> types.ModuleType:
    block = next(b for b in re.findall(r"```python\n(.*?)```", GUIDE, flags=re.S) if marker in b)
    module = types.ModuleType(marker.split('"')[1].replace("-", "_"))
    exec(compile(block, f"docs/plugins.md ({marker})", "exec"), module.__dict__)
    return module


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(6))


def write(path: Path, header: list[str] | None, rows: list[list[str]]) -> None:
    lines = ([header] if header else []) + rows
    path.write_text("".join("\t".join(row) + "\n" for row in lines), encoding="utf-8")


@pytest.fixture
def folder(tmp_path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    return data


def test_the_sentence_pair_task(folder, tiny_model, tmp_path):
    rng = random.Random(1)
    for name, n in (("train.tsv", 24), ("dev.tsv", 8)):
        rows = []
        for i in range(n):
            first = sentence(rng)
            rows.append([first, first if i % 2 else sentence(rng), str(i % 2)])
        write(folder / name, ["question1", "question2", "is_duplicate"], rows)
    plugin = plugin_from_guide('name="duplicate-questions"')
    result = run_task(
        "duplicate-questions", "--data-dir", folder, model=tiny_model, output_dir=tmp_path / "o", plugins=[plugin]
    )
    assert result.exit_code == 0, result.stderr
    assert result.labels == ["different", "duplicate"]
    assert {"accuracy", "f1", "matthews_correlation"} <= set(result.metrics["eval"])
    assert result.metrics["primary_metric"] == {"name": "f1", "greater_is_better": True}


def test_the_regression_task(folder, tiny_model, tmp_path):
    rng = random.Random(2)
    for name, n in (("train.tsv", 24), ("dev.tsv", 8)):
        write(
            folder / name,
            ["sentence1", "sentence2", "score"],
            [[sentence(rng), sentence(rng), f"{rng.uniform(0, 5):.2f}"] for _ in range(n)],
        )
    plugin = plugin_from_guide('name="similarity"')
    result = run_task("similarity", "--data-dir", folder, model=tiny_model, output_dir=tmp_path / "o", plugins=[plugin])
    assert result.exit_code == 0, result.stderr
    evaluation = result.metrics["eval"]
    assert {"pearson", "spearman", "mse", "rmse"} <= set(evaluation) and "accuracy" not in evaluation
    assert result.metrics["primary_metric"] == {"name": "pearson", "greater_is_better": True}

    bad = folder / "train.tsv"
    bad.write_text(bad.read_text() + "one\ttwo\tthree\n")  # line 26: a score that is no number
    failed = run_task("similarity", "--data-dir", folder, model=tiny_model, output_dir=tmp_path / "p", plugins=[plugin])
    assert failed.exit_code == 2
    assert "train.tsv" in failed.error and "line 26" in failed.error and "'three'" in failed.error


def test_the_headerless_task_scored_by_matthews_correlation(folder, tiny_model, tmp_path):
    rng = random.Random(3)
    for name, n in (("train.tsv", 24), ("dev.tsv", 8)):
        write(folder / name, None, [["gj04", str(i % 2), "", sentence(rng)] for i in range(n)])  # no header
    plugin = plugin_from_guide('name="acceptability"')
    result = run_task(
        "acceptability", "--data-dir", folder, model=tiny_model, output_dir=tmp_path / "o", plugins=[plugin]
    )
    assert result.exit_code == 0, result.stderr
    assert result.metrics["train"]["samples"] == 24  # the first line is a row, not a header
    assert result.metrics["primary_metric"]["name"] == "matthews_correlation"
    assert -1 <= result.metrics["eval"]["matthews_correlation"] <= 1


def test_every_taskrun_name_the_built_ins_and_the_scaffold_import_is_documented():
    """A plugin author can use whatever the built-ins and the generated plugin use: each such name
    is documented in the guide (or the import would reach into taskrun's private code)."""
    from taskrun.scaffold import MODULE

    root = Path(__file__).resolve().parents[1]
    sources = [path.read_text() for path in (root / "plugins").glob("*.py")] + [MODULE]
    sources.append((root / "examples" / "taskrun-topics" / "taskrun_topics" / "__init__.py").read_text())
    imported = set()
    for source in sources:
        for module, names in re.findall(r"from (taskrun(?:\.\w+)?) import ([\w, ]+)", source):
            imported |= {(module, name.strip()) for name in names.split(",")}
    assert len(imported) > 8
    undocumented = [
        f"{module}.{name}"
        for module, name in sorted(imported)
        if f"`{name}" not in GUIDE or (module != "taskrun" and f"`{module}`" not in GUIDE)
    ]
    assert not undocumented, f"used by built-ins or the scaffold but not in docs/plugins.md: {undocumented}"
