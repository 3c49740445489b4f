"""Two nodes on one machine: two `torchrun --nnodes 2` launches (one CPU process each, gloo,
c10d rendezvous on 127.0.0.1) train one model, as one node with two processes does; a node killed
mid-run and both resumed with --resume auto give the uninterrupted result; the launch's decisions
(output folder, precision) are taken once, by rank 0.

The c10d rendezvous gives out ranks in the order the nodes join, not by --node-rank: either
node's process may be rank 0, so the tests look at both nodes' output together."""

from __future__ import annotations

import json
import math
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_gloo
from test_resume import data_options, reviews_workdir

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.slow, needs_gloo()]  # torchrun

HELPERS = Path(__file__).parent / "helpers"
PROBE = HELPERS / "rank_probe.py"  # `-m taskrun`, recording each rank's tokenising and precision
KILLER = HELPERS / "killed_taskrun.py"  # `-m taskrun`, killing its own process at a training step
# 48 training rows, 2 processes x batch 4: 6 optimizer steps an epoch, checkpoints at steps 6 and 12.
OPTIONS = ("--epochs", "2", "--batch-size", "4", "--learning-rate", "5e-3")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(workdir: Path, nodes: int, output: str, *extra: str, programs=None, cache: str = "cache"):
    """`torchrun` with 2 processes in all: one node (`--standalone`, 2 processes) or two nodes (two
    launches of one process, started together). `programs[i]` replaces `-m taskrun` on node i.
    Returns each launch's CompletedProcess-like (returncode, stdout, stderr)."""
    port = free_port()
    if nodes == 1:
        topologies = [["--standalone", "--nproc-per-node", "2"]]
    else:
        rendezvous = ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", output]
        topologies = [["--nnodes", "2", "--node-rank", str(i), "--nproc-per-node", "1", *rendezvous] for i in (0, 1)]
    programs = programs or [["-m", "taskrun"]] * len(topologies)
    args = ["run", "custom-csv", *data_options(workdir), "--output-dir", output, *OPTIONS, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TASKRUN_CACHE_DIR": str(workdir / cache)}
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", *topology, *program, *args],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for topology, program in zip(topologies, programs)
    ]
    done = []
    for process in started:
        try:
            stdout, stderr = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for p in started:
                p.kill()
            raise
        done.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return done


def both(done, stream: str = "stderr") -> str:
    return "\n".join(getattr(d, stream) for d in done)


def metrics_of(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def same_weights(a: Path, b: Path) -> bool:
    from safetensors.torch import load_file

    ours, theirs = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return ours.keys() == theirs.keys() and all(ours[k].equal(theirs[k]) for k in ours)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, taskrun_tiny_model) -> Path:
    return reviews_workdir(tmp_path_factory, taskrun_tiny_model, "multinode")


@pytest.fixture(scope="module")
def two_nodes(workdir) -> Path:
    """The uninterrupted two-node run, with --precision auto, each rank's events probed."""
    probes = workdir / "probes"
    probes.mkdir()
    program = [str(PROBE), str(probes)]
    done = launch(workdir, 2, "two-nodes", "--precision", "auto", programs=[program, program], cache="node-cache")
    assert [d.returncode for d in done] == [0, 0], both(done)[-4000:]
    return workdir / "two-nodes"


def test_two_nodes_train_the_model_one_node_trains(workdir, two_nodes):
    record = json.loads((two_nodes / "run_config.json").read_text())
    assert record["launch"] == {"processes": 2, "nodes": 2, "parallelism": "ddp"}
    precision = record["precision_used"]
    # The precision was decided once, by rank 0, and used by both.
    events = {p.stem: p.read_text().splitlines() for p in (workdir / "probes").iterdir()}
    assert sorted(events) == ["rank0", "rank1"]
    assert [e for e in events["rank0"] if e.startswith("precision")] == [
        f"precision-decided {precision}",
        f"precision-used {precision}",
    ]
    assert [e for e in events["rank1"] if e.startswith("precision")] == [f"precision-used {precision}"]
    # Tokenised at most once per node (both nodes share this machine's cache folder).
    for rank, lines in events.items():
        assert sum(int(e.split()[1]) for e in lines if e.startswith("encode ")) in (0, 48 + 16), (rank, lines)

    one = launch(workdir, 1, "one-node", "--precision", precision)
    assert one[0].returncode == 0, one[0].stderr[-4000:]
    single = metrics_of(workdir / "one-node")
    assert json.loads((workdir / "one-node" / "run_config.json").read_text())["launch"] == {
        "processes": 2,
        "nodes": 1,
        "parallelism": "ddp",
    }
    ours = metrics_of(two_nodes)
    assert ours["train"]["steps"] == single["train"]["steps"] == 12
    assert math.isclose(ours["eval"]["loss"], single["eval"]["loss"], rel_tol=1e-6)
    assert same_weights(two_nodes, workdir / "one-node")
    # One output folder, no staging or lock left beside it.
    assert sorted(p.name for p in workdir.glob(".two-nodes*")) == []


def test_a_node_killed_mid_run_resumes_on_both_nodes_to_the_same_result(workdir, two_nodes):
    precision = json.loads((two_nodes / "run_config.json").read_text())["precision_used"]
    killed = launch(
        workdir,
        2,
        "killed",
        "--precision",
        precision,
        programs=[["-m", "taskrun"], [str(KILLER), "step", "9"]],  # node 1 dies as step 9 begins
    )
    assert all(d.returncode != 0 for d in killed), both(killed)[-4000:]
    folder = workdir / "killed"
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoints"]
    assert (folder / "checkpoints" / "checkpoint-6" / "taskrun-manifest.json").is_file()

    resumed = launch(workdir, 2, "killed", "--precision", precision, "--resume", "auto")
    assert [d.returncode for d in resumed] == [0, 0], both(resumed)[-4000:]
    assert "resuming from" in both(resumed) and "(step 6)" in both(resumed)
    assert both(resumed, "stdout").count("finished in") == 1  # one summary, from rank 0
    assert same_weights(folder, two_nodes)
    ours, theirs = metrics_of(folder), metrics_of(two_nodes)
    assert ours["train"]["steps"] == theirs["train"]["steps"]
    for key in ("loss", "accuracy", "macro_f1"):
        assert ours["eval"][key] == theirs["eval"][key], key
    assert not (folder / "checkpoints").exists()


def test_a_refused_output_folder_is_reported_once_and_every_rank_exits_with_its_code(workdir, two_nodes):
    done = launch(workdir, 2, "two-nodes", "--precision", "fp32")
    errors = both(done)
    assert errors.count("Error: --output-dir two-nodes already holds a finished run.") == 1, errors[-4000:]
    # Every rank exited with OutputExistsError's code (2); torchrun itself exits 1 and says so per rank.
    for d in done:
        assert d.returncode != 0
        assert "(exitcode: 2)" in d.stderr, d.stderr[-3000:]
    assert sorted(p.name for p in workdir.glob(".two-nodes*")) == []  # the lock file is gone


def slurm_taskrun_arguments() -> list[str]:
    """The taskrun arguments of examples/slurm/train.sbatch's `srun torchrun ... -m taskrun ...`,
    its shell variables given the script's own defaults."""
    script = (Path(__file__).parents[1] / "examples" / "slurm" / "train.sbatch").read_text()
    command = script.split("srun torchrun", 1)[1].replace("\\\n", " ")
    words = shlex.split(command.split("\n", 1)[0])
    return words[words.index("taskrun") + 1 :]


def test_the_slurm_example_runs_a_taskrun_command_that_parses(cli, tmp_path):
    arguments = slurm_taskrun_arguments()
    assert arguments[:2] == ["run", "mrpc"] and "--resume" in arguments
    values = {"$DATA": str(tmp_path / "glue" / "MRPC"), "$OUTPUT": str(tmp_path / "out")}
    arguments = [values.get(a, a) for a in arguments]
    assert not [a for a in arguments if a.startswith("$")], arguments
    # Parsed and resolved (task, options, config) without training; --print-config leaves out the
    # per-invocation options (--output-dir, --resume), and shows the rest with their sources.
    done = cli(*arguments, "--print-config")
    assert done.exit_code == 0, done.output
    assert 'model = "embedded"  # command line' in done.output
    assert f'data_dir = "{values["$DATA"]}"  # command line' in done.output
