"""Values checked once, where options are checked, the same from the command line, a settings
file and Python (issue 23, items 8 and 17): the wrong kind of value, non-finite numbers, seeds
numpy cannot take, keys given twice, the word none, and what a failure leaves behind. Nothing
here trains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import taskrun
from taskrun.errors import UsageError


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "t.csv"
    path.write_text("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(8)), encoding="utf-8")
    return path


@pytest.fixture
def refused(cli, data, tmp_path):
    """`refused(options, file_text, name)`: `taskrun run custom-csv --print-config` with `options`
    and a settings file `name` holding `file_text`; asserts exit 2, no traceback, and returns stderr."""

    def run(options=(), text=None, name="settings.toml"):
        args = ["run", "custom-csv", "--train", data, *options, "--print-config"]
        if text is not None:
            (tmp_path / name).write_text(text, encoding="utf-8")
            args += ["--config", tmp_path / name]
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
        return result.stderr

    return run


def python_refuses(data, **options) -> str:
    with pytest.raises(UsageError) as caught:
        taskrun.run("custom-csv", plugins=[], **{"train": str(data), **options})
    return caught.value.message


# -- item 8: non-finite numbers, seeds out of range, the wrong kind of value ---------------------


@pytest.mark.parametrize(
    "options, text, expected",
    [
        (["--epochs", "nan"], None, "Invalid value for '--epochs': 'nan' is not a finite number"),
        (["--weight-decay", "inf"], None, "Invalid value for '--weight-decay': 'inf' is not a finite number"),
        (["--threshold", "nan"], None, "Invalid value for '--threshold': 'nan' is not a finite number"),
        (["--validation-fraction", "nan"], None, "'--validation-fraction': 'nan' is not a finite number"),
        ([], "epochs = inf\n", "settings.toml: epochs: inf is not a finite number"),
        ([], "learning_rate = nan\n", "settings.toml: learning_rate: nan is not a finite number"),
    ],
    ids=["cli-epochs", "cli-weight-decay", "cli-threshold", "cli-task-option", "toml-inf", "toml-nan"],
)
def test_non_finite_numbers_are_refused_where_options_are_checked(refused, options, text, expected):
    assert expected in refused(options, text)


def test_non_finite_numbers_from_python_and_in_a_search_space_are_refused(cli, data, tmp_path):
    assert "epochs: nan is not a finite number" in python_refuses(data, epochs=float("nan"))
    assert "learning_rate: inf is not a finite number" in python_refuses(data, learning_rate=float("inf"))
    space = tmp_path / "space.toml"
    space.write_text("learning_rate = { low = 1e-5, high = inf }\n", encoding="utf-8")
    result = cli("tune", "custom-csv", "--train", data, "--space", space, "--output-dir", tmp_path / "search")
    assert result.exit_code == 2, result.output
    assert f"--space {space}: hyperparameters: learning_rate must be a number above 0, and finite, not inf" in (
        result.stderr
    )
    space.write_text("epochs = { low = 1, high = 3, step = inf }\n", encoding="utf-8")
    assert (
        "epochs: step must be a finite number above 0"
        in cli("tune", "custom-csv", "--train", data, "--space", space, "--output-dir", tmp_path / "search").stderr
    )
    assert not (tmp_path / "search").exists()


@pytest.mark.parametrize(
    "options, text, expected",
    [
        (["--seed", "-1"], None, "Invalid value for '--seed': -1 is not in the range 0<=x<=4294967295"),
        (["--seeds", "1,99999999999"], None, "'--seeds': 99999999999 is not in the range 0<=x<=4294967295"),
        ([], "seed = 4294967296\n", "settings.toml: seed: 4294967296 is not in the range 0<=x<=4294967295"),
        ([], "seeds = [1, -2]\n", "settings.toml: seeds: -2 is not in the range 0<=x<=4294967295"),
    ],
    ids=["cli-seed", "cli-seeds", "file-seed", "file-seeds"],
)
def test_seeds_numpy_cannot_take_are_refused_up_front(refused, options, text, expected):
    assert expected in refused(options, text)


def test_seeds_numpy_cannot_take_are_refused_from_python(data):
    assert "seed: -1 is not in the range" in python_refuses(data, seed=-1)
    with pytest.raises(UsageError, match="seeds: 4294967296 is not in the range"):
        taskrun.run_seeds("custom-csv", [1, 2**32], plugins=[], train=str(data))


@pytest.mark.parametrize(
    "text, name, expected",
    [
        ("batch_size = true\n", "settings.toml", "batch_size: expected a whole number, not true."),
        ("seed = 1.5\n", "settings.toml", "seed: expected a whole number, not 1.5."),
        ('text_column = ["a", "b"]\n', "settings.toml", "text_column: expected one value, not a list."),
        ('{"freeze_embeddings": 1}', "settings.json", "freeze_embeddings: expected true or false, not 1."),
        ("model: 1.5\n", "settings.yaml", "model: expected text, not 1.5."),
        ("seeds: [1, true]\n", "settings.yaml", "seeds: item 2: expected a whole number, not true."),
        ("model: null\n", "settings.yaml", "model: expected text, not null (None)."),
    ],
    ids=["bool-for-int", "float-for-int", "list-for-text", "int-for-bool", "float-for-text", "bool-seed", "null"],
)
def test_a_value_of_the_wrong_kind_in_a_file_is_refused_naming_the_key(refused, tmp_path, text, name, expected):
    assert f"{tmp_path / name}: {expected}" in refused((), text, name)


def test_a_value_of_the_wrong_kind_from_python_is_refused_naming_the_key(data):
    assert "train: expected a path (text), not 5." in python_refuses(data, train=5)
    assert "epochs: expected one value, not a list." in python_refuses(data, epochs=[1])
    assert "batch_size: expected a whole number, not true." in python_refuses(data, batch_size=True)
    assert "text_column: expected text, not set {'a'}." in python_refuses(data, text_column={"a"})
    assert "report_to: item 1: expected text, not a list." in python_refuses(data, report_to=[["tensorboard"]])
    assert "problem and problem_type are one option" in python_refuses(
        data, problem="single-label", problem_type="single-label"
    )


def deep(depth: int) -> list:
    nested: list = []
    for _ in range(depth):
        nested = [nested]
    return nested


@pytest.mark.parametrize(
    "name, text",
    [
        ("deep.json", '{"seeds": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("deep.toml", "seeds = " + "[" * 100_000 + "]" * 100_000 + "\n"),
        ("deeper.toml", "seeds = [" + "{a = " * 3000 + "1" + "}" * 3000 + "]\n"),
    ],
    ids=["json", "toml-lists", "toml-tables"],
)
def test_a_deeply_nested_settings_file_is_refused_naming_it(refused, tmp_path, name, text):
    assert f"--config {tmp_path / name}: nested too deeply to be a settings file." in refused((), text, name)


def test_a_deeply_nested_value_from_python_is_refused_naming_the_key(data):
    assert "seeds: item 1: expected a whole number, not a list." in python_refuses(data, seeds=deep(100_000))


# -- item 17: the smaller ones --------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, text",
    [(["--seeds", ""], None), (["--seeds", " , "], None), ([], "seeds = []\n")],
    ids=["empty", "commas", "file"],
)
def test_seeds_that_name_no_seed_are_refused(refused, options, text):
    assert "is empty: give a comma-separated list, as 13,42,87" in refused(options, text)


def test_a_byte_order_mark_at_the_start_of_a_settings_file_is_read_past(cli, data, tmp_path):
    for name, text in (("bom.toml", "epochs = 2\n"), ("bom.json", '{"epochs": 2}'), ("bom.yaml", "epochs: 2\n")):
        (tmp_path / name).write_text("\ufeff" + text, encoding="utf-8")
        result = cli("run", "custom-csv", "--train", data, "--config", tmp_path / name, "--print-config")
        assert result.exit_code == 0, result.output
        assert f"epochs = 2.0  # config file {tmp_path / name}" in result.stdout


@pytest.mark.parametrize(
    "name, text, expected",
    [
        (
            "twice.json",
            '{"epochs": 1,\n "seed": 3,\n "epochs": 2}',
            "epochs is given twice (lines 1 and 3): give it once.",
        ),
        ("twice.yaml", "epochs: 1\nseed: 3\nepochs: 2\n", "epochs is given twice (lines 1 and 3): give it once."),
        (
            "spelled.toml",
            "learning-rate = 1e-3\nlearning_rate = 2e-3\n",
            "learning-rate and learning_rate name one option (learning_rate): give it once.",
        ),
    ],
    ids=["json", "yaml", "two-spellings"],
)
def test_a_key_given_twice_is_refused_naming_the_file_the_key_and_its_lines(refused, tmp_path, name, text, expected):
    assert f"--config {tmp_path / name}: {expected}" in refused((), text, name)


def test_a_key_given_twice_in_a_search_space_is_refused(cli, data, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate:\n  low: 1.0e-5\n  low: 2.0e-5\n  high: 1.0e-3\n", encoding="utf-8")
    result = cli("tune", "custom-csv", "--train", data, "--space", space, "--output-dir", tmp_path / "search")
    assert result.exit_code == 2, result.output
    assert f"--space {space}: line 1: learning_rate: low is given twice (lines 2 and 3)" in result.stderr


def test_none_on_the_command_line_unsets_a_files_value(cli, data, tmp_path):
    settings = tmp_path / "exp.toml"
    settings.write_text(
        'early_stopping = 3\nmax_train_samples = 5\nmax_eval_samples = 5\ndropout = 0.2\nmetric_for_best = "accuracy"\n',
        encoding="utf-8",
    )
    unset = ["--early-stopping", "none", "--max-train-samples", "none", "--max-eval-samples", "None"]
    unset += ["--dropout", "none", "--metric-for-best", "none"]
    result = cli("run", "custom-csv", "--train", data, "--config", settings, *unset, "--print-config")
    assert result.exit_code == 0, result.output
    for name in ("early_stopping", "max_train_samples", "max_eval_samples", "dropout", "metric_for_best"):
        assert f'{name} = "none"  # command line' in result.stdout
    printed = tmp_path / "printed.toml"
    printed.write_text(result.stdout, encoding="utf-8")
    again = cli("run", "custom-csv", "--train", data, "--config", printed, "--print-config")
    assert again.exit_code == 0, again.output
    assert f'early_stopping = "none"  # config file {printed}' in again.stdout
    config, _ = taskrun.api.run_config(taskrun.api.plugin_manager([]), "custom-csv", printed, {"train": str(data)})
    assert (config.early_stopping, config.max_train_samples, config.dropout, config.metric_for_best) == (None,) * 4


def test_a_seeds_run_that_fails_before_training_leaves_no_folder(cli, tiny_model, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('text,label\n"a,b\n', encoding="utf-8")
    output = tmp_path / "new" / "seeds"
    result = cli("run", "custom-csv", "--model", tiny_model, "--train", bad, "--seeds", "1,2", "--output-dir", output)
    assert result.exit_code == 2, result.output
    assert "malformed row" in result.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_compare_refuses_a_fifo_without_reading_it(tmp_path):
    """In a process of its own, bounded: before the fix it waited for a writer forever."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "run_config.json").write_text('{"task": "custom-csv"}', encoding="utf-8")
    os.mkfifo(run / "metrics.json")
    os.mkfifo(tmp_path / "pipe")
    os.mkfifo(tmp_path / "picture.png")
    command = [sys.executable, "-m", "taskrun", "compare"]
    done = subprocess.run(
        [*command, str(run), str(tmp_path / "pipe")], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert f"{run / 'metrics.json'}: cannot be read (not a regular file but a named pipe (FIFO))" in done.stderr
    assert f"{tmp_path / 'pipe'}: is a named pipe (FIFO), not a run folder" in done.stderr
    picture = subprocess.run(
        [*command, str(run), "--picture", str(tmp_path / "picture.png")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert picture.returncode == 2
    assert "picture.png is a named pipe (FIFO), not a regular file" in picture.stderr
    os.mkfifo(tmp_path / "settings.toml")
    settings = subprocess.run(
        [sys.executable, "-m", "taskrun", "run", "custom-csv", "--config", str(tmp_path / "settings.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert settings.returncode == 2
    assert "settings.toml: not a regular file but a named pipe (FIFO)" in settings.stderr
