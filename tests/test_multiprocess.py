"""`torchrun --nproc_per_node 2 -m taskrun run ...` on CPU (gloo): one model trained data-parallel,
tokenised once (rank 0 first, the other rank loads the cache entry), written once by rank 0,
evaluated over both processes, and summarised once."""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, needs_gloo, sentence

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.slow, needs_gloo()]  # torchrun

OPTIONS = ("--epochs", "1", "--precision", "fp32")
PROBE = Path(__file__).parent / "helpers" / "rank_probe.py"  # `-m taskrun`, recording each rank's tokenising


def write_csv(path: Path, count: int, rng: random.Random) -> Path:
    rows = [f"{sentence(rng, i % 2)},{'pos' if i % 2 else 'neg'}" for i in range(count)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def mean_cross_entropy(folder: Path, data: Path) -> float:
    """The saved model's loss on a CSV, computed here in one process."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    lines = data.read_text(encoding="utf-8").splitlines()[1:]
    texts, labels = zip(*(line.rsplit(",", 1) for line in lines))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = model(**tokenizer(list(texts), padding=True, return_tensors="pt")).logits
    targets = torch.tensor([model.config.label2id[label] for label in labels])
    return torch.nn.functional.cross_entropy(logits, targets).item()


def test_two_processes_train_one_model_and_write_it_once(tiny_model, tmp_path, cli):
    rng = random.Random(7)
    train, dev = write_csv(tmp_path / "train.csv", 40, rng), write_csv(tmp_path / "dev.csv", 16, rng)
    runs = tmp_path / "runs"
    out = runs / "out"
    probes = tmp_path / "probes"
    probes.mkdir()
    data = ("custom-csv", "--train", str(train), "--validation", str(dev))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(PROBE),
        str(probes),
        "run",
        *data,
        "--model",
        str(tiny_model),
        "--output-dir",
        str(out),
        "--batch-size",
        "4",
        *OPTIONS,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=240, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("finished in") == 1, done.stdout  # the summary, from rank 0 only
    assert done.stderr.count("taskrun: task custom-csv") == 1  # progress lines from rank 0 only
    # Tokenised once, by rank 0 (40 train and 16 validation texts); rank 1 loaded rank 0's cache entry.
    # Counted per rank by the probe, not from the progress bars: tqdm draws a bar's 100% line twice
    # (on the last update and again on close) when a pass takes more than its 0.1 s refresh interval.
    events = {p.stem: p.read_text().splitlines() for p in probes.iterdir()}
    encoded = {rank: sum(int(e.split()[1]) for e in lines if e.startswith("encode ")) for rank, lines in events.items()}
    loads = {rank: lines.count("cache-load") for rank, lines in events.items()}
    assert (encoded, loads) == ({"rank0": 40 + 16, "rank1": 0}, {"rank0": 0, "rank1": 1}), events

    assert [p.name for p in runs.iterdir()] == ["out"]  # no staging folder of either rank left
    metrics = json.loads((out / "metrics.json").read_text())
    evaluation = metrics["eval"]
    assert evaluation["samples"] == 16
    assert sum(map(sum, evaluation["confusion_matrix"]["rows_true_columns_predicted"])) == 16
    assert [row["support"] for row in evaluation["per_class"].values()] == [8, 8]
    # The eval loss is the mean over all 16 examples, not over one rank's half, nor scaled by the world size.
    assert math.isclose(evaluation["loss"], mean_cross_entropy(out, dev), abs_tol=1e-5)
    assert json.loads((out / "run_config.json").read_text())["files"] == sorted(p.name for p in out.iterdir())

    entries = list((Path(os.environ["TASKRUN_CACHE_DIR"]) / "tokenized").iterdir())
    assert len(entries) == 1 and not entries[0].name.startswith("."), entries  # tokenised once, by rank 0

    # The same metrics as scoring the saved model in one process: evaluation was gathered over both ranks.
    scored = cli("eval", out, *data, "--output", tmp_path / "scored.json")
    assert scored.exit_code == 0, scored.output
    alone = json.loads((tmp_path / "scored.json").read_text())
    assert alone["samples"] == 16
    for name in ("accuracy", "macro_f1"):
        assert math.isclose(evaluation[name], alone[name], abs_tol=1e-6), name
    assert evaluation["confusion_matrix"] == alone["confusion_matrix"]

    # Global batch 2 x 4 takes as many optimizer steps as one process with batch size 8.
    single = cli(
        "run", *data, "--model", tiny_model, "--output-dir", tmp_path / "single", "--batch-size", "8", *OPTIONS
    )
    assert single.exit_code == 0, single.output
    assert single.output.count("taskrun: tokenised data from the cache") == 1  # the launch's entry, reused
    steps = json.loads((tmp_path / "single" / "metrics.json").read_text())["train"]["steps"]
    assert metrics["train"]["steps"] == steps == math.ceil(40 / 8)
    assert len(list((Path(os.environ["TASKRUN_CACHE_DIR"]) / "tokenized").iterdir())) == 1  # same fingerprint


def test_two_processes_train_lora_adapters_and_publish_the_merged_model_once(tiny_model, tmp_path):
    """--lora under torchrun: the adapters trained data-parallel, merged and written by rank 0 alone;
    the saved model's loss on the dev set is the run's (gathered over both ranks)."""
    rng = random.Random(8)
    train, dev = write_csv(tmp_path / "train.csv", 40, rng), write_csv(tmp_path / "dev.csv", 16, rng)
    out = tmp_path / "runs" / "lora"
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "taskrun"),
        *("run", "custom-csv", "--train", str(train), "--validation", str(dev), "--model", str(tiny_model)),
        *("--output-dir", str(out), "--batch-size", "4", "--lora", "--no-pictures", *OPTIONS),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=240, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("finished in") == 1
    assert [p.name for p in out.parent.iterdir()] == ["lora"]  # no staging folder of either rank left
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    record = json.loads((out / "run_config.json").read_text())
    assert record["launch"]["parallelism"] == "ddp" and record["options"]["lora"]["value"] is True
    loss = json.loads((out / "metrics.json").read_text())["eval"]["loss"]
    assert math.isclose(loss, mean_cross_entropy(out, dev), abs_tol=1e-5)


FSDP_CONFIG = Path(__file__).parents[1] / "examples" / "accelerate" / "fsdp.yaml"  # the example, 2 processes


def test_fsdp_asked_without_a_gpu_is_refused_once_before_any_work(tiny_model, tmp_path):
    """accelerate shards only on GPUs: asked for FSDP on CPU processes, it would train with DDP
    without a word (or crash loading the model). taskrun refuses, once, before reading the data,
    and every process exits with the usage error's code."""
    rng = random.Random(7)
    train, dev = write_csv(tmp_path / "train.csv", 40, rng), write_csv(tmp_path / "dev.csv", 16, rng)
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(FSDP_CONFIG),
        "--main_process_port",
        str(free_port()),
        "-m",
        "taskrun",
        "run",
        "custom-csv",
        "--train",
        str(train),
        "--validation",
        str(dev),
        "--model",
        str(tiny_model),
        "--output-dir",
        str(tmp_path / "out"),
        *OPTIONS,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=240, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode != 0
    error = "Error: the launcher asks for FSDP, which accelerate runs only on GPUs, and this machine has none."
    assert done.stderr.count(error) == 1, done.stderr[-4000:]
    # torchrun's summary lists each failed process: both exited with the usage error's code.
    assert len(re.findall(r"^\s*exitcode\s*: 2 ", done.stderr, re.MULTILINE)) == 2, done.stderr[-4000:]
    assert "taskrun: task custom-csv" not in done.stderr  # refused before the data was read
    assert not (tmp_path / "out").exists()
