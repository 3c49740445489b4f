"""One runner for every task: hooks in a fixed order, one `transformers.Trainer`, files saved.

Order: check the output folder, find the model's source (no download yet), load and check the
data (no model is loaded before the data is known to be good), tokenise, collate, build the
model, train, evaluate, save.
Everything is written to a hidden staging folder beside the output folder and moved into place
only when complete, so a failed or interrupted run leaves no half-written output.

Under a distributed launch (`torchrun --nproc_per_node N -m taskrun run ...`, `accelerate launch`)
every process runs this same function and the Trainer trains one model data-parallel: the local
main process tokenises first (filling the cache) while the others wait, then they load its cache
entry; evaluation is gathered over all processes; only the world's main process (rank 0) reports
progress and writes files (the checkpoints' own files excepted: Trainer has every process write its part).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cache import cached_preprocess, data_digest
from .checkpoints import (
    CHECKPOINTS,
    Checkpoint,
    check_identity,
    check_safe_to_load,
    checkpoint_folder,
    complete_checkpoints,
    discard_after,
    find_resume_point,
)
from .data import class_names
from .errors import DataError, ModelSourceError, OutputExistsError, PluginError, UsageError
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
    main_process: bool = True  # False in the other processes of a distributed launch: they write and print nothing


# -- the output folder ------------------------------------------------------------------------


def check_output_dir(path: Path, overwrite: bool, resume: str | None = None) -> None:
    """Refuse a folder that holds a finished run (unless --overwrite), an interrupted run (unless
    --resume or --overwrite), or files taskrun did not write."""
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputExistsError(f"--output-dir {path} is a file, not a folder.")
    names = {p.name for p in path.iterdir()}
    if not names:
        return
    if not (path / RUN_MARKER).is_file():
        if names == {CHECKPOINTS}:
            if resume or overwrite:
                return
            newest = complete_checkpoints(path / CHECKPOINTS, hashes=False)
            where = (
                f"its newest complete checkpoint is {newest[-1].path.name}"
                if newest
                else "it has no complete checkpoint"
            )
            raise OutputExistsError(
                f"--output-dir {path} holds an interrupted run ({where}).",
                hint="Pass --resume auto to continue it, --overwrite to start again, or choose another --output-dir.",
            )
        raise OutputExistsError(
            f"--output-dir {path} already holds files that are not a taskrun run; taskrun will not replace them.",
            hint="Choose another --output-dir.",
        )
    if not overwrite:
        raise OutputExistsError(
            f"--output-dir {path} already holds a finished run.",
            hint="Pass --overwrite to replace it, or choose another --output-dir.",
        )
    try:
        written = set(json.loads((path / RUN_MARKER).read_text(encoding="utf-8"))["files"]) | {CHECKPOINTS}
    except (OSError, ValueError, KeyError, TypeError):
        written = None
    foreign = sorted(name for name in names if written is None or name not in written)
    if foreign:
        raise OutputExistsError(
            f"--output-dir {path} holds files that taskrun did not write ({', '.join(foreign[:5])}); "
            "--overwrite would delete them.",
            hint="Move them out, or choose another --output-dir.",
        )


def _publish(staging: Path, path: Path) -> None:
    """Put the finished staging folder at `path` in one step: an atomic exchange with the old
    folder where the system offers one (Linux renameat2), else two renames. The old folder (a
    previous run, the checkpoints) is deleted afterwards."""
    if path.exists() and _exchange(staging, path):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the old folder
        return
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        path.rename(old)
    try:
        staging.rename(path)
    except OSError:
        if old is not None:
            old.rename(path)  # put the previous run back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


# -- data ---------------------------------------------------------------------------------------


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
    dataset = manager.call("taskrun_load_dataset", task=task, config=config)
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
    return dataset, label_names_of(task, dataset)


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


def check_classes(task: TaskSpec, counts: list[int], label_names: list[str], report: Callable[[str], None]) -> None:
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
        report(
            f"taskrun: warning: the training labels are imbalanced: {distribution}. "
            "Per-class figures are in metrics.json; --class-weights balanced weights the loss."
        )


def balanced_loss(counts: list[int]):
    """Trainer's `compute_loss_func`: cross-entropy weighted by n / (classes * count), as
    scikit-learn's class_weight="balanced" does, so that every class weighs the same in total."""
    import torch

    total, classes = sum(counts), sum(1 for n in counts if n)
    weights = torch.tensor([total / (classes * n) if n else 0.0 for n in counts], dtype=torch.float32)

    def loss(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        summed = torch.nn.functional.cross_entropy(
            logits.float(), labels, weight=weights.to(logits.device), reduction="sum"
        )
        return summed / (num_items_in_batch if num_items_in_batch is not None else len(labels))

    return loss


# -- training -----------------------------------------------------------------------------------


def first_logits(predictions: Any) -> np.ndarray:
    """The logits of a model output that may be a tuple (logits first)."""
    return predictions[0] if isinstance(predictions, tuple) else predictions


def merged_metrics(
    manager: TaskrunPluginManager,
    task: TaskSpec,
    predictions: Predictions,
    references: np.ndarray,
    label_names: list[str],
) -> dict[str, float]:
    """Every plugin's metrics, merged (the same name from two plugins is an error); accuracy when
    no plugin reports any for a single-label task."""
    merged: dict[str, float] = {}
    answers = manager.call(
        "taskrun_metrics", task=task, predictions=predictions, references=references, label_names=label_names
    )
    for answer in answers:
        clash = set(merged) & set(answer)
        if clash:
            raise PluginError(f"task {task.name!r}: two plugins report the metric(s) {sorted(clash)}.")
        merged.update(answer)
    if not merged and task.problem_type == "single-label" and predictions.label_ids is not None:
        merged["accuracy"] = float(np.mean(np.asarray(predictions.label_ids) == np.asarray(references)))
    return merged


def class_figures(predicted: Any, references: np.ndarray, task: TaskSpec, label_names: list[str]) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support, and (single-label) the confusion matrix."""
    if not label_names or predicted is None:
        return {}
    from .metrics import per_class_report

    references = np.asarray(references).round().astype(int)
    figures: dict[str, Any] = {"per_class": per_class_report(predicted, references, label_names)}
    if task.problem_type == "single-label":
        matrix = np.zeros((len(label_names), len(label_names)), dtype=int)
        np.add.at(matrix, (references, np.asarray(predicted)), 1)
        figures["confusion_matrix"] = {"labels": label_names, "rows_true_columns_predicted": matrix.tolist()}
    return figures


def _metric_function(manager: TaskrunPluginManager, task: TaskSpec, config: RunConfig, label_names: list[str]):
    """Trainer's `compute_metrics`: post-process the logits, then merge every plugin's metrics."""

    def compute(eval_prediction) -> dict[str, float]:
        logits = first_logits(eval_prediction.predictions)
        predictions: Predictions = manager.call("taskrun_postprocess", task=task, config=config, logits=logits)
        return merged_metrics(manager, task, predictions, np.asarray(eval_prediction.label_ids), label_names)

    return compute


def _training_arguments(config: RunConfig, precision: str, checkpoints: Path, train_size: int):
    import torch
    from transformers import TrainingArguments

    steps_per_epoch = max(1, math.ceil(train_size / config.batch_size))
    total_steps = max(1, math.ceil(steps_per_epoch * config.epochs))
    save = (
        {"save_strategy": config.save_every}
        if config.save_every in ("epoch", "no")
        else {"save_strategy": "steps", "save_steps": int(config.save_every)}
    )
    return TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size * 2,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of the total steps
        weight_decay=config.weight_decay,
        seed=config.seed,
        eval_strategy="epoch",
        **save,  # rotation is taskrun's (ManifestCallback): Trainer's could delete the last complete one
        logging_strategy="steps",
        logging_steps=max(1, total_steps // 10),
        report_to="none",
        disable_tqdm=False,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
    )


def _log_progress_to_stderr(trainer: Any) -> None:
    """Trainer's progress bar writes its log lines (loss, learning rate) to stdout; send them to
    stderr with the bar, so that stdout holds only the end-of-run summary."""
    import sys

    from transformers.trainer_callback import ProgressCallback

    class StderrProgress(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and self.training_bar is not None:
                shown = {
                    k: f"{v:.4g}" if isinstance(v, float) else v for k, v in (logs or {}).items() if k != "total_flos"
                }
                self.training_bar.write(str(shown), file=sys.stderr)

    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(StderrProgress)


def _strip(prefix: str, metrics: dict[str, Any]) -> dict[str, Any]:
    return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in metrics.items()}


def resolve_task(manager: TaskrunPluginManager, config: RunConfig) -> TaskSpec:
    """The task, set to the problem type chosen with --problem where the task offers a choice."""
    task = manager.task(config.task)
    if config.problem_type is None or config.problem_type == task.problem_type:
        return task
    if config.problem_type not in task.problem_types:
        offered = ", ".join(task.problem_types or (task.problem_type,))
        raise UsageError(f"task {task.name!r} cannot run as {config.problem_type!r}; it offers: {offered}.")
    return dataclasses.replace(task, problem_type=config.problem_type)


def drop_truncation_marks(
    tokenized: Any, config: RunConfig, report: Callable[[str], None]
) -> tuple[Any, dict[str, int]]:
    """Count, report and remove the `truncated` column that the default preprocessing adds."""
    counts = {}
    for split in list(tokenized):
        if "truncated" in tokenized[split].column_names:
            counts[split] = int(sum(tokenized[split]["truncated"]))
            tokenized[split] = tokenized[split].remove_columns("truncated")
    cut = {split: n for split, n in counts.items() if n}
    if cut:
        parts = ", ".join(f"{split} {n:,} of {len(tokenized[split]):,}" for split, n in cut.items())
        report(f"taskrun: texts longer than {config.max_length} tokens were truncated: {parts}")
    return tokenized, counts


def _is_main_process() -> bool:
    """False in all but rank 0 of a distributed launch (torchrun and accelerate launch set RANK)."""
    return os.environ.get("RANK", "0") == "0"


def run(
    manager: TaskrunPluginManager, config: RunConfig, report: Callable[[str], None] = lambda line: None
) -> RunResult:
    """Fine-tune and evaluate one task; return where the results are. `report` gets progress lines."""
    started = time.monotonic()
    main = _is_main_process()
    if not main:
        report = lambda line: None  # noqa: E731 -- one copy of the progress lines, from rank 0
    task = resolve_task(manager, config)
    if config.class_weights and task.problem_type != "single-label":
        raise UsageError(f"--class-weights applies to single-label classification, not {task.problem_type}.")
    if config.force_resume and not config.resume:
        raise UsageError("--force-resume only applies with --resume auto or --resume CHECKPOINT.")
    check_output_dir(config.output_dir, config.overwrite, config.resume)

    config.model_path = resolve_model(config.model)  # finds the source (fails fast offline), loads nothing
    dataset, label_names = load_data(manager, task, config)
    report(
        f"taskrun: task {task.name} (plugin {task.plugin}, {task.problem_type}): {len(dataset['train']):,} train "
        f"and {len(dataset['validation']):,} validation examples"
        + (f"; labels {', '.join(label_names)}" if label_names else "")
    )
    counts = class_counts(task, dataset["train"], label_names) if label_names else []
    if counts:
        check_classes(task, counts, label_names, report)

    from transformers import AutoTokenizer, set_seed

    try:
        tokenizer = AutoTokenizer.from_pretrained(config.model_path)
    except (OSError, ValueError) as exc:
        raise ModelSourceError(f"cannot load the tokenizer of {config.model!r}: {exc}") from exc
    limit = getattr(tokenizer, "model_max_length", None) or config.max_length
    if config.max_length > limit:
        report(f"taskrun: --max-length {config.max_length} is more than this model takes; using {limit}")
        config.max_length = limit
    data_id = data_digest(dataset)
    precision = resolve_precision(config.precision)  # imports torch: after every check that can fail fast
    # Made before tokenising: it sets up the process group of a distributed launch, so that the
    # local main process tokenises (and fills the cache) while the others wait, then load its entry.
    checkpoints = checkpoint_folder(config.output_dir)
    args = _training_arguments(config, precision, checkpoints, len(dataset["train"]))
    with args.main_process_first(desc="tokenising"):
        tokenized = cached_preprocess(manager, task, config, dataset, tokenizer, data_id, report)
    tokenized, truncated = drop_truncation_marks(tokenized, config, report)
    collator = manager.call("taskrun_data_collator", task=task, config=config, tokenizer=tokenizer)
    identity = run_identity(task, config, label_names, data_id)
    resume_from = _resume_point(config, identity, report)
    set_seed(config.seed)
    model = manager.call("taskrun_model", task=task, config=config, label_names=label_names)
    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    # The heads average their loss themselves and ignore `num_items_in_batch`, though their forward
    # takes **kwargs; left to guess, the Trainer would multiply that average by the number of
    # processes (training and eval loss, and gradients, 2x too large under 2 processes).
    model.accepts_loss_kwargs = False

    from .training import ManifestCallback, TaskrunTrainer, check_finite_model

    created = not config.output_dir.exists()
    with args.main_process_first(local=False, desc="preparing the checkpoints folder"):
        if main:
            if resume_from is None:
                shutil.rmtree(checkpoints, ignore_errors=True)  # an interrupted run's, replaced (--overwrite)
            else:
                discard_after(checkpoints, resume_from.step)
            checkpoints.mkdir(parents=True, exist_ok=True)
    # One staging folder for all processes of a launch (a sharded save writes a part from each),
    # made and removed by rank 0 only.
    launch = os.environ.get("TORCHELASTIC_RUN_ID") or str(os.getpid())
    staging = config.output_dir.with_name(f".{config.output_dir.name}.partial-{launch}")
    if main:
        shutil.rmtree(staging, ignore_errors=True)
    try:
        report(f"taskrun: model {config.model} ({config.model_path}), {precision}, output {config.output_dir}")
        trainer = TaskrunTrainer(
            model=model,
            args=args,
            train_dataset=tokenized["train"],
            eval_dataset=tokenized["validation"],
            processing_class=tokenizer,
            data_collator=collator,
            compute_metrics=_metric_function(manager, task, config, label_names),
            compute_loss_func=balanced_loss(counts) if config.class_weights == "balanced" else None,
            callbacks=[ManifestCallback(identity, config.keep_checkpoints, _score_function(task))],
        )
        _log_progress_to_stderr(trainer)
        if resume_from is not None:
            report(f"taskrun: resuming from {resume_from.path} (step {resume_from.step})")
        train_output = trainer.train(resume_from_checkpoint=str(resume_from.path) if resume_from else None)
        final = trainer.predict(tokenized["validation"], metric_key_prefix="eval")  # gathered over all processes
        check_finite_model(trainer.model)
        trainer.save_model(str(staging))  # every process calls it; rank 0 writes (a sharded save: each its part)

        train_tokens = sum(len(ids) for ids in tokenized["train"]["input_ids"]) * config.epochs
        train_metrics = {"steps": train_output.global_step, **_strip("train_", train_output.metrics)}
        train_metrics["tokens_per_second"] = round(train_tokens / max(train_metrics["runtime"], 1e-9), 1)
        evaluation = {"split": "validation", "samples": len(tokenized["validation"]), **_strip("eval_", final.metrics)}
        predicted = manager.call(
            "taskrun_postprocess", task=task, config=config, logits=first_logits(final.predictions)
        ).label_ids
        evaluation.update(class_figures(predicted, final.label_ids, task, label_names))
        metrics = {
            "task": task.name,
            "train": {
                "samples": len(tokenized["train"]),
                "label_counts": dict(zip(label_names, counts)),
                **train_metrics,
            },
            "eval": evaluation,
            "truncated": truncated,
            "seconds": round(time.monotonic() - started, 1),
        }
        if not main:
            return RunResult(config.output_dir, metrics, time.monotonic() - started, main_process=False)
        metrics["pictures"] = draw_pictures(staging, task, trainer.state.log_history, evaluation)
        _write_json(staging / "metrics.json", metrics)
        text_inputs = [c for c in task.text_columns if c in dataset["train"].column_names]
        (staging / "README.md").write_text(
            model_card(task, config, metrics, label_names, text_inputs), encoding="utf-8"
        )
        (staging / "training_args.bin").unlink(missing_ok=True)  # a pickle; run_config.json has the settings
        record = _run_record(task, config, precision, label_names, text_inputs)
        record["files"] = sorted([p.name for p in staging.iterdir()] + [RUN_MARKER])  # what --overwrite may replace
        _write_json(staging / RUN_MARKER, record)
        _publish(staging, config.output_dir)
    except BaseException:
        if main:
            _keep_only_what_resumes(config.output_dir, created)
        raise
    finally:
        if main:
            shutil.rmtree(staging, ignore_errors=True)
    return RunResult(config.output_dir, metrics, time.monotonic() - started)


def run_identity(task: TaskSpec, config: RunConfig, label_names: list[str], data_id: str) -> dict[str, Any]:
    """What a checkpoint records about its run: what must match to resume it, and the settings
    whose change only warns."""
    return {
        "task": task.name,
        "problem_type": task.problem_type,
        "data": data_id,
        "model": config.model,
        "labels": label_names,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "epochs": config.epochs,
        "weight_decay": config.weight_decay,
        "warmup_ratio": config.warmup_ratio,
        "seed": config.seed,
    }


def _resume_point(config: RunConfig, identity: dict[str, Any], report: Callable[[str], None]) -> Checkpoint | None:
    """The checkpoint to resume from (checked: complete, same run, safe to load), or None."""
    if not config.resume:
        return None
    checkpoint = find_resume_point(config.output_dir, config.resume, report)
    if checkpoint is not None:
        check_identity(checkpoint, identity, config.force_resume, report)
        check_safe_to_load(checkpoint)
    return checkpoint


def _score_function(task: TaskSpec) -> Callable[[dict[str, float]], dict[str, Any]]:
    """How a checkpoint's evaluation is scored for "best": the task's first declared metric
    (higher is better), else the validation loss (lower is better)."""

    def score(evaluation: dict[str, float]) -> dict[str, Any]:
        for metric in task.metrics:
            if f"eval_{metric}" in evaluation:
                return {"name": metric, "value": evaluation[f"eval_{metric}"], "greater_is_better": True}
        return {"name": "loss", "value": evaluation.get("eval_loss"), "greater_is_better": False}

    return score


def _keep_only_what_resumes(output_dir: Path, created: bool) -> None:
    """After a failed or interrupted run: keep the checkpoints if one is complete (the folder is
    then an interrupted run, for --resume), else leave no trace of this run."""
    checkpoints = checkpoint_folder(output_dir)
    if complete_checkpoints(checkpoints, hashes=False):
        return
    shutil.rmtree(checkpoints, ignore_errors=True)
    if created and output_dir.is_dir() and not any(output_dir.iterdir()):
        output_dir.rmdir()


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def _run_record(
    task: TaskSpec, config: RunConfig, precision: str, label_names: list[str], text_inputs: list[str]
) -> dict[str, Any]:
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
        "text_inputs": text_inputs,  # the one or two text columns the model was trained on
        "versions": versions,
    }


NOT_SCORES = {"split", "samples", "runtime", "samples_per_second", "steps_per_second", "epoch"}


def scores_of(evaluation: dict[str, Any]) -> dict[str, float]:
    """The metric values of an evaluation, without timings, counts and nested tables."""
    return {
        k: v
        for k, v in evaluation.items()
        if k not in NOT_SCORES and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def draw_pictures(folder: Path, task: TaskSpec, history: list[dict[str, Any]], evaluation: dict[str, Any]) -> list[str]:
    """confusion_matrix.png (single-label) and training_curves.png; returns the file names."""
    from .plots import confusion_matrix_png, training_curves_png

    names = []
    if "confusion_matrix" in evaluation:
        matrix = evaluation["confusion_matrix"]
        confusion_matrix_png(
            folder / "confusion_matrix.png",
            matrix["labels"],
            matrix["rows_true_columns_predicted"],
            f"{task.name}: validation ({evaluation['samples']} examples)",
        )
        names.append("confusion_matrix.png")
    scores = [k for k in scores_of(evaluation) if k != "loss"]
    main_metric = next((m for m in task.metrics if m in scores), scores[0] if scores else None)
    training_curves_png(folder / "training_curves.png", history, main_metric, task.name)
    names.append("training_curves.png")
    return names


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
| data | {task.data_source or "see run_config.json"}; {train["samples"]:,} training and {evaluation["samples"]:,} validation examples |
| hyperparameters | {config.epochs:g} epoch(s), learning rate {config.learning_rate:g}, batch size {config.batch_size}, max length {config.max_length}, warmup ratio {config.warmup_ratio:g}, weight decay {config.weight_decay:g}, dropout {"model's own" if config.dropout is None else f"{config.dropout:g}"}, word embeddings {"frozen" if config.freeze_embeddings else "trained"}, seed {config.seed} |

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
