"""Time to first step: from launching `taskrun run mrpc --model embedded` to its first optimizer
step, with a warm tokenisation cache, and where that time goes.

Each launch is a fresh process running the `taskrun` command (`taskrun.cli:main`) under a small
probe that changes nothing in what runs: once `taskrun.runner` and `taskrun.training` are
imported, it wraps the run's stages (data loading and checks, tokenizer, data hash, precision
choice, cache load, model, Trainer construction) to timestamp them, and a global torch optimizer
hook stamps the first optimizer step, after which the process exits (no training, nothing
published). The first launch fills the cache (it is not counted); then --launches timed ones
(median per stage), and one more under `python -X importtime` for which packages the imports
spend the time on (importtime slows imports, so that launch counts only for its import table).
For scale, the floor that the libraries set: a process that only imports what a run needs
(datasets, transformers' tokenizer and Trainer, torch), timed in turn with the launches.
Where the CPU has bf16 instructions, `--precision auto` times a bf16 matrix product: that probe
is timed on its own here too.

    usage: python scripts/first_step.py [--launches 3] [--data ../shared/data/glue/MRPC] [-- RUN OPTIONS...]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from machine import describe  # noqa: E402

# Runs in the launched process, before taskrun's CLI. Marks are (label, wall time) pairs, written
# as JSON to $FIRST_STEP_MARKS at the first optimizer step.
PROBE = r"""
import importlib.abc, importlib.util, json, os, sys, time
marks = [("python started", time.time())]

def stamp(label):
    marks.append((label, time.time()))

def timed(owner, name, label, start_only=False):
    # stamps the start of owner.name (start_only: `label` is what ran before it) and its end
    function = getattr(owner, name)
    def wrapper(*args, **kwargs):
        stamp(label if start_only else "before " + label)
        if start_only:
            return function(*args, **kwargs)
        try:
            return function(*args, **kwargs)
        finally:
            stamp(label)
    setattr(owner, name, wrapper)

def first_step(optimizer, args, kwargs):
    stamp("first optimizer step")
    with open(os.environ["FIRST_STEP_MARKS"], "w") as f:
        json.dump(marks, f)
    sys.stdout.flush(), sys.stderr.flush()
    os._exit(0)

def first_forward(module, args):
    stamp("Trainer.train until the first forward")
    forward_hook.remove()

def on_runner(module):
    timed(module, "run", "CLI: imports, plugins, options", start_only=True)
    timed(module, "tracking_setup", "import of taskrun.training (transformers.Trainer)", start_only=True)
    for name, label in (("resolve_model", "the model's source"), ("load_data", "data loading and checks"),
                        ("load_tokenizer", "tokenizer (imports transformers)"), ("data_digest", "data hash"),
                        ("resolve_precision", "precision choice (imports torch; bf16 probe where the CPU has bf16)"),
                        ("cached_preprocess", "tokenised data from the cache"), ("build_model", "model load")):
        timed(module, name, label)

def on_training(module):
    global forward_hook
    from torch.nn.modules.module import register_module_forward_pre_hook
    from torch.optim.optimizer import register_optimizer_step_post_hook
    timed(module, "training_arguments", "TrainingArguments")
    timed(module.TaskrunTrainer, "__init__", "Trainer construction")
    register_optimizer_step_post_hook(first_step)
    forward_hook = register_module_forward_pre_hook(first_forward)

class After(importlib.abc.MetaPathFinder):
    # Wraps the loading of the modules in `hooks`, so each is patched as soon as it is imported.
    hooks = {"taskrun.runner": on_runner, "taskrun.training": on_training}
    def find_spec(self, name, path, target=None):
        if name not in self.hooks:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        exec_module, hook = spec.loader.exec_module, self.hooks[name]
        def patched(module):
            exec_module(module)
            hook(module)
        spec.loader.exec_module = patched
        return spec

sys.meta_path.insert(0, After())
from taskrun.cli import main
sys.argv = ["taskrun", *sys.argv[1:]]
main()
"""


LIBRARIES = "import datasets; from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer"


def library_floor(env: dict[str, str]) -> float:
    """Seconds for a fresh process to import the libraries that every run imports."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", LIBRARIES], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def launch(argv: list[str], env: dict[str, str], importtime: bool = False) -> tuple[list, str]:
    """One launch of the probe; its marks relative to the launch (seconds) and its stderr."""
    marks_file = Path(env["FIRST_STEP_MARKS"])
    marks_file.unlink(missing_ok=True)
    flags = ["-X", "importtime"] if importtime else []
    started = time.time()
    done = subprocess.run([sys.executable, *flags, "-c", PROBE, *argv], env=env, capture_output=True, text=True)
    if not marks_file.exists():
        sys.exit(f"the run ended (exit {done.returncode}) before its first optimizer step:\n{done.stderr[-3000:]}")
    return [(label, at - started) for label, at in json.loads(marks_file.read_text())], done.stderr


def intervals(marks: list) -> list[tuple[str, float]]:
    """What each stretch between two marks was: the stage that ends there, or what lay between stages."""
    rows, previous, at_previous = [], "launch", 0.0
    for label, at in marks:
        if label.startswith("before "):
            name = f"(between {previous} and {label[7:]})"
        elif label == "python started":
            name = "python interpreter start"
        else:
            name = label
        rows.append((name, at - at_previous))
        previous, at_previous = label.removeprefix("before "), at
    return [(name, seconds) for name, seconds in rows if not name.startswith("(") or seconds >= 0.005]


IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_table(stderr: str, top: int = 10) -> tuple[float, list[tuple[str, float]]]:
    """From `-X importtime`: the time of all imports, and the packages that took longest to
    import (each package's cumulative time: with whatever it was the first to import)."""
    total, packages = 0.0, {}
    for self_us, cumulative_us, indent, name in IMPORT_LINE.findall(stderr):
        total += int(self_us) / 1e6
        if "." not in name:
            packages[name] = int(cumulative_us) / 1e6
    return total, sorted(packages.items(), key=lambda item: -item[1])[:top]


def bf16_probe_seconds() -> float | None:
    """What `--precision auto`'s bf16 probe costs on this CPU; None where the CPU has no bf16
    flags, since a run does not probe there."""
    from taskrun.precision import bf16_matmul_speedup, cpu_has_fast_bf16

    if not cpu_has_fast_bf16():
        return None
    bf16_matmul_speedup(rounds=1)  # torch's own first-call costs, paid before the probe in a run
    start = time.perf_counter()
    bf16_matmul_speedup()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launches", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/glue/MRPC")
    parser.add_argument("run_options", nargs="*", help="more `taskrun run` options, after --")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "TASKRUN_CACHE_DIR": str(work / "cache"), "FIRST_STEP_MARKS": str(work / "marks.json")}
        env.setdefault("HF_HUB_OFFLINE", "1")

        def argv(n: int) -> list[str]:
            return ["run", "mrpc", "--model", "embedded", "--data-dir", str(options.data.resolve())] + [
                "--output-dir",
                str(work / f"out-{n}"),
                *options.run_options,
            ]

        launch(argv(0), env)  # fills the tokenisation cache (and the OS's file cache)
        runs, floors = [], []
        for n in range(1, options.launches + 1):
            runs.append(launch(argv(n), env)[0])
            floors.append(library_floor(env))
        traced, stderr = launch(argv(options.launches + 1), env, importtime=True)

    per_stage: dict[str, list[float]] = defaultdict(list)
    for marks in runs:
        for name, seconds in intervals(marks):
            per_stage[name].append(seconds)
    totals = [marks[-1][1] for marks in runs]
    print(describe("cpu"))
    print(f"`{' '.join(['taskrun run mrpc --model embedded --data-dir MRPC', *options.run_options])}`")
    print(f"launch to first optimizer step, warm cache: median {statistics.median(totals):.2f} s of {len(runs)}")
    print(f"({', '.join(f'{t:.2f}' for t in totals)})")
    print(f"the libraries' imports alone (`python -c '{LIBRARIES}'`): median {statistics.median(floors):.2f} s\n")
    print("| stage | median s | share |\n| --- | --- | --- |")
    total = statistics.median(totals)
    for name, values in per_stage.items():
        print(f"| {name} | {statistics.median(values):.3f} | {statistics.median(values) / total:.0%} |")
    imports, packages = import_table(stderr)
    print(
        f"\nImports (`-X importtime`, one launch, {traced[-1][1]:.2f} s to the first step under it): "
        f"{imports:.2f} s in all; the slowest packages, each with what it imported first:\n"
    )
    print("| package | cumulative s |\n| --- | --- |")
    for package, seconds in packages:
        print(f"| {package} | {seconds:.2f} |")
    probe = bf16_probe_seconds()
    print(
        "\n`--precision auto`'s bf16 probe: "
        + (f"{probe:.2f} s on this CPU, timed alone." if probe is not None else "not run (no bf16 flags on this CPU).")
    )


if __name__ == "__main__":
    main()
