"""Shared fixtures: small data files, a plugin manager, a CLI runner; the tiny BERT comes from
taskrun's own pytest plugin (taskrun.testing), as plugin authors get it.

Nothing here touches the network: the model is built from a config, its tokenizer from a word
list, and every data file is written by the fixture that needs it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from taskrun.cli import main
from taskrun.testing import make_manager

WORDS = (
    "the a movie film plot actor story was is very really quite not good great fine lovely bad awful "
    "boring dull said he she they company shares rose fell percent year market today reported on in "
    "of and to it this that"
).split()
# Before anything imports huggingface_hub, which reads this once: session fixtures run before the
# per-test environment below is set.
os.environ["HF_HUB_OFFLINE"] = "1"
# evaluate copies the metric modules it loads into a cache read once at import: the tests' own, not the user's
os.environ["HF_MODULES_CACHE"] = tempfile.mkdtemp(prefix="taskrun-tests-modules-")

POSITIVE, NEGATIVE = ["good", "great", "lovely", "fine"], ["bad", "awful", "boring", "dull"]
# pip options for every build or install of a local folder in the tests: setuptools from this
# environment (the `test` extra) instead of an isolated build environment fetched from an index,
# and no index at all, so the tests pass on a machine without one (try PIP_NO_INDEX=1).
OFFLINE_BUILD = ("--no-build-isolation", "--no-index", "--no-deps")

# One thread for torch (OpenMP) here and in every process a test starts, unless the environment
# says otherwise. The tiny model's steps are far too small to share between threads, and on a busy
# 2-core machine two threads spin against each other: a one-epoch run took 8-45 s with two threads
# and 1-4 s with one (and ten times the CPU time). Set before anything imports torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch, tmp_path):
    """Every test runs offline, with no plugin of the machine's and a cache of its own."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TASKRUN_CACHE_DIR", str(tmp_path / "taskrun-cache"))
    monkeypatch.setenv("TASKRUN_PLUGINS", "none")
    monkeypatch.delenv("TASKRUN_TRACEBACK", raising=False)


@pytest.fixture(scope="session")
def tiny_model(taskrun_tiny_model) -> Path:
    """The tiny BERT of taskrun's shipped pytest plugin (taskrun.testing): 2 layers, hidden size 32."""
    return taskrun_tiny_model


def free_port() -> int:
    """A TCP port nothing listens on now, for a launch's rendezvous: accelerate's default (29500)
    would be shared by two launches of two test processes (pytest-xdist) at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def needs_gloo():
    """A skipif marker for tests that start a gloo process group (torchrun, accelerate launch)."""
    import torch.distributed as dist

    return pytest.mark.skipif(
        not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed with gloo"
    )


def sentence(rng: random.Random, label: int) -> str:
    """A short sentence whose sentiment word follows the label (so there is something to learn)."""
    filler = rng.sample(WORDS[:10], 3)
    return f"the {filler[0]} was {rng.choice(POSITIVE if label else NEGATIVE)} {filler[1]} {filler[2]}"


def write_tsv(path: Path, header: list[str], rows: list[list[str]], bom: bool = False) -> Path:
    text = "\n".join("\t".join(row) for row in [header, *rows]) + "\n"
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def write_mrpc_folder(parent: Path) -> Path:
    """parent/MRPC, shaped as GLUE's: BOM on train.tsv, unmatched quotes, an unlabelled test.tsv."""
    rng = random.Random(1)
    folder = parent / "MRPC"
    folder.mkdir()
    header = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]

    def rows(n):
        out = []
        for i in range(n):
            label = i % 2
            first = sentence(rng, 1)
            second = first if label else sentence(rng, 0)
            out.append([str(label), str(i), str(i + 1000), first + (' "' if i % 5 == 0 else ""), second])
        return out

    write_tsv(folder / "train.tsv", header, rows(40), bom=True)
    write_tsv(folder / "dev.tsv", header, rows(16))
    write_tsv(
        folder / "test.tsv",
        ["index", "#1 ID", "#2 ID", "#1 String", "#2 String"],
        [[str(i), "1", "2", sentence(rng, 1), sentence(rng, 0)] for i in range(6)],
    )
    return folder


@pytest.fixture
def mrpc_dir(tmp_path) -> Path:
    """A GLUE MRPC-shaped folder: BOM on train.tsv, unmatched quotes, an unlabelled test.tsv."""
    return write_mrpc_folder(tmp_path)


@pytest.fixture
def sst2_dir(tmp_path) -> Path:
    rng = random.Random(2)
    folder = tmp_path / "SST-2"
    folder.mkdir()
    write_tsv(folder / "train.tsv", ["sentence", "label"], [[sentence(rng, i % 2), str(i % 2)] for i in range(40)])
    write_tsv(folder / "dev.tsv", ["sentence", "label"], [[sentence(rng, i % 2), str(i % 2)] for i in range(16)])
    return folder


def write_reviews_csv(path: Path) -> Path:
    """48 reviews with three star labels (one, three, five), commas and quotes inside the text."""
    rng = random.Random(3)
    lines = ["id,review,stars"]
    for i in range(48):
        label = i % 3
        text = sentence(rng, label % 2) + (", really" if label == 2 else "")
        lines.append(f'{i},"{text} ""quoted""",{["one", "three", "five"][label]}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def reviews_csv(tmp_path) -> Path:
    """A CSV with string labels, commas and quotes inside the text."""
    return write_reviews_csv(tmp_path / "reviews.csv")


@pytest.fixture
def manager():
    """A plugin manager with the core defaults and the built-ins only: no installed plugin."""
    return make_manager(plugins=[])


@pytest.fixture
def cli(manager):
    """Invoke the taskrun CLI in-process with the test's plugin manager."""

    def invoke(*args: str):
        return CliRunner().invoke(main, [str(a) for a in args], obj=manager)

    return invoke


def reviews_options(reviews: Path, model: Path) -> tuple:
    """custom-csv's options for a reviews file (three star labels) with the tiny model, one fast epoch."""
    return (
        *("--model", model, "--train", reviews, "--text-column", "review", "--label-column", "stars"),
        *("--epochs", "1", "--batch-size", "8", "--precision", "fp32"),
    )


@pytest.fixture
def run_reviews(cli, tiny_model, reviews_csv):
    """`run_reviews(OUTPUT_DIR, *options)`: custom-csv on `reviews_csv` (three star labels) with the
    tiny model, one fast epoch; later options override the defaults."""

    def run(output_dir, *options):
        return cli("run", "custom-csv", *reviews_options(reviews_csv, tiny_model), "--output-dir", output_dir, *options)

    return run


# -- finished runs, made once a session ----------------------------------------------------------
# Training is most of the suite's time. A test that only reads a finished run (predict, eval,
# compare, the model card, metrics.json) takes one of these; a test that changes the folder copies
# it first (`copy_run`), so that every other test still sees the run as it was made.


@contextlib.contextmanager
def offline_env(cache: Path):
    """The environment of `_offline_env` for fixtures made outside a test (module or session scope)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        env.setenv("TASKRUN_CACHE_DIR", str(cache))
        env.setenv("TASKRUN_PLUGINS", "none")
        env.delenv("TASKRUN_TRACEBACK", raising=False)
        yield env


def invoke_offline(args, cache: Path, cwd: Path | None = None):
    """`taskrun ARGS` through the CLI in this process (from `cwd`), in `offline_env(cache)`, with the
    built-ins only: for fixtures and runs made outside a test's own environment. Click's result."""
    with offline_env(cache) as env:
        if cwd is not None:
            env.chdir(cwd)
        return CliRunner().invoke(main, [str(a) for a in args], obj=make_manager(plugins=[]))


def taskrun_in_process(args, cwd: Path | None = None, cache: Path | None = None) -> subprocess.CompletedProcess:
    """`invoke_offline` with `cache` (else the test's own), returned as a finished process. For the
    runs beside one that a test kills in a process of its own (the resume, the reference): they
    read only what that process left on disk, and need no process start (7 s of imports)."""
    done = invoke_offline(args, cache or Path(os.environ["TASKRUN_CACHE_DIR"]), cwd)
    return subprocess.CompletedProcess([str(a) for a in args], done.exit_code, done.output, done.stderr)


@pytest.fixture(scope="session")
def shared_data(tmp_path_factory) -> Path:
    """A folder with the data of the shared runs: reviews.csv (as `reviews_csv`), MRPC/ (as `mrpc_dir`)."""
    folder = tmp_path_factory.mktemp("shared-data")
    write_reviews_csv(folder / "reviews.csv")
    write_mrpc_folder(folder)
    return folder


class SharedRun:
    """A finished run: its folder and the CLI's result (exit code, stdout, stderr) that made it."""

    def __init__(self, output: Path, result):
        self.output, self.result = output, result


def shared_run(tmp_path_factory, name: str, *args) -> SharedRun:
    """`taskrun run ARGS --output-dir <a session folder>/NAME`, in this process, with the built-ins only."""
    root = tmp_path_factory.mktemp(f"shared-run-{name}")
    result = invoke_offline([*args, "--output-dir", root / name], root / "taskrun-cache")
    assert result.exit_code == 0, result.output + result.stderr
    return SharedRun(root / name, result)


@pytest.fixture(scope="session")
def finished_reviews(tiny_model, shared_data, tmp_path_factory) -> SharedRun:
    """custom-csv on reviews.csv as `run_reviews` runs it, in a folder named reviews-model."""
    options = reviews_options(shared_data / "reviews.csv", tiny_model)
    return shared_run(tmp_path_factory, "reviews-model", "run", "custom-csv", *options)


@pytest.fixture(scope="session")
def finished_mrpc(tiny_model, shared_data, tmp_path_factory) -> SharedRun:
    """mrpc on the MRPC folder of `shared_data` (as `mrpc_dir`), one fast epoch."""
    options = ("--model", tiny_model, "--data-dir", shared_data / "MRPC", "--epochs", "1", "--batch-size", "8")
    return shared_run(tmp_path_factory, "mrpc", "run", "mrpc", *options, "--precision", "fp32")


def copy_run(run: Path, to: Path) -> Path:
    """A copy of a finished run's folder, for a test that changes it."""
    return Path(shutil.copytree(run, to, symlinks=True))


def assert_finished_run(output: Path, label_names: list[str], texts) -> dict:
    """The run folder is complete, metrics are finite, and `pipeline` answers with the task's labels."""
    from transformers import pipeline

    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
        "metrics.json",
        "run_config.json",
        "README.md",
    ):
        assert (output / name).is_file(), name
    assert not list(output.parent.glob(f".{output.name}.*")), "staging folder left behind"
    metrics = json.loads((output / "metrics.json").read_text())
    numbers = [v for part in ("train", "eval") for v in metrics[part].values() if isinstance(v, (int, float))]
    assert numbers and all(math.isfinite(v) for v in numbers)
    classifier = pipeline("text-classification", model=str(output), device="cpu")
    answers = classifier(texts)
    assert {a["label"] for a in answers} <= set(label_names)
    config = json.loads((output / "config.json").read_text())
    assert list(config["id2label"].values()) == label_names
    return metrics
