"""`taskrun compare` on real runs of the tiny model: the table, JSON and CSV, the picture, parent
folders that stand for their runs, and the refusal of folders that are not finished runs."""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import sentence
from taskrun.cli.compare import compare_command
from taskrun.compare import Run, natural_key, short_names, top_runs
from taskrun.rundir import MetricsRecord, RunRecord
from taskrun.testing import run_task

RECORD = ("run_config.json", "metrics.json")  # all that compare reads


@pytest.fixture(scope="module")
def runs(tiny_model, tmp_path_factory) -> dict[str, Path]:
    """Three custom-csv runs, made once: two in sweep/ that differ only by seed, one elsewhere with
    another learning rate and the first one's seed."""
    root = tmp_path_factory.mktemp("compare")
    rng = random.Random(3)
    data = root / "reviews.csv"
    rows = [f'{i},"{sentence(rng, i % 2)}",{["one", "three", "five"][i % 3]}' for i in range(48)]
    data.write_text("id,review,stars\n" + "\n".join(rows) + "\n", encoding="utf-8")
    made = {
        "seed-2": (root / "sweep" / "seed-2", "--seed", "2", "--learning-rate", "0.001"),
        "seed-10": (root / "sweep" / "seed-10", "--seed", "10", "--learning-rate", "0.001"),
        "lr-small": (root / "other" / "lr-small", "--seed", "2", "--learning-rate", "0.0001"),
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TASKRUN_CACHE_DIR", str(root / "cache"))
        env.setenv("TASKRUN_PLUGINS", "none")
        for folder, *options in made.values():
            outcome = run_task(
                "custom-csv",
                *("--train", data, "--text-column", "review", "--label-column", "stars"),
                *("--no-pictures", "--save-every", "none", *options),
                model=tiny_model,
                output_dir=folder,
                plugins=[],
            )
            assert outcome.exit_code == 0, outcome.output + outcome.stderr
    return {name: folder for name, (folder, *_) in made.items()}


def compare(*args):
    return CliRunner().invoke(compare_command, [str(a) for a in args])


def metrics_of(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def copy_record(run: Path, to: Path) -> Path:
    """A run folder holding only the run's JSON record: enough for compare, cheap to alter."""
    to.mkdir(parents=True)
    for name in RECORD:
        shutil.copy(run / name, to / name)
    return to


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_the_table_shows_the_settings_that_differ_the_metrics_and_the_best_run(runs):
    result = compare(*runs.values())
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = lines[0].split()
    assert header[:3] == ["RUN", "LEARNING_RATE", "SEED"]
    for same in (
        "BATCH_SIZE",
        "EPOCHS",
        "MODEL",
        "TASK",
        "OUTPUT_DIR",
        "FILES",
        "VERSIONS.TORCH",
        "TASK_OPTIONS.TRAIN",
    ):
        assert same not in header
    # custom-csv's primary metric (the one that picked each model) first
    assert header[3] == "MATTHEWS_CORRELATION" and header[-3:] == ["LOSS", "TIME", "SAMPLES/S"]
    assert {"ACCURACY", "MACRO_F1"} <= set(header)
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert list(rows) == ["seed-2", "seed-10", "lr-small"]  # the shortest names that tell them apart
    assert rows["seed-10"][1:3] == ["0.001", "10"] and rows["lr-small"][1:3] == ["0.0001", "2"]
    mcc = {name: metrics_of(folder)["eval"]["matthews_correlation"] for name, folder in runs.items()}
    assert all(cells[3] == f"{mcc[name]:.4f}" for name, cells in rows.items())
    starred = {name for name, cells in rows.items() if cells[4:5] == ["*"]}
    if len(set(mcc.values())) > 1:  # all tied: nothing is marked (test_the_best_runs_are_marked)
        assert starred == {name for name, value in mcc.items() if value == max(mcc.values())}
        assert lines[4] == "* best matthews_correlation (higher is better)"
    else:
        assert not starred and len(lines) == 4


def test_the_best_runs_are_marked_by_the_direction_of_their_primary_metric(runs, tmp_path):
    def variant(name: str, accuracy: float, loss: float, primary: str = "accuracy", chosen: str = "") -> Path:
        """A copy of a run with these figures; `chosen`: its --metric-for-best, else the primary."""
        folder = copy_record(runs["seed-2"], tmp_path / name)
        edit(folder / "run_config.json", lambda c: c.update(seed=ord(name[0])))
        picked = chosen or primary
        edit(
            folder / "metrics.json",
            lambda m: (
                m["eval"].update(accuracy=accuracy, loss=loss),
                m.update(primary_metric={"name": primary, "greater_is_better": primary != "loss"}),
                m["best"].update(metric=picked, greater_is_better=picked != "loss"),
            ),
        )
        return folder

    def best(*folders: Path) -> list[bool]:
        result = compare(*folders, "--json")
        assert result.exit_code == 0, result.output
        return [row["best"] for row in json.loads(result.stdout)["runs"]]

    a, b, c = variant("a", 0.5, 0.3), variant("b", 0.7, 0.4), variant("c", 0.7, 0.2)
    assert best(a, b, c) == [False, True, True]  # a tie for the best: both marked
    assert best(a, a.parent / "a") == [False]  # one run: nothing to mark
    lowest = variant("low", 0.9, 0.1, primary="loss"), variant("high", 0.9, 0.6, primary="loss")
    assert best(*lowest) == [True, False]
    assert best(variant("x", 0.6, 0.1), variant("y", 0.6, 0.2)) == [False, False]  # all tied: no mark
    table = compare(a, b, c).stdout.splitlines()
    assert table[0].split()[:3] == ["RUN", "SEED", "ACCURACY"]
    assert [line.split()[2:4] for line in table[1:4]] == [
        ["0.5000", table[1].split()[3]],
        ["0.7000", "*"],
        ["0.7000", "*"],
    ]
    assert table[1].split()[3] != "*" and table[4] == "* best accuracy (higher is better)"
    # issue 23, item 15: runs that picked their model by --metric-for-best loss are starred by the
    # loss, as tune scores them, not by the task's primary metric
    by_loss = variant("l1", 0.9, 0.5, chosen="loss"), variant("l2", 0.6, 0.2, chosen="loss")
    assert best(*by_loss) == [False, True]
    assert compare(*by_loss).stdout.splitlines()[3] == "* best loss (lower is better)"


def test_json_and_csv_hold_the_values_of_the_runs(runs):
    as_json = compare(*runs.values(), "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["differing_settings"] == ["learning_rate", "seed"]
    assert data["common_settings"]["batch_size"] == 8 and data["common_settings"]["task"] == "custom-csv"
    assert data["metrics"][0] == "matthews_correlation" and data["metrics"][-1] == "loss"
    assert data["warnings"] == []
    by_name = {row["run"]: row for row in data["runs"]}
    for name, folder in runs.items():
        recorded = metrics_of(folder)
        row = by_name[name]
        assert row["folder"] == str(folder.resolve())
        assert row["metrics"] == {m: recorded["eval"][m] for m in data["metrics"]}
        assert row["seconds"] == recorded["seconds"]
        assert row["samples_per_second"] == recorded["train"]["samples_per_second"]
        assert row["primary_metric"] == recorded["primary_metric"]
    assert by_name["lr-small"]["settings"] == {"learning_rate": 0.0001, "seed": 2}

    as_csv = compare(*runs.values(), "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [row["run"] for row in rows] == ["seed-2", "seed-10", "lr-small"]
    for row in rows:
        recorded = metrics_of(runs[row["run"]])
        assert float(row["accuracy"]) == recorded["eval"]["accuracy"]
        assert float(row["loss"]) == recorded["eval"]["loss"]
        assert row["best"] == str(by_name[row["run"]]["best"])
    assert [row["learning_rate"] for row in rows] == ["0.001", "0.001", "0.0001"]
    assert "batch_size" not in rows[0]


def test_a_parent_folder_stands_for_its_runs_in_natural_order(runs, tmp_path):
    sweep = tmp_path / "sweep"
    copy_record(runs["seed-10"], sweep / "trial-10")
    copy_record(runs["seed-2"], sweep / "trial-2")
    (sweep / "trial-3" / "checkpoints").mkdir(parents=True)  # interrupted: left out, with a warning
    (sweep / "notes").mkdir()  # not a run: ignored
    result = compare(sweep, "--json")
    assert result.exit_code == 0, result.output
    assert [row["run"] for row in json.loads(result.stdout)["runs"]] == ["trial-2", "trial-10"]
    assert "trial-3 is an unfinished run" in result.stderr
    # beside a run given on its own, and the same run twice: compared once
    result = compare(sweep, runs["lr-small"], sweep / "trial-2", "--json")
    assert [row["run"] for row in json.loads(result.stdout)["runs"]] == ["trial-2", "trial-10", "lr-small"]


def test_folders_that_are_not_finished_runs_are_refused_by_name(runs, tmp_path):
    unfinished = tmp_path / "unfinished"
    (unfinished / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    malformed = copy_record(runs["seed-2"], tmp_path / "malformed")
    (malformed / "metrics.json").write_text('{"task": "custom-csv",\n', encoding="utf-8")
    config_only = copy_record(runs["seed-2"], tmp_path / "config-only")
    (config_only / "metrics.json").unlink()
    listed = copy_record(runs["seed-2"], tmp_path / "listed")
    (listed / "run_config.json").write_text("[1, 2]")
    result = compare(runs["seed-2"], unfinished, empty, malformed, config_only, listed, tmp_path / "missing")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    message = result.stderr
    assert message.startswith("Error: cannot compare: 6 of the folders given are not finished runs")
    assert f"{unfinished}: an unfinished run (checkpoints/ but no run_config.json)" in message
    assert f"{empty}: not a run folder" in message
    assert f"{malformed / 'metrics.json'}: malformed JSON (line 2" in message
    assert f"{config_only / 'metrics.json'}: missing" in message
    assert f"{listed / 'run_config.json'}: malformed: a JSON object is expected" in message
    assert f"{tmp_path / 'missing'}: does not exist" in message
    assert str(runs["seed-2"]) not in message

    parent = tmp_path / "only-unfinished"
    (parent / "trial-1" / "checkpoints").mkdir(parents=True)
    result = compare(parent)
    assert result.exit_code == 2 and "(1 unfinished: trial-1)" in result.stderr


def test_the_picture_is_a_png_with_a_panel_per_metric(runs, tmp_path):
    picture = tmp_path / "compare.png"
    result = compare(*runs.values(), "--picture", picture)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("RUN")  # the table is still printed
    from matplotlib import image

    pixels = image.imread(picture)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pixels.shape[1] > pixels.shape[0] > 200

    alone = tmp_path / "alone.png"
    result = compare(runs["seed-2"], "--picture", alone)
    assert result.exit_code == 0 and not alone.exists() and "one run" in result.stderr
    result = compare(*runs.values(), "--picture", tmp_path / "compare.jpg")
    assert result.exit_code == 2 and "use a .png file name" in result.stderr
    result = compare(*runs.values(), "--picture", tmp_path / "no" / "such" / "a.png")
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_runs_of_different_tasks_are_compared_with_a_warning(runs, tmp_path):
    other = copy_record(runs["seed-2"], tmp_path / "sentiment")
    edit(other / "metrics.json", lambda m: m.update(task="sentiment"))
    edit(other / "run_config.json", lambda c: c.update(task="sentiment"))
    result = compare(runs["seed-2"], other)
    assert result.exit_code == 0, result.output
    assert "runs of different tasks (custom-csv, sentiment): their metrics are not comparable" in result.stderr
    assert result.stdout.split()[:2] == ["RUN", "TASK"]


def test_records_with_entries_added_or_missing_are_read(runs, tmp_path):
    """Newer records (an `options` mapping, `best`, `eval_history`) and older ones (no `seconds`,
    no `primary_metric`) compare alike; an option recorded twice is one setting."""
    newer = copy_record(runs["seed-10"], tmp_path / "newer")
    edit(
        newer / "run_config.json",
        lambda c: c.update(
            options={
                "learning_rate": {"value": 0.001, "source": "command line"},
                "text_column": {"value": "review", "source": "command line"},
                "seed": {"value": 10, "source": "command line"},
            }
        ),
    )
    edit(newer / "metrics.json", lambda m: m.update(best={"step": 6, "accuracy": 0.5}, eval_history=[{"step": 6}]))
    older = copy_record(runs["lr-small"], tmp_path / "older")

    def strip(m):
        del m["seconds"], m["primary_metric"], m["best"]

    edit(older / "metrics.json", strip)
    result = compare(newer, older, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["differing_settings"] == ["learning_rate", "seed"]
    row = data["runs"][1]
    recorded = metrics_of(runs["lr-small"])
    assert row["seconds"] == recorded["train"]["runtime"]  # no `seconds`: the training time
    assert row["primary_metric"] == {"name": "accuracy", "greater_is_better": True}  # the first metric


def test_the_command_joins_a_group_as_the_cli_will_add_it(runs):
    group = click.Group("taskrun")
    group.add_command(compare_command)
    result = CliRunner().invoke(group, ["compare", str(runs["seed-2"]), str(runs["seed-10"]), "--csv"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3
    assert "compare" in CliRunner().invoke(group, ["--help"]).stdout


def test_short_names_and_natural_order():
    folders = [Path("/r/a/seed-1"), Path("/r/b/seed-1"), Path("/r/b/seed-2"), Path("/r/seed-1")]
    assert short_names(folders) == ["a/seed-1", "b/seed-1", "seed-2", "r/seed-1"]
    assert sorted(["trial-10", "trial-9", "Trial-0010a", "trial-09b"], key=natural_key) == [
        "trial-9",
        "trial-09b",
        "trial-10",
        "Trial-0010a",
    ]


def test_a_picture_of_many_runs_keeps_the_best_ones_in_their_order():
    def run(value, primary="accuracy", higher=True):
        metrics = {"eval": {primary: value}, "primary_metric": {"name": primary, "greater_is_better": higher}}
        return Run(Path("/r"), RunRecord.from_dict({}), MetricsRecord.from_dict(metrics))

    assert top_runs([run(0.2), run(0.9), run(None), run(0.5), run(0.7)], 3) == [1, 3, 4]
    assert top_runs([run(0.2, "loss", False), run(0.9, "loss", False), run(0.1, "loss", False)], 2) == [0, 2]
    assert top_runs([run(0.2), run(0.1)], 5) == [0, 1]


@pytest.mark.slow
def test_compare_reads_json_only(runs):
    """Neither importing the module nor comparing loads torch or transformers."""
    probe = (
        "import sys\n"
        "import taskrun.compare as c\n"
        "assert not {'torch', 'transformers', 'numpy', 'matplotlib'} & set(sys.modules), sorted(sys.modules)\n"
        "c.comparison_table(c.load_runs(sys.argv[1:]))\n"
        "assert not {'torch', 'transformers'} & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", probe, *map(str, runs.values())], check=True)
