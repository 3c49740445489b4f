"""DeepSpeed ZeRO-2 through `accelerate launch`, on two CPU processes (DeepSpeed's CPU accelerator,
gloo): one consolidated model at the end, sealed checkpoints in DeepSpeed's own layout that resume
exactly, and DeepSpeed's optimizer files vetted before they are loaded.

Needs the `deepspeed` package, which CI installs (`pip install --no-build-isolation deepspeed`:
its build imports torch, and an isolated build would fetch another torch); skipped, saying so,
where it is absent."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port
from test_resume import data_options, reviews_workdir

torch = pytest.importorskip("torch")
pytest.importorskip("deepspeed", reason="needs the deepspeed package (pip install --no-build-isolation deepspeed)")
pytestmark = pytest.mark.slow  # accelerate launch, 2 processes

KILLER = Path(__file__).parent / "helpers" / "killed_taskrun.py"
# 48 training rows, 2 processes x batch 4: 6 optimizer steps an epoch, checkpoints at steps 6 and 12.
OPTIONS = ("--epochs", "2", "--batch-size", "4", "--learning-rate", "5e-3", "--precision", "fp32")
ZERO_2 = Path(__file__).parents[1] / "examples" / "accelerate" / "zero2.yaml"  # the example, 2 processes


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, taskrun_tiny_model) -> Path:
    return reviews_workdir(tmp_path_factory, taskrun_tiny_model, "deepspeed")


def zero2_run(workdir: Path, output: str, *extra: str, kill: tuple[str, int] | None = None):
    program = [str(KILLER), kill[0], str(kill[1])] if kill else ["-m", "taskrun"]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ZERO_2)]
    command += ["--main_process_port", str(free_port())]
    args = ["run", "custom-csv", *data_options(workdir), "--output-dir", output, *OPTIONS, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TASKRUN_CACHE_DIR": str(workdir / "cache")}
    return subprocess.run(
        [*command, *program, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def uninterrupted(workdir) -> Path:
    done = zero2_run(workdir, "zero2")
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir / "zero2"


@pytest.fixture(scope="module")
def killed(workdir) -> Path:
    """A ZeRO-2 run killed right after checkpoint-6 was sealed."""
    done = zero2_run(workdir, "killed", kill=("saved", 6))
    assert done.returncode != 0
    shutil.copytree(workdir / "killed", workdir / "killed-untouched")  # kept as killed, for the vetting test
    return workdir / "killed"


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def test_zero2_saves_one_model_and_records_how_it_trained(uninterrupted):
    from transformers import pipeline

    record = json.loads((uninterrupted / "run_config.json").read_text())
    assert record["launch"] == {"processes": 2, "nodes": 1, "parallelism": "deepspeed", "deepspeed": {"zero_stage": 2}}
    assert sorted(record["files"]) == sorted(p.name for p in uninterrupted.iterdir())  # no DeepSpeed leftovers
    answer = pipeline("text-classification", model=str(uninterrupted), device="cpu")("the movie was lovely today")
    assert answer[0]["label"] in ("neg", "pos")


def test_a_killed_zero2_run_resumes_from_its_sealed_checkpoint_to_the_same_model(workdir, uninterrupted, killed):
    manifest = json.loads((killed / "checkpoints" / "checkpoint-6" / "taskrun-manifest.json").read_text())
    optimizer_files = [name for name in manifest["files"] if name.endswith("optim_states.pt")]
    assert len(optimizer_files) == 2 and all(name.startswith("global_step6/") for name in optimizer_files)

    done = zero2_run(workdir, "killed", "--resume", "auto")
    assert done.returncode == 0, done.stderr[-4000:]
    assert "resuming from" in done.stderr and "(step 6)" in done.stderr
    ours, theirs = weights(killed), weights(uninterrupted)
    assert ours.keys() == theirs.keys() and all(ours[k].equal(theirs[k]) for k in ours)
    ours, theirs = (json.loads((folder / "metrics.json").read_text())["eval"] for folder in (killed, uninterrupted))
    for key in ("loss", "accuracy", "macro_f1"):
        assert ours[key] == theirs[key], key


def test_deepspeed_optimizer_files_are_vetted_before_deepspeed_loads_them(workdir, killed):
    """DeepSpeed loads its optimizer files in full (pickles). Its own pass the check (the DeepSpeed
    classes in them are allowed); a file planted to run code, sealed with a matching manifest, is
    refused unloaded, naming it."""
    from taskrun.checkpoints import check_safe_to_load, load_checkpoint, write_manifest
    from taskrun.errors import CheckpointError

    checkpoint = workdir / "killed-untouched" / "checkpoints" / "checkpoint-6"
    check_safe_to_load(load_checkpoint(checkpoint))

    target = next((checkpoint / "global_step6").glob("*optim_states.pt"))
    torch.save({"state": argparse.Namespace(code="would run on load")}, target)
    write_manifest(checkpoint, json.loads((checkpoint / "taskrun-manifest.json").read_text())["identity"], None)
    with pytest.raises(CheckpointError, match="cannot be loaded safely") as refused:
        check_safe_to_load(load_checkpoint(checkpoint))
    assert str(target) in str(refused.value)


def test_a_lora_run_under_zero2_publishes_the_merged_model_and_its_adapter(workdir):
    from transformers import pipeline

    done = zero2_run(workdir, "zero2-lora", "--lora", "--no-pictures")
    assert done.returncode == 0, done.stderr[-4000:]
    run = workdir / "zero2-lora"
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    record = json.loads((run / "run_config.json").read_text())
    assert record["launch"]["deepspeed"] == {"zero_stage": 2} and record["options"]["lora"]["value"] is True
    answer = pipeline("text-classification", model=str(run), device="cpu")("the movie was lovely today")
    assert answer[0]["label"] in ("neg", "pos")
