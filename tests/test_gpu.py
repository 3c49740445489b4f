"""On a CUDA GPU: sharded training (FSDP through `accelerate launch`) saves one consolidated
model and resumes from its sharded checkpoints; `--precision auto` picks the GPU's half precision.

These tests need a GPU and are skipped without one (accelerate runs FSDP only on GPUs: on CPU
processes taskrun refuses it, see test_multiprocess). Run them on a GPU machine with
`python -m pytest -m gpu`. FSDP runs one process per GPU (NCCL does not share a GPU between
processes), so on a one-GPU machine the model is "sharded" over one process: the checkpoints
still take FSDP's sharded form, which is what these tests check."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port
from test_resume import data_options, reviews_workdir

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
KILLER = Path(__file__).parent / "helpers" / "killed_taskrun.py"
OPTIONS = ("--epochs", "2", "--batch-size", "4", "--learning-rate", "5e-3", "--precision", "fp32")


FSDP_CONFIG = Path(__file__).parents[1] / "examples" / "accelerate" / "fsdp.yaml"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, taskrun_tiny_model) -> Path:
    return reviews_workdir(tmp_path_factory, taskrun_tiny_model, "gpu")


def fsdp_run(workdir: Path, output: str, *extra: str, kill: tuple[str, int] | None = None):
    program = [str(KILLER), kill[0], str(kill[1])] if kill else ["-m", "taskrun"]
    processes = str(min(2, torch.cuda.device_count()))  # one process per GPU
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(FSDP_CONFIG)]
    command += ["--num_processes", processes, "--main_process_port", str(free_port())]
    args = ["run", "custom-csv", *data_options(workdir), "--output-dir", output, *OPTIONS, *extra]
    env = {**os.environ, "TASKRUN_CACHE_DIR": str(workdir / "cache")}
    return subprocess.run(
        [*command, *program, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=600
    )


def test_fsdp_saves_one_model_and_resumes_from_a_sharded_checkpoint(workdir):
    done = fsdp_run(workdir, "fsdp")
    assert done.returncode == 0, done.stderr[-4000:]
    folder = workdir / "fsdp"
    record = json.loads((folder / "run_config.json").read_text())
    assert record["launch"]["parallelism"] == "fsdp"
    assert "SHARDED_STATE_DICT" in record["launch"]["fsdp"]["state_dict_type"]
    # One consolidated model.safetensors that pipeline() reads, whatever the sharding.
    from transformers import pipeline

    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*fsdp*"))
    answer = pipeline("text-classification", model=str(folder), device=0)("the movie was lovely today")
    assert answer[0]["label"] in ("neg", "pos")

    # Killed right after checkpoint-6 (a sharded one) was sealed; resumed, the same result.
    killed = fsdp_run(workdir, "killed", kill=("saved", 6))
    assert killed.returncode != 0
    checkpoint = workdir / "killed" / "checkpoints" / "checkpoint-6"
    manifest = json.loads((checkpoint / "taskrun-manifest.json").read_text())
    assert "pytorch_model_fsdp_0/.metadata" in manifest["files"]
    resumed = fsdp_run(workdir, "killed", "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resuming from" in resumed.stderr
    ours, theirs = (json.loads((f / "metrics.json").read_text()) for f in (workdir / "killed", folder))
    assert ours["train"]["steps"] == theirs["train"]["steps"]
    assert math.isclose(ours["eval"]["loss"], theirs["eval"]["loss"], rel_tol=1e-4)


def test_auto_precision_on_a_gpu_is_its_half_precision(cli, workdir):
    out = workdir / "auto"
    done = cli("run", "custom-csv", *data_options(workdir), "--output-dir", out, "--epochs", "1", "--precision", "auto")
    assert done.exit_code == 0, done.output
    expected = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert json.loads((out / "run_config.json").read_text())["precision_used"] == expected
