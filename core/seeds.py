"""Several seeds of one run: `--seeds 13,42,87` trains once per seed into OUTPUT/seed-N/ and
writes OUTPUT/summary.json with the mean, standard deviation and each run's value per metric.

A dev set of a few hundred examples is noisy: the spread over seeds says how much a difference
between two settings means. Each seed is a whole run (its own lock, checkpoints and record); with
`--resume auto` the seeds already finished are kept and an interrupted one continues.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .checkpoints import complete_checkpoints
from .errors import OutputExistsError, TrainingError, UsageError
from .files import write_json
from .launch import is_main_process
from .manager import TaskrunPluginManager
from .outputs import check_output_dir, missing_folders, remove_empty
from .rundir import CHECKPOINTS, finished_metrics, read_run_config
from .runner import CUT_TO_MODEL, RunResult, run
from .scoring import scores_of
from .settings import option_record
from .task import RunConfig

log = logging.getLogger("taskrun")
SUMMARY = "summary.json"


@dataclass
class SeedsResult:
    """The runs of each seed and their summary (as in OUTPUT/summary.json)."""

    output_dir: Path
    runs: dict[int, RunResult]
    summary: dict[str, Any]


def seed_folder(output_dir: Path, seed: int) -> Path:
    return Path(output_dir) / f"seed-{seed}"


def check_seeds(seeds: Sequence[int]) -> None:
    """--seeds names at least one seed, and none twice."""
    if not seeds:
        raise UsageError("--seeds: give at least one seed.")
    repeated = sorted({seed for seed in seeds if list(seeds).count(seed) > 1})
    if repeated:
        raise UsageError(f"--seeds: {', '.join(map(str, repeated))} given more than once.")


def run_seeds(manager: TaskrunPluginManager, config: RunConfig, seeds: Sequence[int]) -> SeedsResult:
    """Train `config` once per seed, then summarise. Every seed's output folder is checked before
    the first trains, so that a clash is found at once, not after an hour."""
    check_seeds(seeds)
    made = missing_folders(config.output_dir)
    try:
        return _run_seeds(manager, config, seeds)
    except BaseException:
        remove_empty(made)  # a run that fails before training leaves no empty OUTPUT/ behind
        raise


def _run_seeds(manager: TaskrunPluginManager, config: RunConfig, seeds: Sequence[int]) -> SeedsResult:
    if config.resume not in (None, "auto"):
        raise UsageError(
            "--seeds resumes with --resume auto (each seed from its own newest checkpoint), not a checkpoint."
        )
    if finished_metrics(Path(config.output_dir)) is not None:
        raise OutputExistsError(
            f"--output-dir {config.output_dir} holds a finished run; --seeds writes one run per seed into a folder.",
            hint="Choose another --output-dir.",
        )
    started = time.monotonic()
    plans = {
        seed: dataclasses.replace(
            config,
            seed=seed,
            output_dir=seed_folder(config.output_dir, seed),
            sources={**config.sources, "seed": "--seeds"},
        )
        for seed in seeds
    }
    kept = {
        seed
        for seed, plan in plans.items()
        if plan.resume and not plan.overwrite and finished_metrics(plan.output_dir) is not None
    }
    if not config.resume and not config.overwrite:
        check_earlier_seeds(Path(config.output_dir), plans)
    for seed in kept:
        check_same_settings(plans[seed])
    for seed, plan in plans.items():
        if seed not in kept:
            check_output_dir(plan.output_dir, plan.overwrite, plan.resume)
    results: dict[int, RunResult] = {}
    for number, (seed, plan) in enumerate(plans.items(), start=1):
        if seed in kept:
            log.info("seed %d (%d of %d): finished before, kept (%s)", seed, number, len(plans), plan.output_dir)
            kept_metrics = finished_metrics(plan.output_dir)
            metrics = kept_metrics.to_dict() if kept_metrics is not None else {}
            results[seed] = RunResult(plan.output_dir, metrics, float(metrics.get("seconds", 0.0)))
            continue
        log.info("seed %d (%d of %d) -> %s", seed, number, len(plans), plan.output_dir)
        try:
            results[seed] = run(manager, plan)
        except TrainingError as exc:  # say which seed diverged: the others may train fine
            raise TrainingError(f"seed {seed}: {exc.message}", hint=exc.hint) from exc
    summary = summarise(config, results, time.monotonic() - started)
    if is_main_process():
        write_json(Path(config.output_dir) / SUMMARY, summary)
    return SeedsResult(Path(config.output_dir), results, summary)


def check_earlier_seeds(output_dir: Path, plans: dict[int, RunConfig]) -> None:
    """Without --resume or --overwrite: a folder that holds seeds of this run from before (one
    that was killed, say) is refused saying which seeds finished and which was interrupted, and
    that --resume auto keeps the first and continues the second. --overwrite would delete the
    finished seeds: it is not offered."""
    finished = [seed for seed, plan in plans.items() if finished_metrics(plan.output_dir) is not None]
    interrupted = {seed: where for seed, plan in plans.items() if (where := interrupted_run(Path(plan.output_dir)))}
    if not finished and not interrupted:
        return
    kept = f"{_seeds(finished)} finished" if finished else ""
    if not interrupted:
        folders = ", ".join(str(plans[seed].output_dir) for seed in finished)
        raise OutputExistsError(
            f"--output-dir {output_dir} holds this --seeds run from before: {kept} ({folders}).",
            hint="Pass --resume auto to keep them (if trained with these settings) and train the other seeds, "
            "or choose another --output-dir.",
        )
    stopped = "; ".join(
        f"seed {seed} ({plans[seed].output_dir}) was interrupted: {where}" for seed, where in interrupted.items()
    )
    raise OutputExistsError(
        f"--output-dir {output_dir} holds this --seeds run from before, interrupted: {stopped}"
        + (f"; {kept}." if kept else "."),
        hint="Pass --resume auto to continue it: "
        + ("the finished seeds are kept (if trained with these settings), and " if finished else "")
        + "each interrupted seed continues from its newest complete checkpoint. Or choose another --output-dir.",
    )


def _seeds(seeds: Any) -> str:
    """`seed 1` or `seeds 1, 2`."""
    return ("seeds " if len(seeds) > 1 else "seed ") + ", ".join(map(str, seeds))


def interrupted_run(folder: Path) -> str | None:
    """Where an interrupted run in `folder` (its checkpoints only) got to; None for anything else."""
    if not folder.is_dir() or {entry.name for entry in folder.iterdir()} != {CHECKPOINTS}:
        return None
    newest = complete_checkpoints(folder / CHECKPOINTS, hashes=False)
    return f"its newest complete checkpoint is {newest[-1].path.name}" if newest else "it has no complete checkpoint"


# Options that may differ between a kept seed's run and this command: how the runs are carried out.
NOT_COMPARED = {"seed", "output_dir", "resume", "force_resume", "overwrite", "cache", "pictures", "keep_checkpoints"}


def _same(recorded: dict[str, Any], value: Any) -> bool:
    """A recorded option equals this command's value; a --max-length the model cut equals any value
    at least the model's limit."""
    if CUT_TO_MODEL in str(recorded.get("source")) and isinstance(value, int):
        return value >= recorded["value"]
    return recorded.get("value") == value


def check_same_settings(plan: RunConfig) -> None:
    """A seed kept from before must have been trained with this command's settings: otherwise the
    summary would mix two experiments."""
    try:
        recorded = read_run_config(plan.output_dir).options
    except (OSError, ValueError):
        recorded = {}
    now = json.loads(json.dumps(option_record(plan), default=str))  # as the record holds it: lists, strings
    differ = [
        name
        for name in now
        if name not in NOT_COMPARED and name in recorded and not _same(recorded[name], now[name]["value"])
    ]
    if differ:
        shown = "; ".join(f"{name}: {recorded[name]['value']!r} there, {now[name]['value']!r} now" for name in differ)
        raise UsageError(
            f"{plan.output_dir} was trained with other settings ({shown}); it cannot be kept in this summary.",
            hint="Run the same settings, or start again in another --output-dir.",
        )


def summarise(config: RunConfig, results: dict[int, RunResult], seconds: float) -> dict[str, Any]:
    """Per metric: mean, sample standard deviation (n - 1; 0 for one seed), min, max and each
    seed's value; the primary metric first."""
    first = next(iter(results.values())).metrics
    primary = first.get("primary_metric", {}).get("name")
    per_seed = {seed: scores_of(result.metrics["eval"]) for seed, result in results.items()}
    names = list(dict.fromkeys(name for scores in per_seed.values() for name in scores))
    names.sort(key=lambda name: (name != primary, name == "loss"))
    metrics = {}
    for name in names:
        values = {seed: scores[name] for seed, scores in per_seed.items() if name in scores}
        numbers = list(values.values())
        metrics[name] = {
            "mean": statistics.fmean(numbers),
            "std": statistics.stdev(numbers) if len(numbers) > 1 else 0.0,
            "min": min(numbers),
            "max": max(numbers),
            "runs": {str(seed): value for seed, value in values.items()},
        }
    settings = {k: v for k, v in option_record(config).items() if k not in ("seed", "output_dir")}
    return {
        "task": first.get("task"),
        "seeds": list(results),
        "primary_metric": first.get("primary_metric"),
        "metrics": metrics,
        "runs": {str(seed): result.output_dir.name for seed, result in results.items()},
        "seconds": {str(seed): round(result.seconds, 1) for seed, result in results.items()},
        "total_seconds": round(seconds, 1),
        "settings": settings,
    }


def summary_table(summary: dict[str, Any]) -> list[list[str]]:
    """The rows of the table printed after the seeds: metric, mean ± std, then each seed."""
    seeds = [str(seed) for seed in summary["seeds"]]
    rows = [["METRIC", "MEAN ± STD", *(f"SEED {seed}" for seed in seeds)]]
    for name, figures in summary["metrics"].items():
        rows.append(
            [
                name,
                f"{figures['mean']:.4f} ± {figures['std']:.4f}",
                *(f"{figures['runs'][seed]:.4f}" if seed in figures["runs"] else "" for seed in seeds),
            ]
        )
    return rows
