"""taskrun.metrics against scikit-learn and scipy, on random inputs and on the edge cases: one
class only, classes never predicted, constant regression sides, ties."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sklearn.metrics as skm
from scipy import stats
from taskrun import Predictions, metrics

TOL = 1e-9
SEEDS = [0, 1, 2, 3]
SIZES = [1, 2, 7, 50, 400]
# sklearn's note that a confusion matrix of one label has shape (1, 1): expected here.
pytestmark = pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")


def close(actual, expected) -> bool:
    return type(actual) is float and actual == pytest.approx(float(expected), abs=TOL, rel=TOL)


def class_cases():
    """(predictions, references, num_classes) of class ids: random, and the edge cases."""
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        for n in SIZES:
            for k in (2, 3, 5, 10):
                yield rng.integers(0, k, n), rng.integers(0, k, n), k
                # Mostly right, so scores are not all near chance.
                r = rng.integers(0, k, n)
                p = np.where(rng.random(n) < 0.7, r, rng.integers(0, k, n))
                yield p, r, k
    yield np.zeros(6, int), np.zeros(6, int), 1  # one class only, all right
    yield np.ones(6, int), np.ones(6, int), 2  # only the positive class
    yield np.zeros(6, int), np.array([0, 1, 2, 0, 1, 2]), 3  # classes 1 and 2 never predicted
    yield np.array([0, 1, 2, 0, 1, 2]), np.zeros(6, int), 3  # references of one class
    yield np.array([3, 3, 1, 1]), np.array([1, 1, 3, 3]), 4  # all wrong, ids with gaps
    yield np.array([0, 1, 1, 0]), np.array([0.0, 1.0, 1.0, 1.0]), 2  # float references


CLASS_CASES = list(class_cases())
CLASS_IDS = [f"{i}-n{len(c[0])}-k{c[2]}" for i, c in enumerate(CLASS_CASES)]


@pytest.mark.parametrize("p,r,k", CLASS_CASES, ids=CLASS_IDS)
def test_single_label_against_sklearn(p, r, k):
    ri = np.asarray(r).round().astype(int)
    assert close(metrics.accuracy(p, r), skm.accuracy_score(ri, p))
    assert close(metrics.f1(p, r, average="macro"), skm.f1_score(ri, p, average="macro", zero_division=0))
    assert close(metrics.f1(p, r, average="micro"), skm.f1_score(ri, p, average="micro", zero_division=0))
    assert close(metrics.macro_f1(p, r), skm.f1_score(ri, p, average="macro", zero_division=0))
    assert close(metrics.micro_f1(p, r), skm.f1_score(ri, p, average="micro", zero_division=0))
    assert close(metrics.matthews_correlation(p, r), skm.matthews_corrcoef(ri, p))
    assert close(metrics.exact_match(p, r), skm.accuracy_score(ri, p))
    for pos_label in sorted({0, 1, k - 1}):
        # sklearn's "binary" takes two classes; the one-vs-rest F1 of pos_label is the same thing.
        expected = skm.f1_score(ri, p, labels=[pos_label], average=None, zero_division=0)[0]
        assert close(metrics.f1(p, r, pos_label=pos_label), expected)
        present = set(np.union1d(p, ri).tolist())
        if len(present) < 2 or (len(present) == 2 and pos_label in present):  # what sklearn accepts as binary
            assert close(
                metrics.f1(p, r, pos_label=pos_label), skm.f1_score(ri, p, pos_label=pos_label, zero_division=0)
            )


def test_sparse_and_negative_class_ids():
    """Ids far apart (counted through np.unique rather than directly) give the same scores."""
    rng = np.random.default_rng(5)
    ids = np.array([-7, 3, 10**9, 2**40])
    for n in (5, 50, 500):
        r, p = ids[rng.integers(0, 4, n)], ids[rng.integers(0, 4, n)]
        assert close(metrics.f1(p, r, average="macro"), skm.f1_score(r, p, average="macro", zero_division=0))
        assert close(metrics.f1(p, r, average="micro"), skm.f1_score(r, p, average="micro", zero_division=0))
        assert close(
            metrics.f1(p, r, pos_label=10**9), skm.f1_score(r, p, labels=[10**9], average=None, zero_division=0)[0]
        )
        assert close(metrics.matthews_correlation(p, r), skm.matthews_corrcoef(r, p))


def label_matrix_cases():
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        for n in SIZES:
            for k in (2, 3, 8):
                yield rng.integers(0, 2, (n, k)), rng.integers(0, 2, (n, k))
                r = (rng.random((n, k)) < 0.2).astype(int)  # sparse, some labels never true
                p = np.where(rng.random((n, k)) < 0.8, r, 1 - r)
                p[:, 0] = 0  # a label never predicted
                yield p, r.astype(float)  # references as float 0.0/1.0
    yield np.zeros((5, 3), int), np.zeros((5, 3), int)  # nothing predicted, nothing true
    yield np.ones((5, 3), int), np.zeros((5, 3), int)
    yield np.zeros((5, 3), int), np.ones((5, 3), float)
    yield np.eye(4, dtype=int), np.eye(4, dtype=int)


MATRIX_CASES = list(label_matrix_cases())


@pytest.mark.parametrize("p,r", MATRIX_CASES, ids=[f"{i}-{c[0].shape}" for i, c in enumerate(MATRIX_CASES)])
def test_multi_label_against_sklearn(p, r):
    ri = np.asarray(r).round().astype(int)
    assert close(metrics.micro_f1(p, r), skm.f1_score(ri, p, average="micro", zero_division=0))
    assert close(metrics.macro_f1(p, r), skm.f1_score(ri, p, average="macro", zero_division=0))
    assert close(metrics.exact_match(p, r), skm.accuracy_score(ri, p))
    assert close(metrics.accuracy(p, r), skm.accuracy_score(ri, p))


def regression_cases():
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        for n in SIZES[1:]:
            r = rng.normal(size=n)
            yield rng.normal(size=n), r
            yield r + 0.3 * rng.normal(size=n), r
            yield np.round(rng.normal(size=n)), np.round(r * 2) / 2  # many ties
            yield rng.integers(0, 3, n).astype(float), rng.integers(0, 3, n)  # int references, ties
            yield (1e6 + rng.normal(size=n)).reshape(-1, 1), r  # (n, 1) predictions, large offset
    yield np.array([1.0, 2.0, 2.0, 3.0, 3.0, 3.0]), np.array([3.0, 1.0, 2.0, 2.0, 3.0, 1.0])
    yield np.array([5.0, 4.0, 3.0, 2.0]), np.array([1.0, 2.0, 3.0, 4.0])  # perfectly anti-correlated


REGRESSION_CASES = list(regression_cases())


@pytest.mark.parametrize("p,r", REGRESSION_CASES, ids=[f"{i}-n{len(c[0])}" for i, c in enumerate(REGRESSION_CASES)])
def test_regression_against_scipy_and_sklearn(p, r):
    pf, rf = np.asarray(p, float).reshape(-1), np.asarray(r, float).reshape(-1)
    constant = np.all(pf == pf[0]) or np.all(rf == rf[0])
    assert close(metrics.pearson(p, r), 0.0 if constant else stats.pearsonr(pf, rf).statistic)
    assert close(metrics.spearman(p, r), 0.0 if constant else stats.spearmanr(pf, rf).statistic)
    assert close(metrics.mse(p, r), skm.mean_squared_error(rf, pf))
    assert close(metrics.rmse(p, r), skm.root_mean_squared_error(rf, pf))
    assert close(metrics.pearson(r, p), metrics.pearson(p, r))  # symmetric


@pytest.mark.parametrize(
    "p,r",
    [
        (np.full(5, 2.5), np.arange(5.0)),  # constant predictions
        (np.arange(5.0), np.full(5, 0.1)),  # constant references (0.1: its mean is not exactly 0.1)
        (np.full((3, 1), 7.0), np.full(3, 7.0)),
        (np.array([4.0]), np.array([3.0])),  # one example
    ],
)
def test_correlation_of_a_constant_side_is_zero(p, r):
    assert metrics.pearson(p, r) == 0.0
    assert metrics.spearman(p, r) == 0.0
    assert close(metrics.mse(p, r), np.mean((np.reshape(p, -1) - np.reshape(r, -1)) ** 2))


def test_nan_predictions_give_nan_correlations():
    p, r = np.array([1.0, np.nan, 3.0]), np.array([1.0, 2.0, 3.0])
    assert np.isnan(metrics.pearson(p, r)) and np.isnan(metrics.spearman(p, r)) and np.isnan(metrics.mse(p, r))


@pytest.mark.parametrize("p,r,k", CLASS_CASES[::7], ids=CLASS_IDS[::7])
def test_per_class_report_against_sklearn(p, r, k):
    names = [f"c{i}" for i in range(max(k, int(np.max(p)) + 1, int(np.max(r)) + 1))]
    report = metrics.per_class_report(p, r, names)
    ri = np.asarray(r).round().astype(int)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        ri, p, labels=list(range(len(names))), average=None, zero_division=0
    )
    assert list(report) == names
    for i, name in enumerate(names):
        assert report[name]["precision"] == pytest.approx(precision[i], abs=TOL)
        assert report[name]["recall"] == pytest.approx(recall[i], abs=TOL)
        assert report[name]["f1"] == pytest.approx(f1[i], abs=TOL)
        assert report[name]["support"] == support[i]


def test_per_class_report_format_is_unchanged():
    single = metrics.per_class_report(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), ["a", "b", "c"])
    assert single == {
        "a": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "b": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1},
        "c": {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2},
    }
    assert all(type(v["support"]) is int and type(v["precision"]) is float for v in single.values())
    multi = metrics.per_class_report(np.array([[1, 0], [1, 1]]), np.array([[1, 0], [0, 0]]), ["x", "y"])
    assert multi == {
        "x": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1},
        "y": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
    }


# --- defaults by problem type ----------------------------------------------------------------


def test_default_metrics_single_label_two_labels():
    rng = np.random.default_rng(7)
    r, p = rng.integers(0, 2, 60), rng.integers(0, 2, 60)
    scores = metrics.default_metrics("single-label", Predictions(label_ids=p), r.astype(float), num_labels=2)
    assert (
        tuple(scores) == metrics.default_metric_names("single-label", 2) == ("accuracy", "f1", "matthews_correlation")
    )
    assert close(scores["accuracy"], skm.accuracy_score(r, p))
    assert close(scores["f1"], skm.f1_score(r, p, zero_division=0))
    assert close(scores["matthews_correlation"], skm.matthews_corrcoef(r, p))


def test_default_metrics_single_label_many_labels():
    rng = np.random.default_rng(8)
    r, p = rng.integers(0, 4, 60), rng.integers(0, 4, 60)
    scores = metrics.default_metrics("single-label", Predictions(label_ids=p), r, num_labels=4)
    assert (
        tuple(scores)
        == metrics.default_metric_names("single-label", 4)
        == ("accuracy", "macro_f1", "matthews_correlation")
    )
    assert close(scores["accuracy"], skm.accuracy_score(r, p))
    assert close(scores["macro_f1"], skm.f1_score(r, p, average="macro", zero_division=0))
    assert close(scores["matthews_correlation"], skm.matthews_corrcoef(r, p))


def test_default_metrics_multi_label():
    rng = np.random.default_rng(9)
    r, p = rng.integers(0, 2, (40, 5)), rng.integers(0, 2, (40, 5))
    scores = metrics.default_metrics("multi-label", Predictions(label_ids=p), r.astype(np.float32), num_labels=5)
    assert tuple(scores) == metrics.default_metric_names("multi-label", 5) == ("micro_f1", "macro_f1", "exact_match")
    assert close(scores["micro_f1"], skm.f1_score(r, p, average="micro", zero_division=0))
    assert close(scores["macro_f1"], skm.f1_score(r, p, average="macro", zero_division=0))
    assert close(scores["exact_match"], skm.accuracy_score(r, p))


def test_default_metrics_regression():
    rng = np.random.default_rng(10)
    r = rng.normal(size=30)
    p = (r + rng.normal(size=30)).astype(np.float32).reshape(-1, 1)  # as a regression head gives it
    scores = metrics.default_metrics("regression", Predictions(values=p), r, num_labels=1)
    assert tuple(scores) == metrics.default_metric_names("regression", 1) == ("pearson", "spearman", "mse", "rmse")
    pf = p.reshape(-1).astype(float)
    assert close(scores["pearson"], stats.pearsonr(pf, r).statistic)
    assert close(scores["spearman"], stats.spearmanr(pf, r).statistic)
    assert close(scores["mse"], skm.mean_squared_error(r, pf))
    assert close(scores["rmse"], skm.root_mean_squared_error(r, pf))


def test_default_metrics_rejects_unknown_problem_and_missing_predictions():
    with pytest.raises(ValueError, match="problem_type"):
        metrics.default_metric_names("ranking", 2)
    with pytest.raises(ValueError, match="predictions.values"):
        metrics.default_metrics("regression", Predictions(label_ids=np.zeros(3, int)), np.zeros(3), 1)


def test_every_default_metric_has_a_function():
    for problem, k in [("single-label", 2), ("single-label", 3), ("multi-label", 4), ("regression", 1)]:
        assert set(metrics.default_metric_names(problem, k)) <= set(metrics.DEFAULT_METRICS)


# --- input checks ----------------------------------------------------------------------------


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="shape"):
        metrics.accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="no predictions"):
        metrics.f1([], [])
    with pytest.raises(ValueError, match="average"):
        metrics.f1([0, 1], [0, 1], average="weighted")
    with pytest.raises(ValueError, match="micro_f1 or macro_f1"):
        metrics.f1(np.eye(3, dtype=int), np.eye(3, dtype=int))
    with pytest.raises(ValueError, match="shape"):
        metrics.pearson(np.zeros((3, 2)), np.zeros((3, 2)))


def test_results_are_python_floats():
    p, r = np.array([0, 1, 1], dtype=np.int32), np.array([0, 1, 0], dtype=np.int64)
    for function in (metrics.accuracy, metrics.f1, metrics.macro_f1, metrics.micro_f1, metrics.matthews_correlation):
        assert type(function(p, r)) is float
    m = np.array([[0, 1], [1, 1]])
    for function in (metrics.micro_f1, metrics.macro_f1, metrics.exact_match):
        assert type(function(m, m.astype(float))) is float
    v = np.array([0.5, 1.5, 1.0], dtype=np.float32)
    for function in (metrics.pearson, metrics.spearman, metrics.mse, metrics.rmse):
        assert type(function(v, r)) is float


# --- deprecated shims ------------------------------------------------------------------------


def test_deprecated_shims_warn_and_return_the_old_dicts():
    p, r = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])
    with pytest.warns(
        DeprecationWarning, match=r"taskrun\.metrics\.Accuracy is deprecated .* taskrun 0\.3.*accuracy\("
    ):
        accuracy = metrics.Accuracy()
    assert accuracy.compute(predictions=p, references=r) == {"accuracy": 0.75}

    with pytest.warns(DeprecationWarning, match=r"taskrun\.metrics\.f1\("):
        f1 = metrics.F1()
    assert f1.compute(predictions=p, references=r) == {"f1": pytest.approx(2 / 3)}
    assert f1.compute(predictions=p, references=r, average="binary", pos_label=0) == {"f1": pytest.approx(0.8)}
    assert f1.compute(predictions=p, references=r, average="macro") == {"f1": pytest.approx((2 / 3 + 0.8) / 2)}

    m, mr = np.array([[1, 0], [1, 1]]), np.array([[1, 0], [0, 1]])
    with pytest.warns(DeprecationWarning, match=r"micro_f1.*macro_f1"):
        multi = metrics.MultiLabelF1()
    assert multi.compute(predictions=m, references=mr) == {
        "micro_f1": pytest.approx(0.8),
        "macro_f1": pytest.approx((2 / 3 + 1.0) / 2),
    }

    with pytest.warns(DeprecationWarning, match=r"pearson, spearman, mse and rmse"):
        regression = metrics.RegressionScores()
    v, vr = [1.0, 2.0, 4.0], [1.0, 3.0, 2.0]
    assert regression.compute(predictions=v, references=vr) == {
        "pearson": pytest.approx(stats.pearsonr(v, vr).statistic),
        "spearman": pytest.approx(0.5),
        "mse": pytest.approx(5 / 3),
        "rmse": pytest.approx((5 / 3) ** 0.5),
    }


def test_each_construction_warns():
    for _ in range(2):
        with pytest.warns(DeprecationWarning):
            metrics.Accuracy()


def test_deprecated_shims_accumulate_batches_as_evaluate_did():
    with pytest.warns(DeprecationWarning):
        accuracy = metrics.Accuracy()
    accuracy.add_batch(predictions=[0, 1], references=[0, 0])
    accuracy.add(prediction=1, reference=1)
    assert accuracy.compute() == {"accuracy": pytest.approx(2 / 3)}


@pytest.mark.slow  # starts python
def test_import_does_not_load_heavy_libraries():
    heavy = ["evaluate", "datasets", "torch", "sklearn", "scipy", "transformers"]
    code = f"import sys, taskrun.metrics; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
