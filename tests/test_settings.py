"""Config files (--config: TOML, YAML, JSON), their precedence, the record of where each value came
from, and --print-config, which writes the file that reproduces a run."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest


@pytest.fixture
def base(tiny_model, reviews_csv):
    """custom-csv on the reviews file, without the options a test gives from its file."""
    return ["run", "custom-csv", "--model", tiny_model, "--train", reviews_csv, "--precision", "fp32"]


def printed(result) -> dict:
    assert result.exit_code == 0, result.output
    return tomllib.loads(result.stdout)


def test_a_file_supplies_options_and_the_command_line_overrides_it(cli, base, tmp_path):
    settings = tmp_path / "exp.toml"
    settings.write_text(
        'text_column = "review"\nlabel-column = "stars"\nlearning_rate = 1e-3\nepochs = 2\nseed = 7\n',
        encoding="utf-8",
    )
    result = cli(*base, "--config", settings, "--learning-rate", "3e-4", "--print-config")
    values = printed(result)
    assert values["learning_rate"] == 3e-4  # command line > file
    assert values["epochs"] == 2.0 and values["seed"] == 7 and values["text_column"] == "review"
    assert values["weight_decay"] == 0.01  # the task's default (registry.toml)
    assert values["threshold"] == 0.5  # the core's default
    lines = {line.split(" = ")[0]: line for line in result.stdout.splitlines() if " = " in line}
    assert lines["learning_rate"].endswith("# command line")
    assert lines["epochs"].endswith(f"# config file {settings}")
    assert lines["weight_decay"].endswith("# task default")
    assert lines["threshold"].endswith("# default")
    assert "output_dir" not in values and "overwrite" not in values  # where a run goes is not what it is


@pytest.mark.parametrize(
    "name, text",
    [
        (
            "exp.yaml",
            "text-column: review\nlabel_column: stars\nlearning_rate: 0.002\nfreeze_embeddings: true\nproblem: single-label\n",
        ),
        (
            "exp.json",
            '{"text_column": "review", "label_column": "stars", "learning_rate": 0.002, "freeze_embeddings": true}',
        ),
    ],
)
def test_yaml_and_json_files_work_the_same(cli, base, tmp_path, name, text):
    settings = tmp_path / name
    settings.write_text(text, encoding="utf-8")
    values = printed(cli(*base, "--config", settings, "--print-config"))
    assert values["learning_rate"] == 0.002 and values["freeze_embeddings"] is True
    assert values["label_column"] == "stars"


def test_print_config_reproduces_the_settings(cli, base, tmp_path):
    first = cli(
        *base,
        "--text-column",
        "review",
        "--label-column",
        "stars",
        "--dropout",
        "0.2",
        "--seeds",
        "3,4",
        "--print-config",
    )
    saved = tmp_path / "saved.toml"
    saved.write_text(first.stdout, encoding="utf-8")
    again = cli("run", "custom-csv", "--config", saved, "--print-config")
    assert printed(again) == printed(first)
    assert printed(first)["seeds"] == [3, 4]


def test_the_example_settings_file_and_save_every_none_round_trip(cli, tmp_path):
    example = Path(__file__).parent.parent / "examples" / "reviews.toml"
    first = cli("run", "custom-csv", "--config", example, "--save-every", "none", "--print-config")
    values = printed(first)
    assert values["text_column"] == "review" and values["early_stopping"] == 2
    saved = tmp_path / "again.toml"
    saved.write_text(first.stdout, encoding="utf-8")
    assert printed(cli("run", "custom-csv", "--config", saved, "--print-config")) == values


def test_a_run_records_every_value_and_its_source(cli, base, tmp_path):
    settings = tmp_path / "exp.toml"
    settings.write_text('text_column = "review"\nlabel_column = "stars"\nepochs = 1\n', encoding="utf-8")
    out = tmp_path / "out"
    result = cli(*base, "--config", settings, "--batch-size", "8", "--output-dir", out)
    assert result.exit_code == 0, result.output
    options = json.loads((out / "run_config.json").read_text())["options"]
    assert options["epochs"] == {"value": 1.0, "source": f"config file {settings}"}
    assert options["batch_size"] == {"value": 8, "source": "command line"}
    assert options["text_column"] == {"value": "review", "source": f"config file {settings}"}
    assert options["warmup_ratio"] == {"value": 0.1, "source": "task default"}
    assert options["max_eval_samples"] == {"value": None, "source": "default"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("lerning_rate = 1e-3\n", "unknown option 'lerning_rate' (did you mean 'learning_rate'?)"),
        ("epochs = 'many'\n", "epochs: 'many' is not a valid float"),
        ("batch_size = 0\n", "batch_size: 0 is not in the range x>=1"),
        ("epochs = \n", "not valid TOML"),
        ("[training]\nepochs = 2\n", "training: expected a value, not a table of keys"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_key(cli, base, tmp_path, text, message):
    settings = tmp_path / "bad.toml"
    settings.write_text(text, encoding="utf-8")
    result = cli(*base, "--text-column", "review", "--label-column", "stars", "--config", settings)
    assert result.exit_code == 2
    assert str(settings) in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_syntax_errors_give_the_line(cli, base, tmp_path):
    yaml_file = tmp_path / "bad.yaml"
    yaml_file.write_text("epochs: 2\nlearning_rate: [1\n", encoding="utf-8")
    json_file = tmp_path / "bad.json"
    json_file.write_text('{"epochs": 2,\n "seed": }', encoding="utf-8")
    assert "not valid YAML: line 3" in cli(*base, "--config", yaml_file).stderr
    assert "not valid JSON: line 2, column 10" in cli(*base, "--config", json_file).stderr
    other = tmp_path / "exp.ini"
    other.write_text("epochs=2", encoding="utf-8")
    assert "give a .toml, .yaml, .yml or .json file" in cli(*base, "--config", other).stderr


def test_strings_with_quotes_and_unicode_survive_print_config(cli, base, tmp_path):
    column = 'the "review" \\ text é\t'
    values = printed(cli(*base, "--text-column", column, "--label-column", "stars", "--print-config"))
    assert values["text_column"] == column
