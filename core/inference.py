"""Using a finished run: `taskrun predict` (labels for new texts) and `taskrun eval` (a saved model
scored on a task's split). Both go through the same batched inference and the same
`taskrun_postprocess` hook as training's evaluation, so their answers agree with it and with
`transformers.pipeline("text-classification", model=RUN_DIR)`.

Inference runs on the GPU when there is one (else the CPU), in the run's recorded precision, and
`predict` sorts examples by length and pads each batch only to its longest example.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .data import class_names
from .errors import DataError, UsageError
from .files import write_atomically
from .manager import TaskrunPluginManager
from .models import load_pretrained
from .outputs import RUN_MARKER
from .scoring import class_figures, merged_metrics, postprocess
from .splits import UNSEEN, ids_by_name
from .task import Predictions, RunConfig, TaskSpec
from .tokenization import encode

log = logging.getLogger("taskrun")

PAIR_SEPARATOR = "\t"


@dataclass
class LoadedRun:
    """A run folder's model, tokenizer and recorded settings."""

    folder: Path
    record: dict[str, Any]
    model: Any
    tokenizer: Any
    label_names: list[str]

    @property
    def problem_type(self) -> str:
        return self.record["problem_type"]

    @property
    def max_length(self) -> int:
        """The length the model was trained with, within what its tokenizer takes."""
        return min(
            self.record["max_length"], getattr(self.tokenizer, "model_max_length", None) or self.record["max_length"]
        )

    @property
    def precision(self) -> str:
        """The precision the run trained and evaluated in (fp32 for runs that did not record it)."""
        return str(self.record.get("precision_used") or "fp32")

    @property
    def device(self) -> str:
        """Where the model is: "cuda" or "cpu"."""
        return next(self.model.parameters()).device.type

    @property
    def eval_batch_size(self) -> int:
        """The batch size of the run's own evaluation (Trainer's: twice the training batch size)."""
        return int(self.record.get("batch_size", 16)) * 2

    @property
    def pair(self) -> bool:
        return len(self.record.get("text_inputs", [])) == 2

    def config(self) -> RunConfig:
        """The run's settings as a RunConfig (what post-processing and data loading expect)."""
        return RunConfig.from_dict(self.record)


def inference_device() -> str:
    """The GPU when torch sees one (as training does), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_run(folder: Path, device: str | None = None) -> LoadedRun:
    """Open a run folder written by `taskrun run`, its model on `device` (by default the GPU when
    there is one, else the CPU); a clear error for anything else."""
    folder = Path(folder)
    marker = folder / RUN_MARKER
    if not marker.is_file():
        raise UsageError(f"{folder} is not a taskrun run folder (it has no {RUN_MARKER}).")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{marker}: cannot read the run's settings: {exc}") from exc
    hf_logging.disable_progress_bar()  # "Loading weights" bars: noise before a table of answers
    try:
        model = load_pretrained(AutoModelForSequenceClassification.from_pretrained, folder, "the saved model").eval()
        tokenizer = load_pretrained(AutoTokenizer.from_pretrained, folder, "the saved tokenizer")
    finally:
        hf_logging.enable_progress_bar()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return LoadedRun(folder, record, model.to(device or inference_device()), tokenizer, labels)


def task_for(manager: TaskrunPluginManager, run: LoadedRun) -> TaskSpec:
    """The run's task as its plugin registers it, or a bare one where that plugin is gone (the
    core defaults then post-process)."""
    name = run.record["task"]
    task = manager.tasks().get(name) or TaskSpec(name=name, problem_type=run.problem_type)
    return dataclasses.replace(task, problem_type=run.problem_type)


def infer(
    run: LoadedRun,
    texts: list[str],
    pairs: list[str] | None,
    batch_size: int,
    precision: str | None = None,
    by_length: bool = True,
) -> tuple[np.ndarray, int]:
    """Logits for every text (and its pair), cut to the run's max length, and how many texts were
    cut. Each batch is padded to its longest text; `by_length` batches texts of similar length
    together (fast), else in their order, as the run's own evaluation batched them. `precision`:
    the run's recorded precision unless given (see `compute_precision`). The logits stay on the
    device until the last batch, so that a GPU is not made to wait batch by batch."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(
        compute_precision(precision or run.precision, run.device)
    )
    encoded, truncated = encode(run.tokenizer, texts, pairs, run.max_length)
    order = list(range(len(texts)))
    if by_length:
        order.sort(key=lambda i: len(encoded["input_ids"][i]))
    outputs = []
    with torch.inference_mode(), torch.autocast(run.device, dtype=dtype, enabled=dtype is not None):
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            batch = run.tokenizer.pad(
                [{key: values[i] for key, values in encoded.items()} for i in index], return_tensors="pt"
            )
            outputs.append(run.model(**batch.to(run.device)).logits.float())
    logits = np.zeros((len(texts), run.model.config.num_labels), dtype=np.float32)
    if outputs:
        logits[order] = torch.cat(outputs).cpu().numpy()
    return logits, sum(truncated)


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


# -- predict ------------------------------------------------------------------------------------


@dataclass
class PredictInput:
    """Rows to predict: the caller's columns, kept in the output, and the text (and pair) of each."""

    rows: list[dict[str, str]]
    texts: list[str]
    pairs: list[str] | None
    origin: list[str]  # "line 3" / "argument 2", for messages


def inputs_from_texts(texts: Iterable[str], pair: bool, where: str) -> PredictInput:
    """Texts from the command line or standard input; a pair model takes `text<TAB>pair`, and a
    text without the tab is an incomplete pair: an error that says how to give pairs."""
    rows, firsts, seconds, origin, single = [], [], [], [], []
    for number, raw in enumerate(texts, start=1):
        text = raw.rstrip("\r\n")
        if pair:
            first, separator, second = text.partition(PAIR_SEPARATOR)
            if not separator and text.strip():
                single.append(f"{where} {number}")
            rows.append({"text": first, "text_pair": second})
            firsts.append(first)
            seconds.append(second)
        else:
            rows.append({"text": text})
            firsts.append(text)
        origin.append(f"{where} {number}")
    if single:
        shown = ", ".join(single[:5]) + (f" ... ({len(single)} in all)" if len(single) > 5 else "")
        raise UsageError(
            f"this model takes pairs of texts, and {shown} holds only one (no tab between two texts).",
            hint="Separate the two texts with a tab: $'first sentence\\tsecond sentence' in bash, or pass "
            "--input FILE with two text columns (--text-column, --text-pair-column).",
        )
    if not rows:
        raise UsageError(
            f"no texts to label: the {'arguments' if where == 'argument' else 'standard input'} held none."
        )
    return PredictInput(rows, firsts, seconds if pair else None, origin)


def inputs_from_file(
    path: Path, run: LoadedRun, text_column: str | None, pair_column: str | None, fmt: str | None, encoding: str
) -> PredictInput:
    """Rows of a CSV, TSV or JSON Lines file; the text columns default to those the model trained on."""
    from .data import read_table, require_column

    table = read_table(path, fmt, encoding)
    trained = run.record.get("text_inputs", [])
    named = run.record.get("task_options", {})

    def default_column(position: int, option: str, fallback: str) -> str:
        """The column the model trained on, under the dataset's name or the user's, if the file has it."""
        candidates = [trained[position] if len(trained) > position else None, named.get(option)]
        return next((c for c in candidates if c and c in table.columns), fallback)

    text_column = text_column or default_column(0, "text_column", "text")
    require_column(table, text_column, "--text-column")
    pairs = None
    if run.pair:
        pair_column = pair_column or default_column(1, "text_pair_column", "text_pair")
        require_column(table, pair_column, "--text-pair-column")
        pairs = table.column(pair_column)
    return PredictInput(table.rows, table.column(text_column), pairs, [f"line {n}" for n in table.lines])


@dataclass
class PredictOutcome:
    rows: list[dict[str, Any]]  # the input's columns plus label and score
    texts: list[str]
    pairs: list[str] | None
    empty: list[str]  # where the empty texts were ("line 3")
    truncated: int
    names: dict[str, str]  # the output column of each part of the prediction (label, score, value)


def predict(
    manager: TaskrunPluginManager,
    run: LoadedRun,
    inputs: PredictInput,
    batch_size: int,
    all_scores: bool,
    precision: str | None = None,
) -> PredictOutcome:
    """Label (and score) every non-empty input; empty ones get no label and are listed."""
    empty = [
        i
        for i, text in enumerate(inputs.texts)
        if not text.strip() or (inputs.pairs is not None and not inputs.pairs[i].strip())
    ]
    skipped = set(empty)
    keep = [i for i in range(len(inputs.texts)) if i not in skipped]
    texts = [inputs.texts[i] for i in keep]
    pairs = [inputs.pairs[i] for i in keep] if inputs.pairs is not None else None
    rows = [dict(row) for row in inputs.rows]
    names = prediction_columns(run, list(inputs.rows[0]) if inputs.rows else [])
    for row in rows:
        row.update(dict.fromkeys(names.values(), ""))
    truncated = 0
    if keep:
        logits, truncated = infer(run, texts, pairs, batch_size, precision)
        answer = postprocess(manager, task_for(manager, run), run.config(), logits)
        for j, i in enumerate(keep):
            rows[i].update({names.get(k, k): v for k, v in _prediction_columns(run, answer, j, all_scores).items()})
    return PredictOutcome(rows, inputs.texts, inputs.pairs, [inputs.origin[i] for i in empty], truncated, names)


def prediction_columns(run: LoadedRun, input_columns: list[str]) -> dict[str, str]:
    """The output columns of the prediction (`label`, `score`; `value` for regression), all named
    `predicted_...` where the input has a column of one of those names (a gold label, say): the
    input's columns are kept as they are."""
    roles = ["value"] if run.problem_type == "regression" else ["label", "score"]
    clash = any(role in input_columns for role in roles)
    return {role: f"predicted_{role}" if clash else role for role in roles}


def _prediction_columns(run: LoadedRun, answer: Predictions, j: int, all_scores: bool) -> dict[str, Any]:
    """Regression: the predicted `value`; classification: the `label` and its probability `score`."""
    if run.problem_type == "regression":
        return {"value": float(answer.values[j])}
    scores = answer.scores[j]
    if run.problem_type == "multi-label":
        chosen = [run.label_names[k] for k in np.flatnonzero(answer.label_ids[j])]
        columns = {"label": ";".join(chosen), "score": float(scores.max())}
    else:
        columns = {"label": run.label_names[int(answer.label_ids[j])], "score": float(scores[int(answer.label_ids[j])])}
    if all_scores:
        columns.update({f"score_{name}": float(s) for name, s in zip(run.label_names, scores)})
    return columns


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """CSV, TSV or JSON Lines by extension, written whole or not at all."""
    check_output_path(path)
    suffix = path.suffix.lower()
    buffer = io.StringIO()
    if suffix in (".jsonl", ".json"):
        for row in rows:
            buffer.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        columns = list(dict.fromkeys(key for row in rows for key in row))
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
) -> dict[str, Any]:
    """Score the saved model on a task's split. Labels are matched by name through the saved
    `id2label`; a different label set is an error that shows both. It computes in the run's
    precision, by its evaluation batch size: on the run's validation split the figures are the
    run's (to 1e-4). In fp32 the batches are length-sorted (1.7x faster on SST-2's dev split,
    logits within 1e-6); under bf16 or fp16 autocast a batch's padding moves logits by up to 1e-2,
    so there the texts are batched in their order, as the run's own evaluation batched them."""
    task = dataclasses.replace(manager.task(task_name), problem_type=run.problem_type)
    config = dataclasses.replace(run.config(), task=task.name, max_train_samples=None, **options)
    dataset = manager.call("taskrun_load_dataset", task, config=config)
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
    references = _references(task, data, data_labels, run.label_names)
    if run.problem_type == "single-label" and (references == -1).any():
        raise DataError(
            f"the {split} split of {task.name!r} has {int((references == -1).sum())} unlabelled row(s); "
            "it cannot be scored (GLUE's test files have no labels)."
        )
    if unknown:
        log.warning("labels the model does not have: %s; their rows count as errors", ", ".join(unknown))
    columns = [c for c in task.text_columns if c in data.column_names]
    texts = list(data[columns[0]])
    pairs = list(data[columns[1]]) if len(columns) == 2 else None
    if (pairs is not None) != run.pair:
        raise DataError(
            f"the model was trained on {'pairs of texts' if run.pair else 'single texts'}, "
            f"but {task.name!r} gives {'pairs' if pairs is not None else 'single texts'}."
        )
    precision = compute_precision(run.precision, run.device)
    logits, truncated = infer(
        run, texts, pairs, batch_size or run.eval_batch_size, precision, by_length=precision == "fp32"
    )
    predictions = postprocess(manager, task, config, logits)
    metrics = {"loss": eval_loss(run.problem_type, logits, references), "precision": precision}
    metrics.update(merged_metrics(manager, task, predictions, references, model_labels))
    metrics.update(class_figures(predictions.label_ids, references, task, model_labels))
    if truncated:
        log.info("%s of %s texts were truncated to %d tokens", f"{truncated:,}", f"{len(texts):,}", run.max_length)
    return {"task": task.name, "split": split, "samples": len(texts), "model": str(run.folder), **metrics}


def eval_loss(problem_type: str, logits: np.ndarray, references: np.ndarray) -> float:
    """The loss the model's head computes, over the rows with a label the model has: cross-entropy
    (single-label), binary cross-entropy (multi-label), mean squared error (regression)."""
    logits = logits.astype(np.float64)
    if problem_type == "regression":
        return float(np.mean((logits.reshape(len(logits), -1)[:, 0] - references) ** 2))
    if problem_type == "multi-label":
        log_p, log_not_p = -np.logaddexp(0, -logits), -np.logaddexp(0, logits)
        return float(-np.mean(references * log_p + (1 - references) * log_not_p))
    known = references >= 0
    shifted = logits[known] - logits[known].max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_softmax[np.arange(known.sum()), references[known]]))


def _references(task: TaskSpec, data: Any, data_labels: list[str], model_labels: list[str]) -> np.ndarray:
    """The split's labels as the model's ids: matched by name, never by position."""
    raw = list(data[task.label_column])
    if not data_labels:
        return np.asarray(raw, dtype=float)
    to_model = ids_by_name(data_labels, model_labels)
    if raw and isinstance(raw[0], list):  # multi-label: labels the model does not have are left out
        hot = np.zeros((len(raw), len(model_labels)), dtype=int)
        for row, ids in enumerate(raw):
            hot[row, [to_model[i] for i in ids if to_model[i] != UNSEEN]] = 1
        return hot
    return np.asarray([to_model[i] if i >= 0 else -1 for i in raw])
