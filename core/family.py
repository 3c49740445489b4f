"""Families of tasks: everything that depends on a task's shape, in one object per shape.

A task's shape (one label per text, a tag per word, a choice among answers) decides its default
preprocessing, collator, model class, what post-processing returns, its default metrics and
per-class figures, its class-weighted loss, what `taskrun predict` reads and writes, and what the
model card says. A `Family` holds all of those defaults, so the runner, `predict`, `eval`,
`compare` and the run record stay shape-free. A task names its family (`TaskSpec.family`): a
built-in one by name (`"sequence-classification"`, `"token-classification"`) or a `Family`
instance that a plugin package defines (see examples/taskrun-multiple-choice).

The stage hooks of a task (`taskrun_preprocess`, ...) fall back to its family's methods of the
same name when no plugin answers; a plugin may call them and adjust their result. A family is
stateless: one instance serves every run.

This module imports no heavy library at import time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable

from .errors import PluginError
from .task import Predictions, RunConfig, TaskSpec

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

__all__ = [
    "Family",
    "PredictRows",
    "load_head",
    "dropout_settings",
    "balanced_cross_entropy",
    "softmax",
    "confusion_matrix",
    "pad_stack",
    "token_count",
]

# The built-in families by name: module and class, imported when first used.
BUILTIN_FAMILIES = {
    "sequence-classification": ("taskrun.sequence_classification", "SequenceClassification"),
    "token-classification": ("taskrun.token_classification", "TokenClassification"),
}
_loaded: dict[str, Family] = {}


class PredictRows:
    """What `taskrun predict` works on: the caller's rows (kept in the output), where each came
    from ("line 3", "argument 2": for messages), and the examples in the shape of the task's data
    (columns its preprocessing reads), one per row. `skipped` holds the rows that have nothing to
    predict (an empty text): they are kept in the output, without an answer."""

    def __init__(self, rows: list[dict[str, Any]], origin: list[str], examples: dict[str, list[Any]]):
        self.rows, self.origin, self.examples = rows, origin, examples
        self.skipped: list[int] = []


class Family:
    """The defaults of every task of one shape. Subclass it to add a family: set the class
    attributes and override the methods whose defaults do not fit. Each method receives what it
    needs as arguments; none keeps state.

    Class attributes:
    - `name`: how tasks and run folders name the family (`run_config.json`'s `family`).
    - `auto_model`: the `transformers` Auto class a run trains and is loaded as again.
    - `pipeline_tag`: the `transformers.pipeline` task that reads a run folder, and the card's tag.
    - `problem_types`: the problems a task of this family may solve (the first is the default).
    """

    name: str = ""
    auto_model: str = ""
    pipeline_tag: str = ""
    problem_types: tuple[str, ...] = ("single-label",)

    # -- data ------------------------------------------------------------------------------------

    def label_names(self, task: TaskSpec, dataset: Any) -> list[str]:
        """The label names of the training split (a `ClassLabel`, or a sequence of one)."""
        from .splits import label_names_of

        return label_names_of(task, dataset)

    def check_options(self, task: TaskSpec, config: RunConfig) -> None:
        """Refuse settings this family cannot honour, before any data is read (UsageError)."""

    def class_counts(self, task: TaskSpec, train: Any, label_names: list[str]) -> list[int]:
        """How often each label occurs in training (the class weights and the imbalance warning)."""
        from .splits import class_counts

        return class_counts(task, train, label_names)

    def check_classes(self, task: TaskSpec, counts: list[int], label_names: list[str]) -> None:
        """An error for training data that cannot train this family; warnings for odd data."""
        from .splits import check_classes

        check_classes(task, counts, label_names)

    def align_labels(
        self, tokenized: Any, dataset: Any, task: TaskSpec, label_names: list[str]
    ) -> tuple[Any, dict[str, int]]:
        """Each split's `labels` as the model's label ids, matched by name; how many rows of each
        split have a label the model does not have."""
        return tokenized, {}

    # -- the stages (the defaults of the stage hooks) ------------------------------------------

    def preprocess(self, task: TaskSpec, config: RunConfig, dataset: Any, tokenizer: Any) -> Any:
        """Tokenise every split of `dataset`; keep `labels`; mark truncated examples in a boolean
        column `truncated`. A split without the label column is one to predict."""
        raise NotImplementedError(f"family {self.name!r} has no default preprocessing")

    def data_collator(self, task: TaskSpec, config: RunConfig, tokenizer: Any) -> Callable[..., Any]:
        """The collator that turns examples into padded batches."""
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def model(self, task: TaskSpec, config: RunConfig, label_names: list[str]) -> Any:
        """`auto_model` loaded from `config.model_path` with a fresh head named by `label_names`."""
        return load_head(self.auto_model, config, label_names)

    def loss(self, task: TaskSpec, config: RunConfig, label_counts: list[int]) -> Callable[..., Any] | None:
        """Trainer's `compute_loss_func`, or None for the model's own loss. With
        `--class-weights balanced`: cross-entropy weighted by inverse label frequency."""
        if config.class_weights == "balanced":
            return balanced_cross_entropy(label_counts)
        return None

    def postprocess(
        self,
        task: TaskSpec,
        config: RunConfig,
        logits: np.ndarray,
        inputs: list[dict[str, Any]] | None = None,
        label_names: list[str] | None = None,
    ) -> Predictions:
        """Turn logits into `Predictions`. `inputs` (predict only): each row's features and its
        example's columns; `label_names`: the model's labels by id."""
        raise NotImplementedError(f"family {self.name!r} has no default post-processing")

    # -- scoring ----------------------------------------------------------------------------------

    def metric_names(self, task: TaskSpec, num_labels: int) -> tuple[str, ...]:
        """The names `metrics` reports, known before a run."""
        return ()

    def metrics(
        self, task: TaskSpec, predictions: Predictions, references: np.ndarray, label_names: list[str]
    ) -> dict[str, float]:
        """The family's default metrics of `predictions` against the reference `labels`."""
        return {}

    def evaluate_inputs(
        self, task: TaskSpec, predictions: Predictions, references: np.ndarray, label_names: list[str]
    ) -> tuple[list[Any], list[Any]]:
        """The `predictions` and `references` an `evaluate` metric module computes on (named by
        `--evaluate-metric` or `TaskSpec.evaluate_metrics`), as lists: by default the predicted
        `label_ids` (else `values`) and the references as they are."""
        import numpy as np

        predicted = predictions.values if predictions.label_ids is None else predictions.label_ids
        return np.asarray(predicted).tolist(), np.asarray(references).tolist()

    def class_figures(
        self, task: TaskSpec, predictions: Predictions, references: np.ndarray, label_names: list[str]
    ) -> dict[str, Any]:
        """metrics.json's per-class table (`per_class`) and `confusion_matrix`, where they apply."""
        return {}

    def positive_label(self, task: TaskSpec, label_names: list[str]) -> str | None:
        """The label whose F1 the metric `f1` is, where this family's metrics single one out
        (`task.positive_label` holds the task's or the user's choice); None where they do not."""
        return None

    def metric_order(self, task: TaskSpec, names: list[str]) -> list[str]:
        """`names` with the metric that should lead first: the primary metric of a task that names
        none (it picks the best checkpoint and heads the summary)."""
        return names

    def collapse(
        self, task: TaskSpec, predictions: Predictions, references: np.ndarray, label_names: list[str]
    ) -> str | None:
        """A sentence when the model gives every validation example the same answer (one class,
        one value): a model that learned nothing, whatever its accuracy says; else None."""
        return None

    def pictures(self, evaluation: dict[str, Any]) -> list[str]:
        """The PNG files a run draws, from its final evaluation."""
        return (["confusion_matrix.png"] if "confusion_matrix" in evaluation else []) + ["training_curves.png"]

    # what becomes of the examples whose label the model does not have, said when `eval` meets them
    unseen_labels_note = "their rows count as errors"
    sort_eval = True  # eval may batch texts of similar length together in fp32 (its loss does not depend on it)

    def eval_references(
        self,
        task: TaskSpec,
        split: str,
        data: Any,
        features: Any,
        data_labels: list[str],
        model_labels: list[str],
        run: Any,
    ) -> tuple[Any, np.ndarray]:
        """`taskrun eval`'s features and the reference labels they are scored against, as the
        model's label ids (by name): `align_labels` on the split, its `labels` stacked (padded with
        -100 where their lengths differ). `data`: the split's examples; `run`: the loaded run."""
        import numpy as np
        from datasets import DatasetDict

        aligned, _ = self.align_labels(DatasetDict({split: features}), DatasetDict({split: data}), task, model_labels)
        features = aligned[split]
        return features, pad_stack([np.asarray(labels) for labels in features["labels"]])

    def eval_loss(
        self, task: TaskSpec, logits: np.ndarray, references: np.ndarray, model_loss: float | None
    ) -> float | None:
        """`taskrun eval`'s loss: by default the model's own loss, averaged as Trainer does."""
        return model_loss

    # -- a finished run -------------------------------------------------------------------------

    def predict_texts(self, texts: list[str], run: Any, where: str) -> PredictRows:
        """Rows to predict from texts typed on the command line or standard input (`where`:
        "argument" or "line", for messages). `run`: the loaded run (`record`, `tokenizer`, ...)."""
        raise NotImplementedError(f"family {self.name!r} cannot predict from texts")

    def predict_file(self, path: Path, run: Any, options: dict[str, Any]) -> PredictRows:
        """Rows to predict from a file (`--input`); `options`: predict's `text_column`,
        `text_pair_column`, `format` and `encoding`."""
        raise NotImplementedError(f"family {self.name!r} cannot predict from files")

    def answers(
        self, predictions: Predictions, rows: PredictRows, label_names: list[str], all_scores: bool
    ) -> list[dict[str, Any]]:
        """One dict of answer columns per predicted row, in order (the rows not skipped)."""
        raise NotImplementedError(f"family {self.name!r} has no predict output")

    def output_rows(self, rows: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
        """The rows `--output` writes for a file of this suffix (".csv", ".jsonl", ...)."""
        return rows

    def output_columns(self, suffix: str) -> list[str]:
        """The columns a CSV or TSV `--output` always has, first and in this order, even when
        `output_rows` gives no row (a header a reader can rely on); others follow as found."""
        return []

    def table(self, rows: list[dict[str, Any]], texts: list[str]) -> tuple[list[str], list[list[str]]]:
        """predict's console table: a header and the rows, from the answered rows."""
        raise NotImplementedError

    def card_usage(self, run_dir: str, text_inputs: list[str]) -> tuple[str, str]:
        """The card's example: Python lines with `pipeline`, and a `taskrun predict` command."""
        return (
            f'predictor = pipeline("{self.pipeline_tag}", model="{run_dir}")',
            f'taskrun predict {run_dir} "some text"',
        )


def family_of(task: TaskSpec) -> Family:
    """The family of `task`: its `Family` object, or the built-in family it names."""
    family = task.family
    if isinstance(family, Family):
        return family
    return family_named(str(family), f"task {task.name!r}")


def family_named(name: str, where: str) -> Family:
    """The built-in family called `name`."""
    if name not in BUILTIN_FAMILIES:
        raise PluginError(
            f"{where}: unknown family {name!r}; the built-in families are {', '.join(BUILTIN_FAMILIES)} "
            "(a plugin passes its own as a taskrun.Family instance)."
        )
    if name not in _loaded:
        module, cls = BUILTIN_FAMILIES[name]
        _loaded[name] = getattr(importlib.import_module(module), cls)()
    return _loaded[name]


# -- toolkit: pieces more than one family uses ----------------------------------------------------


def load_head(auto_model: str, config: RunConfig, label_names: list[str], **kwargs: Any) -> Any:
    """`transformers.<auto_model>.from_pretrained(config.model_path)` with a fresh head sized and
    named for `label_names` (when given), the run's dropout, and no "newly initialised" notice."""
    import transformers
    from transformers.utils import logging as hf_logging

    from .models import load_pretrained

    if label_names:
        kwargs.update(
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
        )
    if config.dropout is not None:
        kwargs.update(dropout_settings(str(config.model_path), config.dropout))
    auto = getattr(transformers, auto_model)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized head, you should train it": we will
    try:
        return load_pretrained(
            lambda path: auto.from_pretrained(path, **kwargs), str(config.model_path), f"model {config.model!r}"
        )
    finally:
        hf_logging.set_verbosity(verbosity)


def dropout_settings(model_path: str, probability: float) -> dict[str, float]:
    """Every dropout probability in the model's config (`hidden_dropout_prob`, `attention_dropout`,
    ...), set to `probability`; names differ between architectures, so they are read, not assumed."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_path).to_dict()
    return {
        key: probability
        for key, value in config.items()
        if "dropout" in key and isinstance(value, float) and not isinstance(value, bool)
    }


def balanced_cross_entropy(counts: list[int]) -> Callable[..., Any]:
    """A `compute_loss_func`: cross-entropy over the last axis of the logits, weighted by
    n / (classes * count) as scikit-learn's class_weight="balanced" does, so that every class
    weighs the same in total; positions labelled -100 are ignored (a token task's padding and
    continuation pieces, a label the model does not have)."""
    import torch

    total, classes = sum(counts), sum(1 for n in counts if n)
    weights = torch.tensor([total / (classes * n) if n else 0.0 for n in counts], dtype=torch.float32)

    def loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        flat_logits, flat_labels = logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1)
        summed = torch.nn.functional.cross_entropy(
            flat_logits, flat_labels, weight=weights.to(logits.device), reduction="sum"
        )
        counted = num_items_in_batch if num_items_in_batch is not None else (flat_labels != -100).sum().clamp(min=1)
        return summed / counted

    return loss


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis, computed stably in float64."""
    import numpy as np

    values = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def confusion_matrix(true_ids: Any, predicted_ids: Any, label_names: list[str]) -> dict[str, Any]:
    """metrics.json's confusion matrix: rows the true label, columns the predicted one."""
    import numpy as np

    matrix = np.zeros((len(label_names), len(label_names)), dtype=int)
    np.add.at(matrix, (np.asarray(true_ids, dtype=int), np.asarray(predicted_ids, dtype=int)), 1)
    return {"labels": list(label_names), "rows_true_columns_predicted": matrix.tolist()}


def pad_stack(arrays: list[np.ndarray]) -> np.ndarray:
    """One array of per-example arrays: stacked, or (different lengths) padded with -100."""
    import numpy as np

    if not arrays:
        return np.zeros((0, 0), dtype=np.float32)
    if len({a.shape for a in arrays}) == 1:
        return np.stack(arrays)
    longest = max(a.shape[0] for a in arrays)
    out = np.full((len(arrays), longest, *arrays[0].shape[1:]), -100, dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
    return out


def token_count(ids: Any) -> int:
    """Tokens in an example's input_ids (a list, or one list per choice)."""
    return sum(len(part) for part in ids) if ids and isinstance(ids[0], list) else len(ids)
