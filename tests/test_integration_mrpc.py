"""The real GLUE MRPC files from ../shared/data/glue/MRPC, with the real embedded model."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_finished_run
from taskrun.data import glue_folder_dataset

MRPC = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue" / "MRPC"
pytestmark = pytest.mark.skipif(not (MRPC / "train.tsv").is_file(), reason=f"the real MRPC files are not at {MRPC}")


def test_every_row_of_the_real_files_comes_through():
    dataset = glue_folder_dataset(
        MRPC, {"#1 String": "sentence1", "#2 String": "sentence2"}, "Quality", ["not_equivalent", "equivalent"]
    )
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 3668, "validation": 408, "test": 1725}
    assert set(dataset["test"]["label"]) == {-1}
    assert any('"' in s for s in dataset["train"]["sentence1"])  # unmatched quotes kept as text


@pytest.mark.slow  # trains the real-size embedded model
def test_a_slice_of_real_mrpc_with_the_embedded_model(cli, tmp_path):
    out = tmp_path / "run"
    result = cli(
        "run",
        "mrpc",
        "--model",
        "embedded",
        "--data-dir",
        MRPC,
        "--output-dir",
        out,
        "--max-train-samples",
        "64",
        "--max-eval-samples",
        "32",
        "--epochs",
        "1",
    )
    assert result.exit_code == 0, result.output
    pair = {"text": "The company said profits rose.", "text_pair": "Profits rose, the company said."}
    metrics = assert_finished_run(out, ["not_equivalent", "equivalent"], [pair])
    assert metrics["train"]["samples"] == 64 and metrics["eval"]["samples"] == 32
