"""The pictures a run leaves: the confusion matrix, per-class figures and the training curves, as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no screen needed
    import matplotlib.pyplot as plt

    return plt


MAX_CLASSES_SHOWN = 30  # beyond this a picture shows the most frequent classes: bounded size, time and memory


def most_frequent(labels: list[str], matrix: list[list[int]], limit: int) -> tuple[list[str], list[list[int]]]:
    """The `limit` classes with the most validation examples (true or predicted), and their part
    of the confusion matrix, in the original label order."""
    if len(labels) <= limit:
        return labels, matrix
    support = [sum(matrix[i]) + sum(row[i] for row in matrix) for i in range(len(labels))]
    keep = sorted(sorted(range(len(labels)), key=lambda i: -support[i])[:limit])
    return [labels[i] for i in keep], [[matrix[i][j] for j in keep] for i in keep]


def confusion_matrix_png(path: Path, labels: list[str], matrix: list[list[int]], title: str) -> None:
    """Rows: the true label; columns: the predicted one; each cell shows its count. With more than
    MAX_CLASSES_SHOWN labels, the most frequent ones (the full matrix is in metrics.json)."""
    plt = _pyplot()
    if len(labels) > MAX_CLASSES_SHOWN:
        title = f"{title}\nthe {MAX_CLASSES_SHOWN} most frequent of {len(labels)} classes"
        labels, matrix = most_frequent(labels, matrix, MAX_CLASSES_SHOWN)
    size = 2.5 + 0.6 * len(labels)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    largest = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center", color="white" if count > largest / 2 else "black")
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def training_curves_png(
    path: Path, history: list[dict[str, Any]], main_metric: str | None, title: str, kept_step: int | None = None
) -> None:
    """Training loss per logging step, validation loss and the main metric (the one that chose the
    published model) per evaluation; the published evaluation (`kept_step`) marked on both."""
    plt = _pyplot()
    train = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    evals = [h for h in history if "eval_loss" in h and "step" in h]
    panels = 2 if main_metric else 1
    figure, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    loss_axes = axes[0][0]
    if train:
        loss_axes.plot(*zip(*train), label="training loss")
    if evals:
        loss_axes.plot([h["step"] for h in evals], [h["eval_loss"] for h in evals], "o-", label="validation loss")
    loss_axes.set_xlabel("step")
    loss_axes.set_title("loss")
    loss_axes.legend()
    if main_metric:
        metric_axes = axes[0][1]
        points = [(h["step"], h[f"eval_{main_metric}"]) for h in evals if f"eval_{main_metric}" in h]
        if points:
            metric_axes.plot(*zip(*points), "o-", color="tab:green")
        metric_axes.set_xlabel("step")
        metric_axes.set_title(f"validation {main_metric} (chooses the published model)")
    if kept_step is not None:
        for panel in axes[0]:
            panel.axvline(kept_step, color="grey", linestyle=":", label=f"published (step {kept_step})")
        loss_axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def per_class_png(path: Path, per_class: dict[str, dict[str, float]], title: str) -> None:
    """Precision, recall and F1 of each class (a token task: each entity type) as grouped bars,
    with the support under each name; the most frequent MAX_CLASSES_SHOWN where there are more."""
    plt = _pyplot()
    names = sorted(per_class, key=lambda n: -per_class[n].get("support", 0))[:MAX_CLASSES_SHOWN]
    names = [n for n in per_class if n in names]
    figure, axes = plt.subplots(figsize=(2.5 + 1.1 * len(names), 4))
    width = 0.27
    for k, measure in enumerate(("precision", "recall", "f1")):
        values = [per_class[n][measure] for n in names]
        axes.bar([i + (k - 1) * width for i in range(len(names))], values, width, label=measure)
    axes.set_xticks(range(len(names)))
    axes.set_xticklabels([f"{n}\n({per_class[n].get('support', 0)})" for n in names], rotation=30, ha="right")
    axes.set_ylim(0, 1)
    axes.legend()
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
