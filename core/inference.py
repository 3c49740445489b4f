"""Using a finished run: `taskrun predict` (answers for new inputs) and `taskrun eval` (a saved
model scored on a task's split). Both go through the task's own hooks, as training did: its
preprocessing, its collator, its post-processing and its metrics, with the model class its family
trained (`Family.auto_model`), so their answers agree with the run's evaluation and with
`transformers.pipeline(FAMILY.pipeline_tag, model=RUN_DIR)`. A run folder whose weights do not
cover that model is refused, never completed with a random head.

Inference runs on the GPU when there is one (else the CPU), in the run's recorded precision, and
`predict` sorts examples by length and pads each batch only to its longest example.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .data import class_names
from .errors import DataError, ModelSourceError, UsageError
from .exported import OnnxModel, is_exported, read_export_record
from .family import Family, PredictRows, family_named, family_of, pad_stack, token_count
from .files import write_atomically
from .manager import TaskrunPluginManager
from .models import load_pretrained, usable_max_length
from .rundir import RUN_CONFIG, RunRecord, read_metrics, read_run_config
from .scoring import OBJECTIVE_LOSS, merged_metrics, postprocess
from .task import RunConfig, TaskSpec

__all__ = ["LoadedRun", "load_run", "predict", "evaluate_run", "scored_split", "Scored", "PredictOutcome", "write_rows"]

log = logging.getLogger("taskrun")


@dataclass
class LoadedRun:
    """A run folder's model, tokenizer, recorded settings (`run_record`), task and family."""

    folder: Path
    run_record: RunRecord
    model: Any
    tokenizer: Any
    label_names: list[str]
    task: TaskSpec
    family: Family
    exported: dict[str, Any] | None = None  # export.json of a folder `taskrun export` wrote; None: a run's

    @property
    def record(self) -> dict[str, Any]:
        """run_config.json as a mapping, in the current format (what a family reads: `text_inputs`, ...)."""
        return self.run_record.to_dict()

    @property
    def problem_type(self) -> str:
        return self.run_record.problem_type

    @property
    def max_length(self) -> int:
        """The length the model was trained with, within what its tokenizer takes."""
        return usable_max_length(self.tokenizer, self.run_record.config().max_length)

    @property
    def precision(self) -> str:
        """The precision the run trained and evaluated in (fp32 for runs that did not record it);
        an exported model computes as ONNX Runtime does (fp32, or int8 weights)."""
        return "fp32" if self.exported else self.run_record.precision_used

    @property
    def device(self) -> str:
        """Where the model is: "cuda" or "cpu" (an exported model: the CPU)."""
        return "cpu" if self.exported else next(self.model.parameters()).device.type

    @property
    def model_inputs(self) -> set[str]:
        """The batch columns the model takes."""
        if self.exported:
            return {*self.model.input_names, "labels"}
        return set(inspect.signature(self.model.forward).parameters)

    @property
    def eval_batch_size(self) -> int:
        """The batch size of the run's own evaluation."""
        return self.run_record.eval_batch_size

    @property
    def pair(self) -> bool:
        return len(self.run_record.text_inputs) == 2

    def config(self) -> RunConfig:
        """The run's settings as a RunConfig (what the stage hooks expect), max length as loaded."""
        return dataclasses.replace(self.run_record.config(), max_length=self.max_length)


def inference_device() -> str:
    """The GPU when torch sees one (as training does), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_run(folder: Path, device: str | None = None, manager: TaskrunPluginManager | None = None) -> LoadedRun:
    """Open a run folder written by `taskrun run`, its model loaded as the class its family trained
    (on `device`: by default the GPU when there is one, else the CPU); a clear error for anything
    else. `manager` finds the run's task (its hooks, a plugin's own family)."""
    folder = Path(folder)
    marker = folder / RUN_CONFIG
    if not marker.is_file():
        raise UsageError(f"{folder} is not a taskrun run folder (it has no {RUN_CONFIG}).")
    try:
        record = read_run_config(folder)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{marker}: cannot read the run's settings: {exc}") from exc
    task = run_task(manager, record, marker)
    family = family_of(task)
    if is_exported(folder):
        return load_exported(folder, record, task, family)
    import transformers
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    auto = getattr(transformers, family.auto_model)
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()  # "Loading weights" bars: noise before a table of answers
    hf_logging.set_verbosity_error()  # the missing weights are reported below, as an error
    try:
        model, loading = load_pretrained(
            lambda path: auto.from_pretrained(path, output_loading_info=True), folder, "the saved model"
        )
        tokenizer = load_pretrained(AutoTokenizer.from_pretrained, folder, "the saved tokenizer")
    finally:
        hf_logging.enable_progress_bar()
        hf_logging.set_verbosity(verbosity)
    check_weights(folder, model, loading, family)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return LoadedRun(folder, record, model.eval().to(device or inference_device()), tokenizer, labels, task, family)


def load_exported(folder: Path, record: RunRecord, task: TaskSpec, family: Family) -> LoadedRun:
    """An exported folder: its ONNX model (ONNX Runtime, on the CPU), tokenizer and labels."""
    from transformers import AutoConfig, AutoTokenizer

    exported = read_export_record(folder)
    config = load_pretrained(AutoConfig.from_pretrained, folder, "the exported model's config")
    tokenizer = load_pretrained(AutoTokenizer.from_pretrained, folder, "the saved tokenizer")
    labels = [config.id2label[i] for i in range(config.num_labels)]
    return LoadedRun(folder, record, OnnxModel(folder, config), tokenizer, labels, task, family, exported)


def run_task(manager: TaskrunPluginManager | None, record: RunRecord, marker: Path) -> TaskSpec:
    """The run's task as its plugin registers it (its hooks serve predict), or, where that plugin
    is gone, a bare task of the run's built-in family (the family's defaults then serve)."""
    name, problem, family = record.task, record.problem_type, record.family
    if name is None:
        raise UsageError(f"{marker}: cannot read the run's settings: it names no task.")
    task = manager.tasks().get(name) if manager is not None else None
    if task is not None and task.family_name == family:
        return dataclasses.replace(task, problem_type=problem)
    try:
        family_named(family, str(marker))
    except Exception:
        raise UsageError(
            f"{marker}: the run was trained as a {family!r} task ({name!r}, plugin {record.plugin!r}), "
            "and no installed plugin provides that family.",
            hint=f"Install the plugin that provides task {name!r}.",
        ) from None
    return TaskSpec(
        name=name,
        family=family,
        problem_type=problem,
        text_columns=tuple(record.text_inputs),
        label_column=record.label_column,
    )


def check_weights(folder: Path, model: Any, loading: dict[str, Any], family: Family) -> None:
    """Refuse a model whose saved weights do not cover it (a head that would be random) or that
    was saved as another architecture than its family's class loads."""
    missing = list(loading.get("missing_keys") or [])
    mismatched = [
        str(item[0]) if isinstance(item, (tuple, list)) else str(item) for item in loading.get("mismatched_keys") or []
    ]
    if missing or mismatched:
        names = missing + mismatched
        shown = ", ".join(names[:8]) + (f" ... ({len(names)} in all)" if len(names) > 8 else "")
        raise ModelSourceError(
            f"{folder}: the saved weights do not cover the {family.name} model ({type(model).__name__}): "
            f"missing {shown}.",
            hint="The folder's model.safetensors is incomplete or from another kind of model; train the run again.",
        )
    saved = list(getattr(model.config, "architectures", None) or [])
    if saved and type(model).__name__ not in saved:
        raise ModelSourceError(
            f"{folder}: the model was saved as {', '.join(saved)}, not as the {family.name} model "
            f"{type(model).__name__} its run_config.json declares."
        )


def compute_precision(precision: str, device: str) -> str:
    """The precision inference computes in on `device` for a run's `precision` (bf16 and fp16
    under autocast, as training computed). On a GPU, bf16 and fp16 as recorded (fp32 where the
    GPU lacks bf16). On the CPU bf16 only where the run recorded (or the user asked for) it; fp16
    runs, trained on a GPU, compute in fp32 there: the CPU has no fast fp16."""
    import torch

    if precision == "bf16" and (device != "cuda" or torch.cuda.is_bf16_supported()):
        return "bf16"
    if precision == "fp16" and device == "cuda":
        return "fp16"
    if precision != "fp32":
        log.info("%s is not available on this %s: computing in fp32", precision, device.upper())
    return "fp32"


# -- the forward pass, shared by predict and eval ---------------------------------------------------


def features_of(
    manager: TaskrunPluginManager, run: LoadedRun, task: TaskSpec, config: RunConfig, data: Any
) -> tuple[Any, int]:
    """One split tokenised by the task's own preprocessing; how many examples it cut."""
    from datasets import DatasetDict
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled

    shown = is_progress_bar_enabled()
    disable_progress_bar()  # "Tokenising" bars: noise before a table of answers
    try:
        features = manager.stages(task).preprocess(config, DatasetDict({"data": data}), run.tokenizer)["data"]
    finally:
        if shown:
            enable_progress_bar()
    truncated = 0
    if "truncated" in features.column_names:
        truncated = int(sum(features["truncated"]))
        features = features.remove_columns("truncated")
    return features, truncated


def forward(
    manager: TaskrunPluginManager,
    run: LoadedRun,
    task: TaskSpec,
    config: RunConfig,
    features: Any,
    batch_size: int,
    precision: str,
    by_length: bool,
    with_labels: bool = False,
    order: list[int] | None = None,
    objective: Any = None,
) -> tuple[np.ndarray, float | None, float | None]:
    """The logits of every feature, batched by the task's own collator (by similar length with
    `by_length`, else in order, or in `order`), in `precision`; and with `with_labels` the model's own loss,
    averaged over batches as Trainer's evaluation does, and that of `objective` (the run's
    `compute_loss_func`, where it trained on another loss) averaged the same way. Token logits are padded with -100 to
    the longest feature, as Trainer pads them."""
    import torch

    accepted = run.model_inputs
    columns = [c for c in features.column_names if c in accepted and (with_labels or c != "labels")]
    collator, _ = manager.stages(task).data_collator(config, run.tokenizer)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    rows = features.select_columns(columns)
    order = list(order) if order is not None else list(range(len(rows)))
    if by_length:
        sizes = [token_count(ids) for ids in rows["input_ids"]]
        order.sort(key=lambda i: sizes[i])
    outputs: list[np.ndarray] = [np.zeros(0)] * len(order)
    loss_sum, objective_sum, counted = 0.0, 0.0, 0
    left = getattr(run.tokenizer, "padding_side", "right") == "left"
    with torch.inference_mode(), torch.autocast(run.device, dtype=dtype, enabled=dtype is not None):
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            batch = collator([rows[i] for i in index])
            batch = {k: v.to(run.device) for k, v in batch.items() if hasattr(v, "to")}
            result = run.model(**batch)
            logits = result.logits.float().cpu().numpy()
            if with_labels and getattr(result, "loss", None) is not None:
                loss_sum += float(result.loss) * len(index)
                counted += len(index)
                if objective is not None:
                    objective_sum += float(objective(result, batch["labels"])) * len(index)
            for j, i in enumerate(index):
                row = logits[j]
                if row.ndim == 2 and row.shape[0] == batch["input_ids"].shape[-1]:  # a token's logits each
                    n = len(rows[i]["input_ids"])
                    row = row[-n:] if left else row[:n]
                outputs[i] = row
    if not counted:
        return pad_stack(outputs), None, None
    return pad_stack(outputs), loss_sum / counted, (objective_sum / counted if objective is not None else None)


# -- predict ------------------------------------------------------------------------------------


@dataclass
class PredictOutcome:
    rows: list[dict[str, Any]]  # the input's columns plus the answer's
    answers: list[dict[str, Any]]  # the answer's columns of each row ({} for a skipped row)
    texts: list[str]  # each row as shown in predict's table
    empty: list[str]  # where the rows without anything to predict were ("line 3")
    truncated: int


def predict(
    manager: TaskrunPluginManager,
    run: LoadedRun,
    inputs: PredictRows,
    batch_size: int,
    all_scores: bool,
    precision: str | None = None,
) -> PredictOutcome:
    """Answer every row of `inputs` through the task's hooks; rows with nothing to predict (an
    empty text) get no answer and are listed. An answer column named like an input column (a
    gold `label`, say) is written as `predicted_...`: the input's columns are kept as they are."""
    skipped = set(inputs.skipped)
    keep = [i for i in range(len(inputs.rows)) if i not in skipped]
    answers: list[dict[str, Any]] = [{} for _ in inputs.rows]
    truncated = 0
    if keep:
        logits, features, truncated = infer(manager, run, inputs, batch_size, precision)
        predictions = postprocess(manager, run.task, run.config(), logits, run.label_names, features)
        for i, answer in zip(keep, run.family.answers(predictions, inputs, run.label_names, all_scores)):
            answers[i] = answer
        blank = {
            k: [] if isinstance(v, list) else "" for k, v in answers[keep[0]].items() if not k.startswith("score_")
        }
        for i in skipped:
            answers[i] = dict(blank)  # an empty text: the answer's columns, empty
    input_columns = {key for row in inputs.rows for key in row}
    clash = any(key in input_columns for answer in answers for key in answer if not key.startswith("score_"))
    rows = []
    for row, answer in zip(inputs.rows, answers):
        named = {f"predicted_{k}" if clash and not k.startswith("score_") else k: v for k, v in answer.items()}
        rows.append({**row, **named})
    texts = [
        " | ".join(str(values[i]) for key, values in inputs.examples.items() if key in _shown_columns(inputs))
        for i in range(len(inputs.rows))
    ]
    return PredictOutcome(rows, answers, texts, [inputs.origin[i] for i in sorted(skipped)], truncated)


def infer(
    manager: TaskrunPluginManager,
    run: LoadedRun,
    inputs: PredictRows,
    batch_size: int,
    precision: str | None = None,
    by_length: bool = True,
) -> tuple[np.ndarray, list[dict[str, Any]], int]:
    """The logits of the rows of `inputs` that are not skipped, through the task's preprocessing
    and collator, in the run's precision (or `precision`), batched by similar length (or in
    order); the features and examples they came from (postprocess's `inputs`); how many examples
    the preprocessing cut."""
    from datasets import Dataset

    keep = [i for i in range(len(inputs.rows)) if i not in set(inputs.skipped)]
    examples = Dataset.from_dict({key: [values[i] for i in keep] for key, values in inputs.examples.items()})
    config = run.config()
    features, truncated = features_of(manager, run, run.task, config, examples)
    chosen = compute_precision(precision or run.precision, run.device)
    logits, _, _ = forward(manager, run, run.task, config, features, batch_size, chosen, by_length)
    return logits, feature_inputs(features, examples), truncated


def _shown_columns(inputs: PredictRows) -> list[str]:
    """The example columns predict's table shows: the text (and pair), else every column."""
    text = [key for key in inputs.examples if key == "text"]
    return text or list(inputs.examples)


def feature_inputs(features: Any, examples: Any) -> list[dict[str, Any]]:
    """`taskrun_postprocess`'s `inputs`: each feature's columns with its example's (a feature's
    `example` column names its example; else they correspond one to one)."""
    rows = features.to_list()
    source = examples.to_list()
    for i, row in enumerate(rows):
        for key, value in source[int(row.get("example", i))].items():
            row.setdefault(key, value)
    return rows


def write_rows(rows: list[dict[str, Any]], path: Path, columns: list[str] | tuple[str, ...] = ()) -> None:
    """CSV, TSV or JSON Lines by extension, written whole or not at all; a table's header starts
    with `columns` (there even without rows), then every other key the rows have."""
    check_output_path(path)
    suffix = path.suffix.lower()
    buffer = io.StringIO()
    if suffix in (".jsonl", ".json"):
        for row in rows:
            buffer.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        columns = list(dict.fromkeys([*columns, *(key for row in rows for key in row)]))
        writer = csv.DictWriter(
            buffer,
            columns,
            delimiter="\t" if suffix == ".tsv" else ",",
            quoting=csv.QUOTE_NONE if suffix == ".tsv" else csv.QUOTE_MINIMAL,
            escapechar="\\",
        )
        writer.writeheader()
        writer.writerows(rows)
    write_output(path, buffer.getvalue())


OUTPUT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")


def check_output_path(path: Path) -> None:
    """Refuse an --output that cannot be written, before any work: a wrong extension, a folder,
    or a path under a file (each with a message that says which)."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"--output {path}: use a .csv, .tsv or .jsonl file name.")
    if path.is_dir():
        raise UsageError(f"--output {path} is a folder; name a file.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"--output {path}: {parent} is a file, not a folder.")
            if not os.access(parent, os.W_OK):
                raise UsageError(f"--output {path}: the folder {parent} is not writable.")
            break


def write_output(path: Path, text: str) -> None:
    """Write predict's or eval's --output whole or not at all; a failure names the path."""
    try:
        write_atomically(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


# -- eval ---------------------------------------------------------------------------------------


def evaluate_run(
    manager: TaskrunPluginManager,
    run: LoadedRun,
    task_name: str,
    split: str,
    options: dict[str, Any],
    batch_size: int | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
    """The metrics of `scored_split` (what `taskrun eval` reports)."""
    return scored_split(manager, run, task_name, split, options, batch_size, precision).metrics


@dataclass
class Scored:
    """A split scored: the metrics, the post-processed predictions and the references they were scored against."""

    metrics: dict[str, Any]
    predictions: Any
    references: Any


def scored_split(
    manager: TaskrunPluginManager,
    run: LoadedRun,
    task_name: str,
    split: str,
    options: dict[str, Any],
    batch_size: int | None = None,
    precision: str | None = None,
) -> Scored:
    """Score the saved model on a task's split, through the task's own preprocessing, collator,
    post-processing and metrics. Labels are matched by name through the saved `id2label`; a
    different label set is an error that shows both. It computes in the run's precision (or
    `precision`), by its evaluation batch size: on the run's validation split the figures are the
    run's (to 1e-4). Where the loss is computed from the logits (sequence classification) the
    batches are length-sorted in fp32 (1.7x faster on SST-2's dev split, logits within 1e-6); under
    bf16 or fp16 autocast a batch's padding moves logits by up to 1e-2, so there, and where the loss
    is the model's own (tokens), the examples are batched in their order, as the run's own
    evaluation batched them."""
    task = manager.task(task_name)
    # on the run's own task, the label `f1` was of in the run (two labels); another task has its own
    recorded_positive = run.config().positive_label if task.name == run.task.name else None
    task = dataclasses.replace(
        task, problem_type=run.problem_type, positive_label=recorded_positive or task.positive_label
    )
    if task.family_name != run.family.name:
        raise UsageError(
            f"{run.folder} holds a {run.family.name} model; task {task.name!r} is {task.family_name}.",
            hint="Evaluate on a task of the same family.",
        )
    config = dataclasses.replace(run.config(), task=task.name, max_train_samples=None, **options)
    if task.evaluate_metrics or config.evaluate_metrics:  # the task's and the run's, before any data
        from .evaluate_metrics import load_modules

        load_modules([*task.evaluate_metrics, *config.evaluate_metrics])
    dataset = manager.stages(task).load_dataset(config)
    if dataset is None or split not in dataset:
        raise DataError(f"task {task.name!r} has no {split} split" + (" with these options." if dataset else "."))
    data = dataset[split]
    if config.max_eval_samples is not None and len(data) > config.max_eval_samples:
        data = data.select(range(config.max_eval_samples))
    data_labels = class_names(data.features.get(task.label_column))
    model_labels = [] if run.problem_type == "regression" else run.label_names
    unknown = [name for name in data_labels if name not in model_labels]
    if bool(data_labels) != bool(model_labels) or (unknown and len(unknown) == len(data_labels)):
        raise DataError(
            f"the model's labels differ from the data's: model {run.label_names}, {task.name} {split} {data_labels}.",
            hint="Evaluate on a task with the same label set.",
        )
    if unknown:
        log.warning("labels the model does not have: %s; %s", ", ".join(unknown), run.family.unseen_labels_note)
    features, truncated = features_of(manager, run, task, config, data)
    precision = compute_precision(precision or run.precision, run.device)
    features, references = run.family.eval_references(task, split, data, features, data_labels, model_labels, run)
    # a family whose loss does not depend on batching may sort by length; another batches as the
    # run's own evaluation did and takes the model's loss (and the objective) batch by batch
    sort_by_length = run.family.sort_eval
    by_length = sort_by_length and precision == "fp32"
    batch_size = batch_size or run.eval_batch_size
    order = None if sort_by_length else evaluation_order(features, batch_size, config)
    objective = run_objective(manager, run, task, config)
    logits, model_loss, objective_loss = forward(
        manager,
        run,
        task,
        config,
        features,
        batch_size,
        precision,
        by_length,
        not sort_by_length,
        order,
        None if sort_by_length else objective,
    )
    if objective is not None and sort_by_length:
        import torch

        objective_loss = float(objective({"logits": torch.as_tensor(logits)}, torch.as_tensor(references)))
    predictions = postprocess(manager, task, config, logits, model_labels)
    metrics: dict[str, Any] = {
        "loss": run.family.eval_loss(task, logits, references, model_loss),
        "precision": precision if run.exported is None else f"onnx {run.exported.get('weights', 'fp32')}",
    }
    if objective_loss is not None:
        metrics[OBJECTIVE_LOSS] = objective_loss
    metrics.update(merged_metrics(manager, task, predictions, references, model_labels, config.evaluate_metrics))
    positive = run.family.positive_label(task, model_labels)
    if positive is not None:
        metrics["positive_label"] = positive  # the label `f1` is of
    metrics.update(run.family.class_figures(task, predictions, references, model_labels))
    if truncated:
        log.info("%s of %s examples were truncated to %d tokens", f"{truncated:,}", f"{len(data):,}", run.max_length)
    metrics = {"task": task.name, "split": split, "samples": len(data), "model": str(run.folder), **metrics}
    return Scored(metrics, predictions, references)


def run_objective(manager: TaskrunPluginManager, run: LoadedRun, task: TaskSpec, config: RunConfig) -> Any:
    """The loss the run trained on where it was not the model's own (`--class-weights balanced`,
    a plugin's `taskrun_loss`), rebuilt from the training label counts metrics.json records; None
    for another task than the run's, or a run without one."""
    if task.name != run.task.name:
        return None
    try:
        train = read_metrics(run.folder).train
    except (OSError, ValueError):
        return None
    if "label_counts" not in train:
        return None
    recorded = train["label_counts"]
    counts = [int(recorded.get(name, 0)) for name in run.label_names] if isinstance(recorded, dict) else []
    objective, _ = manager.stages(task).loss(config, counts)
    return objective


def evaluation_order(features: Any, batch_size: int, config: RunConfig) -> list[int] | None:
    """The order in which the run's own evaluation batched `features`: Trainer groups evaluation
    batches by length (seeded) when the run grouped its training batches, else keeps the order.
    The loss of a token task averages over each batch's tokens, so its figure depends on it."""
    if not config.group_by_length:
        return None
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    lengths = [token_count(ids) for ids in features["input_ids"]]
    generator = torch.Generator().manual_seed(config.seed)
    return list(LengthGroupedSampler(batch_size, lengths=lengths, generator=generator))
