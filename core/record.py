"""The run record: what a finished run leaves beside its model so that it can be understood,
compared and repeated: metrics.json, run_config.json (the resolved settings and versions), the
model card (README.md) and the pictures. The pictures are drawn after the run is published, and
one that fails is a warning: an extra never costs the trained model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .files import write_atomically, write_json
from .outputs import RUN_MARKER
from .scoring import scores_of
from .task import RunConfig, TaskSpec

log = logging.getLogger("taskrun")


def write_record(
    folder: Path,
    task: TaskSpec,
    config: RunConfig,
    metrics: dict[str, Any],
    precision: str,
    label_names: list[str],
    text_inputs: list[str],
) -> None:
    """metrics.json, README.md and run_config.json (last: it marks the run finished and lists
    every file taskrun writes, the pictures to come included, which --overwrite may replace)."""
    metrics["pictures"] = planned_pictures(metrics["eval"]) if config.pictures else []
    write_json(folder / "metrics.json", metrics)
    write_atomically(folder / "README.md", model_card(task, config, metrics, label_names, text_inputs))
    (folder / "training_args.bin").unlink(missing_ok=True)  # a pickle; run_config.json has the settings
    record = run_record(task, config, precision, label_names, text_inputs)
    record["files"] = sorted({p.name for p in folder.iterdir()} | {RUN_MARKER, *metrics["pictures"]})
    write_json(folder / RUN_MARKER, record)


def add_pictures(
    folder: Path,
    task: TaskSpec,
    config: RunConfig,
    metrics: dict[str, Any],
    history: list[dict[str, Any]],
    label_names: list[str],
    text_inputs: list[str],
) -> None:
    """Draw the pictures into a published run folder. Called after the model is safe in place: a
    picture that fails (or a process killed while drawing) costs the picture, never the model; a
    failure is a warning, and metrics.json and the card then name only the pictures drawn."""
    drawn = []
    for name in metrics["pictures"]:
        try:
            draw_picture(folder / name, task, history, metrics, name)
            drawn.append(name)
        except Exception as exc:  # a picture is an extra: never worth the trained model
            log.warning(
                "%s could not be drawn (%s: %s); the model and metrics are saved", name, type(exc).__name__, exc
            )
    if drawn != metrics["pictures"]:
        metrics["pictures"] = drawn
        try:
            write_json(folder / "metrics.json", metrics)
            write_atomically(folder / "README.md", model_card(task, config, metrics, label_names, text_inputs))
        except OSError as exc:
            log.warning("cannot update %s after a failed picture (%s); the model is saved", folder, exc)


def run_record(
    task: TaskSpec, config: RunConfig, precision: str, label_names: list[str], text_inputs: list[str]
) -> dict[str, Any]:
    """The resolved configuration, with versions, so a run can be understood and repeated."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for package in ("taskrun", "transformers", "torch", "datasets"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    from .settings import option_record

    settings = config.to_dict()
    settings.pop("sources")
    return {
        **settings,
        "options": option_record(config),  # every option's value and where it came from
        "plugin": task.plugin,
        "problem_type": task.problem_type,
        "precision_used": precision,
        "labels": label_names,
        "text_inputs": text_inputs,  # the one or two text columns the model was trained on
        "versions": versions,
    }


def planned_pictures(evaluation: dict[str, Any]) -> list[str]:
    """confusion_matrix.png (single-label) and training_curves.png."""
    return (["confusion_matrix.png"] if "confusion_matrix" in evaluation else []) + ["training_curves.png"]


def draw_picture(path: Path, task: TaskSpec, history: list[dict[str, Any]], metrics: dict[str, Any], name: str) -> None:
    """One of the planned pictures, bounded in size whatever the number of labels."""
    from .plots import confusion_matrix_png, training_curves_png

    evaluation = metrics["eval"]
    if name == "confusion_matrix.png":
        matrix = evaluation["confusion_matrix"]
        title = f"{task.name}: validation ({evaluation['samples']} examples)"
        confusion_matrix_png(path, matrix["labels"], matrix["rows_true_columns_predicted"], title)
    else:
        primary = metrics["primary_metric"]["name"]
        training_curves_png(path, history, primary if primary != "loss" else None, task.name)


def model_card(
    task: TaskSpec, config: RunConfig, metrics: dict[str, Any], label_names: list[str], text_inputs: list[str]
) -> str:
    """README.md for the run folder: what was trained, on what, how well, how to use it."""
    evaluation, train = metrics["eval"], metrics["train"]
    score_rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in scores_of(evaluation).items())
    per_class = evaluation.get("per_class", {})
    class_rows = "\n".join(
        f"| {name} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
        for name, r in per_class.items()
    )
    class_table = (
        (
            f"\n### Per class\n\n| label | precision | recall | F1 | support |\n| --- | --- | --- | --- | --- |\n"
            f"{class_rows}\n"
        )
        if per_class
        else ""
    )
    pictures = "".join(f"\n![{name}]({name})\n" for name in metrics.get("pictures", []))
    if len(text_inputs) == 2:
        example_call = 'classifier({"text": "first sentence", "text_pair": "second sentence"})'
        predict_call = f'taskrun predict {config.output_dir} "first sentence<TAB>second sentence"'
    else:
        example_call = 'classifier("some text")'
        predict_call = f'taskrun predict {config.output_dir} "some text"'
    data = (
        f"{task.data_source or 'see run_config.json'}; {train['samples']:,} training and "
        f"{evaluation['samples']:,} validation examples"
    )
    dropout = "model's own" if config.dropout is None else f"{config.dropout:g}"
    settings = (
        f"{config.epochs:g} epoch(s), learning rate {config.learning_rate:g}, batch size {config.batch_size}, "
        f"max length {config.max_length}, warmup ratio {config.warmup_ratio:g}, weight decay "
        f"{config.weight_decay:g}, dropout {dropout}, word embeddings "
        f"{'frozen' if config.freeze_embeddings else 'trained'}, seed {config.seed}"
    )
    return f"""---
library_name: transformers
pipeline_tag: text-classification
---
# {task.name}, fine-tuned with taskrun

| | |
| --- | --- |
| task | `{task.name}`: {task.description} (plugin `{task.plugin}`) |
| problem | {task.problem_type} |
| base model | `{config.model}` |
| labels | {", ".join(f"`{n}`" for n in label_names) or "one value (regression)"} |
| data | {data} |
| hyperparameters | {settings} |

## Validation

| metric | value |
| --- | --- |
{score_rows}
{class_table}{pictures}
## Use

```python
from transformers import pipeline
classifier = pipeline("text-classification", model="{config.output_dir}")
{example_call}
```

```
{predict_call}
taskrun predict {config.output_dir} --input texts.csv --output predictions.csv
```

The full settings are in `run_config.json`, the metrics in `metrics.json`.
"""
