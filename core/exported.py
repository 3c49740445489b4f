"""An exported run folder (`taskrun export`): `model.onnx` beside the run's tokenizer, `config.json`
(the labels), run_config.json and metrics.json (the run's record) and `export.json` (how it was
exported and the parity measured then). `OnnxModel` serves it to predict and eval through ONNX
Runtime, behind the same call as a transformers model: `model(**batch).logits`.

Needs the `onnx` extra (`pip install "taskrun[onnx]"`); refused by name without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelSourceError, UsageError
from .rundir import EXPORT_RECORD, ONNX_MODEL

__all__ = ["OnnxModel", "is_exported", "read_export_record", "require_onnx"]

EXTRA = 'pip install "taskrun[onnx]"'


def require_onnx(what: str) -> None:
    """Refuse, naming the extra, where onnx, onnxscript or onnxruntime is not installed."""
    import importlib.util

    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"{what} needs {', '.join(missing)}, which is not installed.", hint=EXTRA)


def is_exported(folder: Path) -> bool:
    return (folder / ONNX_MODEL).is_file() and (folder / EXPORT_RECORD).is_file()


def read_export_record(folder: Path) -> dict[str, Any]:
    path = folder / EXPORT_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the export's record: {exc}") from exc
    if not isinstance(record, dict):
        raise UsageError(f"{path}: not an export record (expected a JSON object).")
    return record


@dataclass
class OnnxOutput:
    logits: Any
    loss: Any = None


class OnnxModel:
    """An ONNX Runtime session on the CPU, called like the model it was exported from: the
    batch's tensors in, torch logits out, and with `labels` the loss that model computes (its
    config's problem type; a token task's over the labelled tokens)."""

    def __init__(self, folder: Path, config: Any):
        require_onnx(f"{folder} (an exported model)")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # warnings about unused initialisers: noise before a table
        try:
            self.session = onnxruntime.InferenceSession(
                str(folder / ONNX_MODEL), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelSourceError(f"{folder / ONNX_MODEL}: ONNX Runtime cannot load it: {exc}") from exc
        self.config = config
        self.input_names = [item.name for item in self.session.get_inputs()]

    def eval(self) -> OnnxModel:
        return self

    def to(self, device: Any) -> OnnxModel:
        return self

    def __call__(self, **batch: Any) -> OnnxOutput:
        import numpy as np
        import torch

        feed = {name: np.asarray(batch[name].cpu().numpy(), dtype=np.int64) for name in self.input_names}
        logits = torch.from_numpy(self.session.run(None, feed)[0])
        labels = batch.get("labels")
        return OnnxOutput(logits, None if labels is None else self.loss(logits, labels.cpu()))

    def loss(self, logits: Any, labels: Any) -> Any:
        """The loss transformers' heads compute from these logits (mean over examples, or over
        the labelled tokens)."""
        import torch.nn.functional as F

        if logits.dim() == 3:  # a tag per token; -100 marks the tokens without one
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).long(), ignore_index=-100)
        problem = getattr(self.config, "problem_type", None)
        if problem == "regression":
            return F.mse_loss(logits.squeeze(-1), labels.float())
        if problem == "multi_label_classification":
            return F.binary_cross_entropy_with_logits(logits, labels.float())
        return F.cross_entropy(logits, labels.long())
