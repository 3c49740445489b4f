"""The data of a run: the task's splits asked of its plugin, limited and checked, their label
names and class counts, and the truncation marks of the default tokenisation.
"""

from __future__ import annotations

import logging
from typing import Any

from .data import class_names
from .errors import DataError, PluginError
from .family import family_of
from .manager import TaskrunPluginManager
from .task import RunConfig, TaskSpec

log = logging.getLogger("taskrun")


def label_names_of(task: TaskSpec, dataset: Any) -> list[str]:
    """The class names, read from the train split's label feature: a `ClassLabel` (single-label)
    or a `Sequence` of one (multi-label). Regression has none."""
    if task.problem_type == "regression":
        return []
    feature = dataset["train"].features.get(task.label_column)
    names = class_names(feature)
    if not names:
        raise PluginError(
            f"plugin {task.plugin!r}, task {task.name!r}: the label column {task.label_column!r} of the "
            f"dataset must be a datasets.ClassLabel with names (found {feature!r})."
        )
    if task.labels is not None and tuple(names) != tuple(task.labels):
        raise PluginError(
            f"plugin {task.plugin!r}, task {task.name!r}: the data's labels {names} differ from the "
            f"labels the task declares {list(task.labels)}."
        )
    return names


def _limit(dataset: Any, split: str, count: int | None) -> None:
    if count is not None and len(dataset[split]) > count:
        dataset[split] = dataset[split].select(range(count))


def load_data(manager: TaskrunPluginManager, task: TaskSpec, config: RunConfig) -> tuple[Any, list[str]]:
    """Ask the task's plugin for its data; check the splits; apply the sample limits."""
    dataset = manager.stages(task).load_dataset(config)
    if dataset is None:
        raise PluginError(
            f"plugin {task.plugin!r} gave no data for task {task.name!r} (taskrun_load_dataset returned None)."
        )
    missing = [split for split in ("train", "validation") if split not in dataset]
    if missing:
        raise PluginError(
            f"plugin {task.plugin!r}, task {task.name!r}: the dataset has no {' or '.join(missing)} split."
        )
    _limit(dataset, "train", config.max_train_samples)
    _limit(dataset, "validation", config.max_eval_samples)
    for split in ("train", "validation"):
        if len(dataset[split]) == 0:
            raise DataError(f"task {task.name!r}: the {split} split has no rows.")
    return dataset, family_of(task).label_names(task, dataset)


IMBALANCE_RATIO = 5.0


def class_counts(task: TaskSpec, train: Any, label_names: list[str]) -> list[int]:
    """How many training examples carry each label (multi-label: each label counted once per example)."""
    labels = train[task.label_column]
    counts = [0] * len(label_names)
    for label in labels:
        for i in label if isinstance(label, list) else [label]:
            if 0 <= i < len(counts):
                counts[i] += 1
    return counts


def check_classes(task: TaskSpec, counts: list[int], label_names: list[str]) -> None:
    """One class in training is an error; a heavy imbalance is a warning with the distribution."""
    present = [n for n in counts if n]
    if task.problem_type == "single-label" and len(present) < 2:
        only = label_names[counts.index(present[0])] if present else "none"
        raise DataError(
            f"task {task.name!r}: the training data holds only one class ({only!r}, {sum(counts)} rows); "
            f"a classifier needs at least two."
        )
    if present and max(present) >= IMBALANCE_RATIO * min(present):
        total = sum(counts)
        distribution = ", ".join(f"{name} {n} ({n / total:.1%})" for name, n in zip(label_names, counts))
        log.warning(
            "the training labels are imbalanced: %s. Per-class figures are in metrics.json; "
            "--class-weights balanced weights the loss.",
            distribution,
        )


def drop_truncation_marks(tokenized: Any, config: RunConfig) -> tuple[Any, dict[str, int]]:
    """Count, report and remove the `truncated` column that the default preprocessing adds."""
    counts = {}
    for split in list(tokenized):
        if "truncated" in tokenized[split].column_names:
            counts[split] = int(sum(tokenized[split]["truncated"]))
            tokenized[split] = tokenized[split].remove_columns("truncated")
    cut = {split: n for split, n in counts.items() if n}
    if cut:
        parts = ", ".join(f"{split} {n:,} of {len(tokenized[split]):,}" for split, n in cut.items())
        log.info("texts longer than %d tokens were truncated: %s", config.max_length, parts)
    return tokenized, counts


UNSEEN = -100  # the label id of a row whose label the model does not have: the loss ignores it, metrics count it wrong


def ids_by_name(data_names: list[str], model_names: list[str]) -> dict[int, int]:
    """Each data label id -> the model's id of the same name, or UNSEEN: labels travel by name."""
    return {i: model_names.index(name) if name in model_names else UNSEEN for i, name in enumerate(data_names)}


def align_labels(tokenized: Any, dataset: Any, task: TaskSpec, label_names: list[str]) -> tuple[Any, dict[str, int]]:
    """Labels travel by name: a split whose label names differ from the training split's (a
    validation label that training never saw, kept by the plugin) has its single-label ids
    mapped by name to the model's; a label the model does not have becomes UNSEEN. Returns the
    splits and how many rows of each have an unseen label."""
    from datasets import Value

    unseen: dict[str, int] = {}
    if task.problem_type != "single-label":
        return tokenized, unseen
    for split in tokenized:
        names = class_names(dataset[split].features.get(task.label_column)) if split in dataset else []
        if not names or names == label_names or "labels" not in tokenized[split].column_names:
            continue
        to_model = ids_by_name(names, label_names)
        data = tokenized[split].cast_column("labels", Value("int64"))
        tokenized[split] = data.map(lambda row: {"labels": to_model.get(row["labels"], row["labels"])})
        unseen[split] = sum(1 for label in tokenized[split]["labels"] if label == UNSEEN)
    return tokenized, unseen
