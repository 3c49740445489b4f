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


_MULTI_FEATURES = datasets.Features(
    {
        "predictions": datasets.Sequence(datasets.Value("int64")),
        "references": datasets.Sequence(datasets.Value("int64")),
    }
)
_REGRESSION_FEATURES = datasets.Features(
    {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
)


class MultiLabelF1(evaluate.Metric):
    """Micro and macro F1 over multi-hot label vectors (n, num_labels) of 0 and 1."""

    def _info(self):
        return evaluate.MetricInfo(
            description=self.__doc__, citation="", inputs_description="", features=_MULTI_FEATURES
        )

    def _compute(self, predictions, references):
        predictions, references = np.asarray(predictions), np.asarray(references)
        tp = (predictions & references).sum(axis=0)
        fp = (predictions & (1 - references)).sum(axis=0)
        fn = ((1 - predictions) & references).sum(axis=0)
        per_label = [2 * t / (2 * t + p + n) if (2 * t + p + n) else 0.0 for t, p, n in zip(tp, fp, fn)]
        denominator = 2 * tp.sum() + fp.sum() + fn.sum()
        return {
            "micro_f1": float(2 * tp.sum() / denominator) if denominator else 0.0,
            "macro_f1": float(np.mean(per_label)),
        }


class RegressionScores(evaluate.Metric):
    """Pearson and Spearman correlation, mean squared error and its root."""

    def _info(self):
        return evaluate.MetricInfo(
            description=self.__doc__, citation="", inputs_description="", features=_REGRESSION_FEATURES
        )

    def _compute(self, predictions, references):
        predictions, references = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
        mse = float(np.mean((predictions - references) ** 2))
        return {
            "pearson": _correlation(predictions, references),
            "spearman": _correlation(_ranks(predictions), _ranks(references)),
            "mse": mse,
            "rmse": float(np.sqrt(mse)),
        }


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 where either side is constant (undefined)."""
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged, as Spearman's correlation needs."""
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def per_class_report(predictions, references, label_names: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each class: class ids (n,) or multi-hot (n, k)."""
    predictions, references = np.asarray(predictions), np.asarray(references)
    if predictions.ndim == 1:
        predictions = np.eye(len(label_names), dtype=int)[predictions]
        references = np.eye(len(label_names), dtype=int)[references]
    report = {}
    for i, name in enumerate(label_names):
        p, r = predictions[:, i].astype(bool), references[:, i].astype(bool)
        tp, predicted, actual = int((p & r).sum()), int(p.sum()), int(r.sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    return report
