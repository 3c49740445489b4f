"""`taskrun export RUN --format onnx --output DIR [--quantize int8]`: a finished run's model as
ONNX, checked for parity with the run's PyTorch model on its validation split before anything is
written.

The graph is made by torch.onnx's exporter (torch.export, dynamic batch and sequence length):
optimum's exporter needs transformers < 4.58, and the TorchScript exporter bakes the attention
mask's shapes into the graph under transformers 5 (scores off by 0.02 on other lengths).
`--quantize int8` stores the weights of most matrix products as 8-bit integers, per output
channel (ONNX Runtime's dynamic quantisation; `kept_in_fp32` says which stay fp32 and why).

Parity: fp32 labels equal to the PyTorch model's on every validation example and every score
within 1e-4; int8 labels agreeing on at least 99 % and the primary metric within 0.01. An export
that misses them is refused, showing the figures, and nothing is written.

The folder gets the run's tokenizer, config.json (the labels), run_config.json and metrics.json;
`taskrun predict` and `taskrun eval` read it as they read the run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ParityError, TaskrunError, UsageError
from .exported import OnnxModel, require_onnx
from .files import write_json
from .inference import LoadedRun, Scored, load_run, scored_split
from .manager import TaskrunPluginManager
from .outputs import check_output_dir, output_dir_lock, publish, remove_stale_staging, staging_folder
from .rundir import EXPORT_RECORD, METRICS, ONNX_MODEL, RUN_CONFIG, write_run_config

__all__ = ["ExportResult", "export_run", "FORMATS", "QUANTIZATIONS"]

log = logging.getLogger("taskrun")

FORMATS = ("onnx",)
QUANTIZATIONS = ("int8",)
OPSET = 18
SCORE_TOLERANCE = 1e-4  # fp32: the largest difference allowed between a PyTorch and an ONNX score
INT8_AGREEMENT = 0.99  # int8: the share of labels that must agree
INT8_METRIC_MOVE = 0.01  # int8: how far the primary metric may move
EXPORTABLE_FAMILIES = ("sequence-classification", "token-classification")


@dataclass
class ExportResult:
    output_dir: Path
    record: dict[str, Any]  # export.json
    seconds: float


def export_run(
    manager: TaskrunPluginManager,
    run_dir: Path,
    output: Path,
    format: str = "onnx",
    quantize: str | None = None,
    options: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Export the run in `run_dir` to `output`, parity checked on the run's validation split
    (`options`: eval's, such as `data_dir` or `max_eval_samples`, over the run's own)."""
    started = time.monotonic()
    if format not in FORMATS:
        raise UsageError(f"--format {format}: taskrun exports to {', '.join(FORMATS)}.")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UsageError(f"--quantize {quantize}: taskrun quantises to {', '.join(QUANTIZATIONS)}.")
    require_onnx("taskrun export --format onnx")
    run = load_run(Path(run_dir), device="cpu", manager=manager)
    if run.exported is not None:
        raise UsageError(f"{run_dir} is an export already; export the run it came from ({run.exported.get('run')}).")
    if run.family.name not in EXPORTABLE_FAMILIES:
        raise UsageError(
            f"{run_dir} is a {run.family.name} run; taskrun exports {' and '.join(EXPORTABLE_FAMILIES)} models."
        )
    output = Path(output)
    with output_dir_lock(output, "an export"):
        check_output_dir(output, overwrite)
        remove_stale_staging(output)
        staging = staging_folder(output)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            write_onnx(run, staging, quantize)
            copy_record(run, staging)
            record: dict[str, Any] = {
                "format": format,
                "weights": quantize or "fp32",
                "run": str(Path(run_dir).resolve()),
                "opset": OPSET,
                "versions": versions(),
            }
            model = OnnxModel(staging, run.model.config)
            exported = dataclasses.replace(run, folder=staging, model=model, exported=record)
            record["parity"] = parity(manager, run, exported, quantize, dict(options or {}))
            write_json(staging / EXPORT_RECORD, record)
            files = sorted({p.name for p in staging.iterdir()} | {RUN_CONFIG})
            write_run_config(staging, dataclasses.replace(run.run_record, files=files))  # last: the folder is done
            publish(staging, output)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(output, record, time.monotonic() - started)


def write_onnx(run: LoadedRun, folder: Path, quantize: str | None) -> None:
    """The run's model as `folder/model.onnx` (int8 weights with `quantize`), with dynamic batch
    and sequence axes; the tokenizer and config.json beside it."""
    import torch

    model = run.model.float().eval()
    sample = run.tokenizer(
        ["a first sentence to trace the model with", "and a second one"], padding=True, return_tensors="pt"
    )
    names = [name for name in run.tokenizer.model_input_names if name in sample and name in run.model_inputs]
    inputs = {name: sample[name] for name in names}
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    target = folder / ONNX_MODEL if quantize is None else folder / f".fp32-{ONNX_MODEL}"
    log.info("exporting %s to ONNX (inputs %s)", run.folder, ", ".join(names))
    with torch.inference_mode(False), torch.no_grad(), _quiet():
        program = torch.onnx.export(
            model,
            (),
            kwargs=inputs,
            input_names=names,
            output_names=["logits"],
            dynamic_shapes={name: {0: batch, 1: sequence} for name in names},
            opset_version=OPSET,
            dynamo=True,
            optimize=True,
            verbose=False,
        )
    assert program is not None  # dynamo=True always returns the program
    program.save(str(target))
    if quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with _quiet():
            quantize_dynamic(
                str(target),
                str(folder / ONNX_MODEL),
                weight_type=QuantType.QUInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=kept_in_fp32(target),
            )
        target.unlink()
    run.tokenizer.save_pretrained(str(folder))
    model.config.save_pretrained(str(folder))


def kept_in_fp32(path: Path) -> list[str]:
    """The matrix products that int8 weights would spoil: those of two activations (attention's
    scores and their use), and the down-projections (more inputs than outputs: a feed-forward
    block's second layer), which read the activations whose outliers int8 cannot hold. Measured
    on MRPC (MiniLM, LoRA): quantising every MatMul and Gather, ONNX Runtime's default, kept 94 %
    of the labels; per-channel weights on the other MatMuls only, 99 %."""
    import onnx

    graph = onnx.load(str(path)).graph
    shapes = {item.name: list(item.dims) for item in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        weights = [shapes[name] for name in node.input if name in shapes]
        if not weights or (len(weights[0]) == 2 and weights[0][0] > weights[0][1]):
            kept.append(node.name)
    return kept


def copy_record(run: LoadedRun, folder: Path) -> None:
    """The run's metrics.json beside the export (run_config.json is written last, by the caller)."""
    if (run.folder / METRICS).is_file():
        shutil.copyfile(run.folder / METRICS, folder / METRICS)


def parity(
    manager: TaskrunPluginManager, run: LoadedRun, exported: LoadedRun, quantize: str | None, options: dict[str, Any]
) -> dict[str, Any]:
    """Score both models on the run's validation split; refuse (ParityError) where the exported
    one misses the format's bar. Returns the figures, as export.json records them. The run's model
    computes in fp32, as the export does: a run trained under bf16 or fp16 autocast would otherwise
    differ from its own weights by the autocast's rounding (0.0005 in a score, seen on bf16)."""
    task = run.task.name
    batch = options.pop("batch_size", None)
    options = {"task_options": {**run.config().task_options, **options.pop("task_options", {})}, **options}
    try:
        ours = scored_split(manager, run, task, "validation", options, batch, precision="fp32")
    except TaskrunError as exc:
        exc.message = f"the parity check scores the run on its validation split: {exc.message}"
        raise
    theirs = scored_split(manager, exported, task, "validation", options, batch)
    agreement, largest = compare(ours, theirs, token_level=run.family.name == "token-classification")
    metric = primary_of(run)
    before, after = ours.metrics.get(metric), theirs.metrics.get(metric)
    moved = abs(after - before) if isinstance(before, float) and isinstance(after, float) else 0.0
    figures = {
        "split": "validation",
        "examples": ours.metrics["samples"],
        "label_agreement": round(agreement, 6),
        "largest_score_difference": float(f"{largest:.3g}"),
        "metric": metric,
        "pytorch": before,
        "onnx": after,
    }
    failures = []
    if quantize is None:
        if agreement < 1.0:
            failures.append(f"labels agree on {agreement:.2%} of the answers, not all")
        if largest > SCORE_TOLERANCE:
            failures.append(f"a score differs by {largest:.2g} (allowed {SCORE_TOLERANCE:g})")
    else:
        if agreement < INT8_AGREEMENT:
            failures.append(f"labels agree on {agreement:.2%} of the answers (at least {INT8_AGREEMENT:.0%} needed)")
        if moved > INT8_METRIC_MOVE:
            failures.append(f"{metric} moved by {moved:.4f} (at most {INT8_METRIC_MOVE} allowed)")
    shown = f"{metric} {before:.4f} in PyTorch, {after:.4f} exported" if isinstance(before, float) else ""
    if failures:
        raise ParityError(
            f"the exported model ({quantize or 'fp32'}) fails the parity check on {figures['examples']} validation "
            f"examples: {'; '.join(failures)} ({shown}). Nothing was written.",
            hint="Export without --quantize, or keep serving the run itself." if quantize else None,
        )
    log.info("parity on %s validation examples: labels agree %.2f%%, %s", figures["examples"], 100 * agreement, shown)
    return figures


def primary_of(run: LoadedRun) -> str:
    """The run's primary metric, as its metrics.json names it."""
    try:
        data = json.loads((run.folder / METRICS).read_text(encoding="utf-8"))
        return str(data["primary_metric"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return "loss"


def compare(ours: Scored, theirs: Scored, token_level: bool) -> tuple[float, float]:
    """The share of labels that agree, and the largest difference between two scores (or values),
    over the answers that count (a token task's labelled tokens)."""
    a, b = ours.predictions, theirs.predictions
    if a.values is not None:
        values_a, values_b = np.asarray(a.values, dtype=float), np.asarray(b.values, dtype=float)
        return 1.0, float(np.max(np.abs(values_a - values_b), initial=0.0))
    ids_a, ids_b = np.asarray(a.label_ids), np.asarray(b.label_ids)
    references = np.asarray(ours.references)
    counted = references != -100 if token_level else None
    same = ids_a == ids_b
    agreement = float(same[counted].mean() if counted is not None else same.mean()) if same.size else 1.0
    scores_a, scores_b = np.asarray(a.scores, dtype=float), np.asarray(b.scores, dtype=float)
    difference = np.abs(scores_a - scores_b)
    if counted is not None:
        difference = difference[counted]
    return agreement, float(np.max(difference, initial=0.0))


def versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


class _quiet:
    """Silence the exporters' and the quantiser's progress prints and warnings (the parity check says what counts)."""

    def __enter__(self) -> None:
        import contextlib
        import io
        import warnings

        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        self._stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        # the quantiser's advice to pre-process (the root logger, which its import configures: its
        # handler is taken away again), the exporter's notes on torchvision
        root = logging.getLogger()
        self._stack.callback(setattr, root, "handlers", root.handlers[:])
        for logger in (root, logging.getLogger("torch.onnx")):
            self._stack.callback(logger.setLevel, logger.level)
            logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()
