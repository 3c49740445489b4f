"""Evaluation metrics as plain numpy functions: offline, and cheap enough to call at every evaluation.

Each function takes `predictions` and `references` (anything `numpy.asarray` accepts) and returns a
Python float. They agree with scikit-learn and scipy (`tests/test_metrics.py` checks them against
both), which taskrun does not depend on. `default_metrics` computes what a task reports when its
plugin chooses nothing else, by problem type.

`evaluate` stays the API for any metric from its library: `evaluate.load(...)` fetches the metric's
code from the Hub, so it needs the network (or its cache). These functions need neither, and unlike
an `evaluate.Metric` they write no cache folder, Arrow file or lock.

Conventions:

- Classification inputs are class ids of shape (n,), or 0/1 label matrices of shape (n, k) for
  multi-label; float arrays (references often arrive as 0.0/1.0) are rounded to int.
- A score whose denominator is 0 (no predicted and no true member of a class, a constant
  regression side) is 0.0, as scikit-learn's `zero_division=0`.
- Empty inputs, or predictions and references of different shapes, raise ValueError.

`Accuracy`, `F1`, `MultiLabelF1` and `RegressionScores` are the former `evaluate.Metric` classes,
kept as deprecated shims until taskrun 0.3.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_METRICS",
    "accuracy",
    "default_metric_names",
    "default_metrics",
    "exact_match",
    "f1",
    "macro_f1",
    "matthews_correlation",
    "micro_f1",
    "mse",
    "pearson",
    "per_class_report",
    "rmse",
    "spearman",
]

# ---------------------------------------------------------------------------------------------
# Input checks


def _pair(predictions: npt.ArrayLike, references: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p, r = np.asarray(predictions), np.asarray(references)
    if p.shape != r.shape:
        raise ValueError(f"predictions have shape {p.shape} but references {r.shape}; they must be the same")
    if p.size == 0:
        raise ValueError("no predictions: a metric needs at least one example")
    return p, r


def _class_ids(values: np.ndarray) -> np.ndarray:
    """Integer class ids (or 0/1 flags); floats such as 1.0 are rounded."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False)
    return np.rint(values.astype(float)).astype(np.int64)


def _classes(predictions: npt.ArrayLike, references: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p, r = _pair(predictions, references)
    if p.ndim not in (1, 2):
        raise ValueError(f"expected class ids (n,) or 0/1 label matrices (n, k), got shape {p.shape}")
    return _class_ids(p), _class_ids(r)


def _single_label(predictions: npt.ArrayLike, references: npt.ArrayLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    p, r = _classes(predictions, references)
    if p.ndim != 1:
        raise ValueError(
            f"{name} takes class ids of shape (n,), got {p.shape}; for 0/1 label matrices use micro_f1 or macro_f1"
        )
    return p, r


def _values(predictions: npt.ArrayLike, references: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p, r = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if r.ndim == 2 and r.shape[1] == 1:
        r = r[:, 0]
    p, r = _pair(p, r)
    if p.ndim != 1:
        raise ValueError(f"expected values of shape (n,) or (n, 1), got {p.shape}")
    return p, r


def _f1_score(tp: Any, fp: Any, fn: Any) -> Any:
    """2tp / (2tp + fp + fn), elementwise, 0.0 where the denominator is 0."""
    tp, fp, fn = np.asarray(tp, dtype=float), np.asarray(fp, dtype=float), np.asarray(fn, dtype=float)
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def _class_counts(p: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives of each class present in p or r."""
    low, high = min(int(p.min()), int(r.min())), max(int(p.max()), int(r.max()))
    if high - low <= 2 * len(p) + 1024:  # the usual ids 0..k-1: count directly, no sort
        pi, ri = p - low, r - low
    else:
        _, inverse = np.unique(np.concatenate([p, r]), return_inverse=True)
        pi, ri = inverse[: len(p)], inverse[len(p) :]
    k = int(max(pi.max(), ri.max())) + 1
    tp = np.bincount(pi[pi == ri], minlength=k)
    predicted, actual = np.bincount(pi, minlength=k), np.bincount(ri, minlength=k)
    present = (predicted + actual) > 0
    return tp[present], (predicted - tp)[present], (actual - tp)[present]


# ---------------------------------------------------------------------------------------------
# Classification


def accuracy(predictions: npt.ArrayLike, references: npt.ArrayLike) -> float:
    """Share of examples predicted exactly right. For 0/1 label matrices (n, k) a row counts only if
    all its labels are right (the same as `exact_match`)."""
    p, r = _classes(predictions, references)
    right = p == r if p.ndim == 1 else np.all(p == r, axis=1)
    return float(np.mean(right))


def f1(predictions: npt.ArrayLike, references: npt.ArrayLike, average: str = "binary", pos_label: int = 1) -> float:
    """F1 score of single-label class ids (n,).

    `average="binary"`: the F1 of class `pos_label` against all others (as GLUE reports MRPC);
    `"macro"`: the unweighted mean of the per-class F1 over the classes present in the predictions
    or the references; `"micro"`: F1 of the counts summed over those classes (equal to accuracy).
    A class with no predicted and no true example has F1 0.0.
    """
    p, r = _single_label(predictions, references, "f1")
    if average == "binary":
        predicted, actual = p == pos_label, r == pos_label
        hits = int(np.sum(predicted & actual))
        return float(_f1_score(hits, int(np.sum(predicted)) - hits, int(np.sum(actual)) - hits))
    if average not in ("macro", "micro"):
        raise ValueError(f"average must be 'binary', 'macro' or 'micro', not {average!r}")
    tp, fp, fn = _class_counts(p, r)
    if average == "macro":
        return float(np.mean(_f1_score(tp, fp, fn)))
    return float(_f1_score(tp.sum(), fp.sum(), fn.sum()))


def matthews_correlation(predictions: npt.ArrayLike, references: npt.ArrayLike) -> float:
    """Matthews correlation coefficient of class ids (n,), with the multiclass generalisation (Gorodkin's
    R_K, as scikit-learn's `matthews_corrcoef`); 0.0 where it is undefined (one side has one class)."""
    p, r = _single_label(predictions, references, "matthews_correlation")
    tp, fp, fn = _class_counts(p, r)
    # Exact integer arithmetic: n**2 outgrows float precision long before int64 overflows.
    predicted, actual = [int(x) for x in tp + fp], [int(x) for x in tp + fn]
    n, correct = len(p), int(tp.sum())
    covariance = correct * n - sum(a * b for a, b in zip(actual, predicted))
    variance_predicted = n * n - sum(a * a for a in predicted)
    variance_actual = n * n - sum(a * a for a in actual)
    if variance_predicted == 0 or variance_actual == 0:
        return 0.0
    return covariance / math.sqrt(variance_predicted * variance_actual)


def _label_counts(p: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-label true positives, false positives, false negatives of 0/1 matrices (n, k)."""
    p, r = p != 0, r != 0
    return (p & r).sum(axis=0), (p & ~r).sum(axis=0), (~p & r).sum(axis=0)


def micro_f1(predictions: npt.ArrayLike, references: npt.ArrayLike) -> float:
    """Micro-averaged F1: of 0/1 label matrices (n, k), the F1 of the counts summed over all labels
    (multi-label); of class ids (n,), `f1(average="micro")`. 0.0 when nothing is predicted or true."""
    p, r = _classes(predictions, references)
    if p.ndim == 1:
        return f1(p, r, average="micro")
    tp, fp, fn = _label_counts(p, r)
    return float(_f1_score(tp.sum(), fp.sum(), fn.sum()))


def macro_f1(predictions: npt.ArrayLike, references: npt.ArrayLike) -> float:
    """Macro-averaged F1: of 0/1 label matrices (n, k), the mean F1 over all k labels (multi-label;
    a label never predicted nor true counts 0.0); of class ids (n,), the single-label
    `f1(average="macro")` over the classes present."""
    p, r = _classes(predictions, references)
    if p.ndim == 1:
        return f1(p, r, average="macro")
    return float(np.mean(_f1_score(*_label_counts(p, r))))


def exact_match(predictions: npt.ArrayLike, references: npt.ArrayLike) -> float:
    """Subset accuracy of 0/1 label matrices (n, k): share of rows with every label right. Of class
    ids (n,) it is plain accuracy."""
    return accuracy(predictions, references)


# ---------------------------------------------------------------------------------------------
# Regression


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two 1-D float arrays; 0.0 where either is constant, NaN if either has NaN."""
    if np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    if np.all(a == a[0]) or np.all(b == b[0]):
        return 0.0
    a, b = a - a.mean(), b - b.mean()
    r = np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b))
    return float(np.clip(r, -1.0, 1.0))


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    group = np.cumsum(starts) - 1  # group of each sorted position
    bounds = np.append(np.flatnonzero(starts), len(values))  # first position of each group, then n
    ranks = np.empty(len(values))
    ranks[order] = (bounds[group] + bounds[group + 1] + 1) / 2
    return ranks


def pearson(predictions: npt.ArrayLike, references: npt.ArrayLike) -> float:
    """Pearson correlation of values (n,) or (n, 1); 0.0 where either side is constant (undefined)."""
    p, r = _values(predictions, references)
    return _correlation(p, r)


def spearman(predictions: npt.ArrayLike, references: npt.ArrayLike) -> float:
    """Spearman rank correlation of values (n,) or (n, 1), ties given their average rank (as
    `scipy.stats.spearmanr`); 0.0 where either side is constant (undefined)."""
    p, r = _values(predictions, references)
    if np.isnan(p).any() or np.isnan(r).any():
        return float("nan")
    return _correlation(_ranks(p), _ranks(r))


def mse(predictions: npt.ArrayLike, references: npt.ArrayLike) -> float:
    """Mean squared error of values (n,) or (n, 1)."""
    p, r = _values(predictions, references)
    return float(np.mean((p - r) ** 2))


def rmse(predictions: npt.ArrayLike, references: npt.ArrayLike) -> float:
    """Root of the mean squared error of values (n,) or (n, 1)."""
    return math.sqrt(mse(predictions, references))


# ---------------------------------------------------------------------------------------------
# Per-class figures and defaults by problem type


def per_class_report(
    predictions: npt.ArrayLike, references: npt.ArrayLike, label_names: list[str]
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each class: class ids (n,) or multi-hot (n, k)."""
    predicted_ids, true_ids = _class_ids(np.asarray(predictions)), _class_ids(np.asarray(references))
    if predicted_ids.ndim == 1:
        predicted_ids = np.eye(len(label_names), dtype=int)[predicted_ids]
        true_ids = np.eye(len(label_names), dtype=int)[true_ids]
    report = {}
    for i, name in enumerate(label_names):
        p, r = predicted_ids[:, i].astype(bool), true_ids[:, i].astype(bool)
        tp, predicted, actual = int((p & r).sum()), int(p.sum()), int(r.sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    return report


class PredictionsLike(Protocol):
    """What `default_metrics` reads of `taskrun.Predictions`."""

    @property
    def label_ids(self) -> Any: ...

    @property
    def values(self) -> Any: ...


# Each default metric by the name it is reported under; `f1` is the binary F1 of class id 1.
DEFAULT_METRICS: dict[str, Callable[[npt.ArrayLike, npt.ArrayLike], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "macro_f1": macro_f1,
    "matthews_correlation": matthews_correlation,
    "micro_f1": micro_f1,
    "exact_match": exact_match,
    "pearson": pearson,
    "spearman": spearman,
    "mse": mse,
    "rmse": rmse,
}


def default_metric_names(problem_type: str, num_labels: int) -> tuple[str, ...]:
    """The names `default_metrics` reports, without computing them.

    single-label: accuracy, `f1` (of class id 1) with exactly 2 labels or else `macro_f1`, and
    matthews_correlation; multi-label: micro_f1, macro_f1, exact_match; regression: pearson,
    spearman, mse, rmse.
    """
    if problem_type == "single-label":
        return ("accuracy", "f1" if num_labels == 2 else "macro_f1", "matthews_correlation")
    if problem_type == "multi-label":
        return ("micro_f1", "macro_f1", "exact_match")
    if problem_type == "regression":
        return ("pearson", "spearman", "mse", "rmse")
    raise ValueError(f"problem_type must be 'single-label', 'multi-label' or 'regression', not {problem_type!r}")


def default_metrics(
    problem_type: str, predictions: PredictionsLike, references: npt.ArrayLike, num_labels: int, positive: int = 1
) -> dict[str, float]:
    """The default metrics of a problem type (see `default_metric_names`), from a `taskrun.Predictions`
    (`label_ids` for classification, `values` for regression) and the reference labels; with two
    labels, `f1` is that of label id `positive`."""
    names = default_metric_names(problem_type, num_labels)
    predicted = predictions.values if problem_type == "regression" else predictions.label_ids
    if predicted is None:
        field = "values" if problem_type == "regression" else "label_ids"
        raise ValueError(f"{problem_type} metrics need predictions.{field}, which is None")
    return {
        name: f1(predicted, references, pos_label=positive)
        if name == "f1"
        else DEFAULT_METRICS[name](predicted, references)
        for name in names
    }


# ---------------------------------------------------------------------------------------------
# Deprecated: the former evaluate.Metric classes, until taskrun 0.3


class _DeprecatedMetric:
    """`.compute(predictions=..., references=..., **kwargs)` as `evaluate.Metric` had it (also after
    `.add`/`.add_batch`), on the functions above."""

    _replacement = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            f"taskrun.metrics.{type(self).__name__} is deprecated and will be removed in taskrun 0.3; "
            f"call {self._replacement}",
            DeprecationWarning,
            stacklevel=2,
        )
        self._predictions: list[Any] = []
        self._references: list[Any] = []

    def add(self, *, prediction: Any = None, reference: Any = None) -> None:
        self._predictions.append(prediction)
        self._references.append(reference)

    def add_batch(self, *, predictions: Any = None, references: Any = None) -> None:
        self._predictions.extend(predictions)
        self._references.extend(references)

    def compute(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> dict[str, float]:
        if predictions is None and references is None:
            predictions, references = self._predictions, self._references
            self._predictions, self._references = [], []
        return self._compute(predictions, references, **kwargs)

    def _compute(self, predictions: Any, references: Any, **kwargs: Any) -> dict[str, float]:
        raise NotImplementedError


class Accuracy(_DeprecatedMetric):
    """Deprecated: use `accuracy`. `.compute(...)` returns {"accuracy": ...}."""

    _replacement = "taskrun.metrics.accuracy(predictions, references)"

    def _compute(self, predictions: Any, references: Any, **kwargs: Any) -> dict[str, float]:
        return {"accuracy": accuracy(predictions, references)}


class F1(_DeprecatedMetric):
    """Deprecated: use `f1`. `.compute(..., average="binary", pos_label=1)` returns {"f1": ...}."""

    _replacement = "taskrun.metrics.f1(predictions, references, average=..., pos_label=...)"

    def _compute(
        self, predictions: Any, references: Any, average: str = "binary", pos_label: int = 1, **kwargs: Any
    ) -> dict[str, float]:
        return {"f1": f1(predictions, references, average=average, pos_label=pos_label)}


class MultiLabelF1(_DeprecatedMetric):
    """Deprecated: use `micro_f1` and `macro_f1`. `.compute(...)` returns {"micro_f1", "macro_f1"}."""

    _replacement = "taskrun.metrics.micro_f1(predictions, references) and taskrun.metrics.macro_f1(...)"

    def _compute(self, predictions: Any, references: Any, **kwargs: Any) -> dict[str, float]:
        return {"micro_f1": micro_f1(predictions, references), "macro_f1": macro_f1(predictions, references)}


class RegressionScores(_DeprecatedMetric):
    """Deprecated: use `pearson`, `spearman`, `mse` and `rmse`. `.compute(...)` returns those four."""

    _replacement = "taskrun.metrics.pearson, spearman, mse and rmse (each as f(predictions, references))"

    def _compute(self, predictions: Any, references: Any, **kwargs: Any) -> dict[str, float]:
        return {name: DEFAULT_METRICS[name](predictions, references) for name in ("pearson", "spearman", "mse", "rmse")}
