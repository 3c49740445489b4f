"""Time to quality on real MRPC: how long from launch until the dev F1 first reaches 0.86 (the
project's quality bar), and the final F1, run one after another in one invocation:

(a) the course recipe (bench_mrpc.py's: `Trainer` written by hand, fp32, 3 epochs, batch 32,
    learning rate 5e-5, evaluation each epoch);
(b) `taskrun run mrpc` with the task's defaults (seed 42);
(c) `taskrun run mrpc --lora` with the task's defaults and LoRA's (rank 8, alpha 16, query and
    value, learning rate 5e-4), once per seed 13, 42 and 87.

Each runs in its own process under /usr/bin/time (peak resident memory); its output is read as
it comes, and each evaluation's F1 is stamped with the seconds since launch. The LoRA rows'
training samples/s against (b)'s is the step speed of LoRA against full fine-tuning with the
same settings (the learning rate aside). Targets: (b) reaches 0.86 in at most 0.5x (a)'s whole
run; LoRA steps at least 1.15x faster than (b); LoRA's mean final F1 over the seeds is at least 0.86.

    usage: python bench/bench_time_to_quality.py [--device cpu|cuda] [--data ../shared/data/glue/MRPC] [--quick]
      --quick: 320 training pairs, 1 epoch, 100 dev pairs, one LoRA seed (a smoke test of the script)
"""

import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

from bench_mrpc import RECIPE
from machine import describe, timed, training_bench_options

BAR = 0.86
SEEDS = (13, 42, 87)
F1 = re.compile(r"'eval_f1': '?([0-9.eE+-]+)'?")


def streamed(argv: list[str], workdir: Path, env: dict[str, str]) -> dict:
    """Run argv (machine.timed, its output read as it comes): wall seconds, peak RSS (MiB), every
    evaluation's (seconds since launch, F1), and the last line."""
    evaluations: list[tuple[float, float]] = []

    def evaluation(line: str, seconds: float) -> None:
        found = F1.search(line)
        if found and "eval_loss" in line:
            evaluations.append((seconds, float(found.group(1))))

    wall, rss, done = timed(argv, workdir, env, evaluation)
    return {"wall": wall, "rss": rss, "evaluations": evaluations, "last": done.stdout.strip().splitlines()[-1]}


def reached(evaluations: list[tuple[float, float]]) -> float | None:
    return next((seconds for seconds, f1 in evaluations if f1 >= BAR), None)


def taskrun_row(name: str, data: Path, work: Path, env: dict[str, str], extra: list[str]) -> dict:
    output = work / name
    row = streamed(
        [sys.executable, "-m", "taskrun", "run", "mrpc", "--model", "embedded", "--data-dir", str(data)]
        + ["--output-dir", str(output), "--no-pictures", *extra],
        work,
        env,
    )
    metrics = json.loads((output / "metrics.json").read_text())
    row.update(
        f1=metrics["eval"]["f1"],
        accuracy=metrics["eval"]["accuracy"],
        samples_per_second=metrics["train"]["samples_per_second"],
        precision=json.loads((output / "run_config.json").read_text())["precision_used"],
    )
    return row


def main() -> None:
    options, env, data = training_bench_options(__doc__, "glue/MRPC")
    train_n, eval_n, epochs = ("320", "100", "1") if options.quick else ("0", "0", "3")
    limits = ["--max-train-samples", train_n, "--max-eval-samples", eval_n, "--epochs", epochs] if options.quick else []
    seeds = SEEDS[1:2] if options.quick else SEEDS

    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env["TASKRUN_CACHE_DIR"] = str(work / "cache")
        recipe = streamed(
            [sys.executable, "-c", RECIPE, str(data), train_n, eval_n, epochs, "5e-5", "32", str(work / "recipe")]
            + [options.device],
            work,
            env,
        )
        result = json.loads(recipe["last"])
        rows["(a) recipe"] = {**recipe, **result, "samples_per_second": result["samples_per_second"]}
        rows["(b) taskrun, defaults"] = taskrun_row("defaults", data, work, env, limits)
        for seed in seeds:
            extra = [*limits, "--lora", "--seed", str(seed)]
            rows[f"(c) taskrun --lora, seed {seed}"] = taskrun_row(f"lora-{seed}", data, work, env, extra)

    recipe_wall = rows["(a) recipe"]["wall"]
    full = rows["(b) taskrun, defaults"]["samples_per_second"]
    print(describe(options.device))
    print(
        f"MRPC, {'quick: 320 train / 100 dev pairs, 1 epoch' if options.quick else 'all 3,668 train / 408 dev pairs, 3 epochs'}; "
        f"dev F1 bar {BAR}\n"
    )
    print(
        "| run | reaches F1 0.86 at (s) | vs (a)'s whole run | wall s | final dev F1 | accuracy | train samples/s | vs (b) | peak RSS MiB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        at = reached(row["evaluations"])
        shown_at = f"{at:.0f}" if at is not None else "never"
        ratio = f"{at / recipe_wall:.2f}x" if at is not None else "-"
        print(
            f"| {name} | {shown_at} | {ratio} | {row['wall']:.0f} | {row['f1']:.4f} | {row['accuracy']:.4f} | "
            f"{row['samples_per_second']:.1f} | {row['samples_per_second'] / full:.2f}x | {row['rss']:.0f} |"
        )
    lora = [row for name, row in rows.items() if "--lora" in name]
    f1s = [row["f1"] for row in lora]
    speed = statistics.mean(row["samples_per_second"] for row in lora) / full
    print(
        f"\nLoRA over seeds {', '.join(map(str, seeds))}: mean dev F1 {statistics.mean(f1s):.4f}"
        + (f" (std {statistics.stdev(f1s):.4f})" if len(f1s) > 1 else "")
        + f", training steps {speed:.2f}x full fine-tuning's speed"
    )
    for name, row in rows.items():
        print(f"{name}: evaluations (s, F1): {', '.join(f'({s:.0f}, {f:.4f})' for s, f in row['evaluations'])}")


if __name__ == "__main__":
    main()
