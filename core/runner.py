"""One runner for every task: hooks in a fixed order, one `transformers.Trainer`, files saved.

Order: check the output folder, find the model's source (no download yet), load and check the
data (no model is loaded before the data is known to be good), tokenise, collate, build the
model, train, evaluate, save.
Everything is written to a hidden staging folder beside the output folder and moved into place
only when complete, so a failed or interrupted run leaves no half-written output.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .defaults import fallback_metrics
from .errors import DataError, OutputExistsError, PluginError, TaskrunError
from .hardware import resolve_precision
from .manager import TaskrunPluginManager
from .models import resolve_model
from .task import Predictions, RunConfig, TaskSpec

RUN_MARKER = "run_config.json"


@dataclass
class RunResult:
    output_dir: Path
    metrics: dict[str, Any]
    seconds: float


# -- the output folder ------------------------------------------------------------------------


def check_output_dir(path: Path, overwrite: bool) -> None:
    """Refuse a folder that holds a finished run (unless --overwrite) or files taskrun did not write."""
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputExistsError(f"--output-dir {path} is a file, not a folder.")
    if not any(path.iterdir()):
        return
    if not (path / RUN_MARKER).is_file():
        raise OutputExistsError(
            f"--output-dir {path} already holds files that are not a taskrun run; taskrun will not replace them.",
            hint="Choose another --output-dir.",
        )
    if not overwrite:
        raise OutputExistsError(
            f"--output-dir {path} already holds a finished run.",
            hint="Pass --overwrite to replace it, or choose another --output-dir.",
        )


def _publish(staging: Path, path: Path) -> None:
    """Move the finished staging folder to `path`, replacing an old run only at the very end."""
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        path.rename(old)
    staging.rename(path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- data ---------------------------------------------------------------------------------------


def label_names_of(task: TaskSpec, dataset: Any) -> list[str]:
    """The class names, read from the train split's label feature (a `ClassLabel`)."""
    if task.problem_type == "regression":
        return []
    feature = dataset["train"].features.get(task.label_column)
    names = list(getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None) or [])
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
    dataset = manager.call("taskrun_load_dataset", task=task, config=config)
    if dataset is None:
        raise PluginError(f"plugin {task.plugin!r} gave no data for task {task.name!r} (taskrun_load_dataset returned None).")
    missing = [split for split in ("train", "validation") if split not in dataset]
    if missing:
        raise PluginError(f"plugin {task.plugin!r}, task {task.name!r}: the dataset has no {' or '.join(missing)} split.")
    _limit(dataset, "train", config.max_train_samples)
    _limit(dataset, "validation", config.max_eval_samples)
    for split in ("train", "validation"):
        if len(dataset[split]) == 0:
            raise DataError(f"task {task.name!r}: the {split} split has no rows.")
    return dataset, label_names_of(task, dataset)


# -- training -----------------------------------------------------------------------------------


def _metric_function(manager: TaskrunPluginManager, task: TaskSpec, label_names: list[str]):
    """Trainer's `compute_metrics`: post-process the logits, then merge every plugin's metrics."""

    def compute(eval_prediction) -> dict[str, float]:
        logits = eval_prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        predictions: Predictions = manager.call("taskrun_postprocess", task=task, logits=logits)
        references = np.asarray(eval_prediction.label_ids)
        merged: dict[str, float] = {}
        answers = manager.call(
            "taskrun_metrics", task=task, predictions=predictions, references=references, label_names=label_names
        )
        for answer in answers:
            clash = set(merged) & set(answer)
            if clash:
                raise PluginError(f"task {task.name!r}: two plugins report the metric(s) {sorted(clash)}.")
            merged.update(answer)
        return merged or fallback_metrics(task, predictions, references)

    return compute


def _training_arguments(config: RunConfig, staging: Path, train_size: int):
    from transformers import TrainingArguments
    import torch

    precision = resolve_precision(config.precision)
    steps_per_epoch = max(1, math.ceil(train_size / config.batch_size))
    total_steps = max(1, math.ceil(steps_per_epoch * config.epochs))
    return precision, TrainingArguments(
        output_dir=str(staging),
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size * 2,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of the total steps
        weight_decay=config.weight_decay,
        seed=config.seed,
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=max(1, total_steps // 10),
        report_to="none",
        disable_tqdm=False,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
    )


def _final_eval(trainer) -> dict[str, float]:
    """The evaluation at the end of training: reuse the last epoch's when it was at the last step."""
    history = trainer.state.log_history
    last = next((entry for entry in reversed(history) if "eval_loss" in entry), None)
    if last is not None and last.get("step") == trainer.state.global_step:
        return {k: v for k, v in last.items() if k.startswith("eval_")}
    return trainer.evaluate()


def _strip(prefix: str, metrics: dict[str, Any]) -> dict[str, Any]:
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in metrics.items()}


def run(manager: TaskrunPluginManager, config: RunConfig, report: Callable[[str], None] = lambda line: None) -> RunResult:
    """Fine-tune and evaluate one task; return where the results are. `report` gets progress lines."""
    started = time.monotonic()
    task = manager.task(config.task)
    check_output_dir(config.output_dir, config.overwrite)

    config.model_path = resolve_model(config.model)  # finds the source (fails fast offline), loads nothing
    dataset, label_names = load_data(manager, task, config)
    report(
        f"taskrun: task {task.name} (plugin {task.plugin}): {len(dataset['train']):,} train and "
        f"{len(dataset['validation']):,} validation examples"
        + (f"; labels {', '.join(label_names)}" if label_names else "")
    )

    from transformers import AutoTokenizer, Trainer, set_seed

    try:
        tokenizer = AutoTokenizer.from_pretrained(config.model_path)
    except (OSError, ValueError) as exc:
        raise TaskrunError(f"cannot load the tokenizer of {config.model!r}: {exc}") from exc
    tokenized = manager.call("taskrun_preprocess", task=task, config=config, dataset=dataset, tokenizer=tokenizer)
    collator = manager.call("taskrun_data_collator", task=task, config=config, tokenizer=tokenizer)
    set_seed(config.seed)
    model = manager.call("taskrun_model", task=task, config=config, label_names=label_names)

    config.output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = config.output_dir.with_name(f".{config.output_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        precision, args = _training_arguments(config, staging, len(tokenized["train"]))
        report(f"taskrun: model {config.model} ({config.model_path}), {precision}, output {config.output_dir}")
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=tokenized["train"],
            eval_dataset=tokenized["validation"],
            processing_class=tokenizer,
            data_collator=collator,
            compute_metrics=_metric_function(manager, task, label_names),
        )
        train_output = trainer.train()
        eval_metrics = _final_eval(trainer)
        trainer.save_model(str(staging))

        train_tokens = sum(len(ids) for ids in tokenized["train"]["input_ids"]) * config.epochs
        train_metrics = _strip("train_", train_output.metrics)
        train_metrics["tokens_per_second"] = round(train_tokens / max(train_metrics["runtime"], 1e-9), 1)
        metrics = {
            "task": task.name,
            "train": {"samples": len(tokenized["train"]), **train_metrics},
            "eval": {"split": "validation", "samples": len(tokenized["validation"]), **_strip("eval_", eval_metrics)},
            "seconds": round(time.monotonic() - started, 1),
        }
        _write_json(staging / "metrics.json", metrics)
        _write_json(staging / RUN_MARKER, _run_record(task, config, precision, label_names))
        (staging / "README.md").write_text(model_card(task, config, metrics, label_names), encoding="utf-8")
        (staging / "training_args.bin").unlink(missing_ok=True)  # a pickle; run_config.json has the settings
        _publish(staging, config.output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RunResult(config.output_dir, metrics, time.monotonic() - started)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def _run_record(task: TaskSpec, config: RunConfig, precision: str, label_names: list[str]) -> dict[str, Any]:
    """The resolved configuration, with versions, so a run can be understood and repeated."""
    from importlib import metadata

    versions = {}
    for package in ("taskrun", "transformers", "torch", "datasets"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        **config.to_dict(),
        "plugin": task.plugin,
        "problem_type": task.problem_type,
        "precision_used": precision,
        "labels": label_names,
        "versions": versions,
    }


def model_card(task: TaskSpec, config: RunConfig, metrics: dict[str, Any], label_names: list[str]) -> str:
    """A short README.md for the run folder: what was trained, on what, how well, how to use it."""
    scores = ", ".join(
        f"{k} {v:.4f}" for k, v in metrics["eval"].items()
        if isinstance(v, float) and k not in ("runtime", "samples_per_second", "steps_per_second")
    )
    return f"""---
library_name: transformers
pipeline_tag: text-classification
---
# {task.name} fine-tuned with taskrun

- Task: `{task.name}` ({task.description}), plugin `{task.plugin}`
- Base model: `{config.model}`
- Labels: {", ".join(f"`{n}`" for n in label_names) or "a single score (regression)"}
- Training: {metrics["train"]["samples"]} examples, {config.epochs:g} epoch(s), learning rate {config.learning_rate:g},
  batch size {config.batch_size}, max length {config.max_length}, seed {config.seed}
- Validation ({metrics["eval"]["samples"]} examples): {scores}

## Use

```python
from transformers import pipeline
classifier = pipeline("text-classification", model="{config.output_dir}")
```

The full settings are in `run_config.json`, the metrics in `metrics.json`.
"""
