"""Scoring: logits -> predictions -> metrics, the same way for a run's evaluation, `taskrun eval`
and anything that reads a finished run. Imports no training code.

The metrics of a task are its family's defaults (`Family.metrics`), with the answers of the
task's `taskrun_metrics` plugins merged over them, then the results of the `evaluate` modules the
task and the run name (taskrun.evaluate_metrics), as `MODULE/KEY`.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from .errors import PluginError, UsageError
from .family import family_of
from .manager import TaskrunPluginManager
from .task import Predictions, RunConfig, TaskSpec

log = logging.getLogger("taskrun")

# metrics.json's name for the loss a run trained on where it was not the model's own
# (`--class-weights balanced`, a plugin's taskrun_loss); `loss` is always the model's own loss
OBJECTIVE_LOSS = "objective_loss"
NOT_SCORES = {
    "rows_with_unseen_labels",
    "split",
    "samples",
    "runtime",
    "samples_per_second",
    "steps_per_second",
    "epoch",
    "model",
    "task",
}


def first_logits(predictions: Any) -> np.ndarray:
    """The logits of a model output that may be a tuple (logits first)."""
    return predictions[0] if isinstance(predictions, tuple) else predictions


def postprocess(
    manager: TaskrunPluginManager,
    task: TaskSpec,
    config: RunConfig,
    logits: Any,
    label_names: list[str],
    inputs: list[dict[str, Any]] | None = None,
) -> Predictions:
    """The task's `taskrun_postprocess` answer for a batch of logits (and, for predict, the
    features and examples they were computed from)."""
    return manager.stages(task).postprocess(config, first_logits(logits), list(label_names), inputs)


def merged_metrics(
    manager: TaskrunPluginManager,
    task: TaskSpec,
    predictions: Predictions,
    references: np.ndarray,
    label_names: list[str],
    evaluate_metrics: Sequence[str] = (),
) -> dict[str, float]:
    """The family's default metrics, then each task plugin's metrics over them (the same name from
    two plugins is an error); every metric the task declares must be there. Then the results of
    the task's `evaluate` modules and of `evaluate_metrics` (the run's `--evaluate-metric`), as
    `MODULE/KEY`, each checked against the bundled metric of the same KEY (a warning where they
    disagree)."""
    merged = dict(family_of(task).metrics(task, predictions, np.asarray(references), label_names))
    reported_by: dict[str, str] = {}
    for plugin, answer in manager.stages(task).metrics(predictions, references, label_names):
        if not isinstance(answer, dict):
            raise PluginError(
                f"plugin {plugin!r}, task {task.name!r}: taskrun_metrics must return a dict, not {answer!r}"
            )
        for name, value in answer.items():
            if name in reported_by:
                raise PluginError(
                    f"task {task.name!r}: plugins {reported_by[name]!r} and {plugin!r} both report the metric {name!r}."
                )
            reported_by[name] = plugin
            merged[name] = float(value)
    missing = [name for name in task.metrics if name not in merged]
    if missing:
        raise PluginError(
            f"plugin {task.plugin!r}, task {task.name!r}: declares the metric(s) {missing}, but no hook reported "
            f"them (reported: {', '.join(merged)})."
        )
    names = [*task.evaluate_metrics, *evaluate_metrics]
    if names:
        from .evaluate_metrics import disagreements, load_modules, module_scores

        modules = load_modules(names)  # loaded once per process: the run loaded them before any data
        inputs = family_of(task).evaluate_inputs(task, predictions, np.asarray(references), label_names)
        scores = module_scores(modules, *inputs)
        for sentence in disagreements(scores, merged):
            log.warning("%s", sentence)
        merged.update(scores)
    return merged


def scores_of(evaluation: dict[str, Any]) -> dict[str, float]:
    """The metric values of an evaluation, without timings, counts and nested tables."""
    return {
        k: v
        for k, v in evaluation.items()
        if k not in NOT_SCORES and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def epochs_text(metrics: dict[str, Any], configured: float) -> str:
    """How long the run trained, for the summary and the card: "3 epoch(s)", or "2 of 4 epoch(s),
    stopped early" where early stopping ended it."""
    trained = metrics.get("train", {}).get("epoch")
    if metrics.get("stopped_early") and isinstance(trained, (int, float)):
        return f"{round(trained, 2):g} of {configured:g} epoch(s), stopped early"
    return f"{configured:g} epoch(s)"


def kept_text(metrics: dict[str, Any]) -> str | None:
    """Which model was published, for the summary and the card: the best evaluation (its epoch,
    step and the metric that chose it) or the last one; None for a run that records neither."""
    best = metrics.get("best")
    if not best:
        return None
    if best.get("published") == "best" and best.get("value") is not None:
        epoch = f"epoch {round(best['epoch'], 2):g}, " if best.get("epoch") is not None else ""
        return f"the best evaluation ({epoch}step {best['step']}) by {best['metric']} {best['value']:.4f}"
    return "the model of the last step"


def primary_metric(task: TaskSpec, reported: list[str]) -> tuple[str, bool]:
    """The task's headline metric, plotted and shown first, and whether higher is better: the one
    the task names, else its first declared one, else the family's choice (without metrics: the
    validation loss, lower is better)."""
    names = [name for name in reported if name != "loss"] or ["loss"]
    return task.primary(family_of(task).metric_order(task, names))


def expected_metric_names(task: TaskSpec, num_labels: int) -> list[str]:
    """The metrics a run of `task` reports, known before it runs: the family's defaults and the
    ones the task declares (a plugin's undeclared extras are known only once reported)."""
    names = list(family_of(task).metric_names(task, num_labels))
    return names + [name for name in task.metrics if name not in names]


def best_metric(task: TaskSpec, chosen: str | None, num_labels: int) -> tuple[str, bool]:
    """The metric that picks the published model and stops early (--metric-for-best, else the
    primary metric), and whether higher is better. A name the task does not report is refused
    before training, not at the first evaluation."""
    from .task import greater_is_better, suggestion

    names = expected_metric_names(task, num_labels)
    primary = primary_metric(task, names)
    if chosen is None:
        return primary
    name = chosen.removeprefix("eval_")
    if name not in [*names, "loss"]:
        raise UsageError(
            f"--metric-for-best {chosen}: task {task.name!r} does not report it{suggestion(name, [*names, 'loss'])}; "
            f"it reports {', '.join(names)} and loss."
        )
    return (name, primary[1]) if name == primary[0] else (name, greater_is_better(name))


def best_evaluation(history: list[dict[str, Any]], metric: str, higher: bool) -> dict[str, Any] | None:
    """The first evaluation in Trainer's log history with the best `metric`: the one Trainer
    restores at the end (a later tie is no improvement, as for Trainer and early stopping)."""
    best = None
    for entry in history:
        value = entry.get(f"eval_{metric}")
        if value is None:
            continue
        if best is None or (value > best[f"eval_{metric}"] if higher else value < best[f"eval_{metric}"]):
            best = entry
    return best


def evaluation_history(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every evaluation during training, in order: step, epoch and the metrics (no timings)."""
    return [
        {"step": entry["step"], "epoch": entry.get("epoch"), **scores_of(_without_prefix(entry))}
        for entry in history
        if "eval_loss" in entry
    ]


def _without_prefix(entry: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix("eval_"): v for k, v in entry.items() if k.startswith("eval_")}
