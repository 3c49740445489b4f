"""Classification metrics as `evaluate` metrics that need no network.

`evaluate.load("accuracy")` downloads the metric's code from the Hub. These classes are the same
interface (`evaluate.Metric`, `.compute(predictions=..., references=...)`), implemented here, so
plugins keep `evaluate` as their metric API and runs work offline. Import this module inside hook
bodies: it imports evaluate (and datasets).
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

_CLASS_FEATURES = datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")})


def _info(description: str) -> evaluate.MetricInfo:
    return evaluate.MetricInfo(description=description, citation="", inputs_description="", features=_CLASS_FEATURES)


class Accuracy(evaluate.Metric):
    """Share of predictions equal to the reference."""

    def _info(self):
        return _info(self.__doc__)

    def _compute(self, predictions, references):
        return {"accuracy": float(np.mean(np.asarray(predictions) == np.asarray(references)))}


def _f1_per_class(predictions: np.ndarray, references: np.ndarray, label: int) -> float:
    tp = np.sum((predictions == label) & (references == label))
    fp = np.sum((predictions == label) & (references != label))
    fn = np.sum((predictions != label) & (references == label))
    denominator = 2 * tp + fp + fn
    return float(2 * tp / denominator) if denominator else 0.0


class F1(evaluate.Metric):
    """F1 score: `average="binary"` for the class `pos_label` (as GLUE reports MRPC), or `"macro"`:
    the unweighted mean over the classes that occur in the references or the predictions."""

    def _info(self):
        return _info(self.__doc__)

    def _compute(self, predictions, references, average="binary", pos_label=1):
        predictions, references = np.asarray(predictions), np.asarray(references)
        if average == "binary":
            return {"f1": _f1_per_class(predictions, references, pos_label)}
        if average == "macro":
            labels = np.union1d(predictions, references)
            return {"f1": float(np.mean([_f1_per_class(predictions, references, c) for c in labels]))}
        raise ValueError(f"average must be 'binary' or 'macro', not {average!r}")
