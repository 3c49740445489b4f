"""The sequence-classification family: one answer per text (or pair of texts).

Three problems: single-label (a class per text: softmax, argmax), multi-label (a set of classes:
sigmoid and a threshold), regression (one number). `AutoModelForSequenceClassification`,
dynamic padding, `pipeline("text-classification")`. The family of mrpc, sentiment and custom-csv,
and of any task that names no family.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .data import class_names
from .errors import DataError, UsageError
from .family import Family, PredictRows, confusion_matrix, softmax
from .splits import UNSEEN, ids_by_name
from .task import Predictions, RunConfig, TaskSpec
from .tokenization import encode

__all__ = ["SequenceClassification", "PAIR_SEPARATOR"]

HF_PROBLEM_TYPES = {
    "single-label": "single_label_classification",
    "multi-label": "multi_label_classification",
    "regression": "regression",
}
PAIR_SEPARATOR = "\t"


class SequenceClassification(Family):
    """A label, a set of labels or a number for each text or pair of texts."""

    name = "sequence-classification"
    auto_model = "AutoModelForSequenceClassification"
    pipeline_tag = "text-classification"
    problem_types = ("single-label", "multi-label", "regression")

    def check_options(self, task: TaskSpec, config: RunConfig) -> None:
        if config.class_weights and config.problem_type != "single-label":
            raise UsageError(f"--class-weights applies to single-label classification, not {config.problem_type}.")

    def align_labels(self, tokenized, dataset, task, label_names):
        from .splits import align_labels

        return align_labels(tokenized, dataset, task, label_names)

    def preprocess(self, task, config, dataset, tokenizer):
        """Encode the task's text column (or pair of columns), truncated, unpadded; keep `labels`.

        The second of `task.text_columns` is optional: it is encoded as the pair where a split
        has it. A boolean column `truncated` marks the examples cut to `config.max_length`.
        Multi-label label lists become multi-hot vectors over the training labels.
        """
        encoded = {}
        model_labels = class_names(dataset["train"].features.get(task.label_column)) if "train" in dataset else []
        for split, data in dataset.items():
            columns = list(task.text_columns[:1]) + [c for c in task.text_columns[1:] if c in data.column_names]
            # Multi-hot over the model's (training) labels; ids past them, labels training never saw, are left out.
            num_labels = len(model_labels or class_names(data.features.get(task.label_column)))
            multi_hot = config.problem_type == "multi-label" and task.label_column in data.column_names

            def encode_batch(batch, columns=columns, num_labels=num_labels, multi_hot=multi_hot):
                pairs = batch[columns[1]] if len(columns) == 2 else None
                out, out["truncated"] = encode(tokenizer, batch[columns[0]], pairs, config.max_length)
                if multi_hot:
                    out["labels"] = [
                        [1.0 if i in ids else 0.0 for i in range(num_labels)] for ids in batch[task.label_column]
                    ]
                return out

            drop = [c for c in data.column_names if c != task.label_column or multi_hot]
            data = data.map(encode_batch, batched=True, remove_columns=drop, desc=f"Tokenising {split}")
            if task.label_column in data.column_names and task.label_column != "labels":
                data = data.rename_column(task.label_column, "labels")
            encoded[split] = data
        return type(dataset)(encoded)

    def model(self, task, config, label_names):
        """`AutoModelForSequenceClassification` with the head `config.problem_type` calls for."""
        from .family import load_head

        kwargs: dict[str, Any] = {"problem_type": HF_PROBLEM_TYPES[str(config.problem_type)]}
        if config.problem_type == "regression":
            kwargs.update(num_labels=1, id2label={0: "value"}, label2id={"value": 0})
        return load_head(self.auto_model, config, label_names if config.problem_type != "regression" else [], **kwargs)

    def postprocess(self, task, config, logits, inputs=None, label_names=None):
        """Softmax + argmax (single-label), sigmoid + threshold (multi-label), value (regression)."""
        logits = np.asarray(logits, dtype=np.float64)
        if config.problem_type == "regression":
            return Predictions(values=logits.reshape(len(logits), -1)[:, 0])
        if config.problem_type == "multi-label":
            scores = 1.0 / (1.0 + np.exp(-logits))
            return Predictions(label_ids=(scores >= config.threshold).astype(np.int64), scores=scores)
        scores = softmax(logits)
        return Predictions(label_ids=scores.argmax(axis=-1), scores=scores)

    # -- scoring ----------------------------------------------------------------------------------

    def metric_names(self, task, num_labels):
        from .metrics import default_metric_names

        return default_metric_names(str(task.problem_type), num_labels)

    def metrics(self, task, predictions, references, label_names):
        from .metrics import default_metrics

        positive = self.positive_label(task, label_names)
        positive_id = label_names.index(positive) if positive is not None else 1
        problem, references = str(task.problem_type), np.asarray(references)
        return default_metrics(problem, predictions, references, len(label_names), positive_id)

    def evaluate_inputs(self, task, predictions, references, label_names):
        """single-label: class ids, without the rows whose label the model does not have;
        multi-label: 0/1 rows; regression: the numbers."""
        if task.problem_type == "regression":
            values = np.asarray(predictions.values, dtype=np.float64).reshape(-1)
            return values.tolist(), np.asarray(references, dtype=np.float64).reshape(-1).tolist()
        predicted = np.asarray(predictions.label_ids).astype(int)
        references = np.asarray(references).round().astype(int)
        if task.problem_type == "single-label":
            known = (references >= 0) & (references < len(label_names))
            predicted, references = predicted[known], references[known]
        return predicted.tolist(), references.tolist()

    def class_figures(self, task, predictions, references, label_names):
        """Per-class precision, recall, F1 and support, and (single-label) the confusion matrix."""
        predicted = predictions.label_ids
        if not label_names or predicted is None:
            return {}
        from .metrics import per_class_report

        references = np.asarray(references).round().astype(int)
        if task.problem_type == "single-label":  # rows whose label the model does not have are no class's
            known = references >= 0
            predicted, references = np.asarray(predicted)[known], references[known]
        figures: dict[str, Any] = {"per_class": per_class_report(predicted, references, label_names)}
        if task.problem_type == "single-label":
            figures["confusion_matrix"] = confusion_matrix(references, predicted, label_names)
        return figures

    def positive_label(self, task, label_names):
        """Two labels, single-label: the chosen one, else the second in order (as GLUE's F1 is of id 1)."""
        if task.problem_type != "single-label" or len(label_names) != 2:
            return None
        return task.positive_label if task.positive_label in label_names else label_names[1]

    def metric_order(self, task, names):
        """Single-label: the Matthews correlation first, where reported: unlike accuracy (or one
        class's F1), it is 0 for a model that predicts one class, however imbalanced the data."""
        lead = "matthews_correlation"
        return (
            [lead, *(n for n in names if n != lead)] if task.problem_type == "single-label" and lead in names else names
        )

    def collapse(self, task, predictions, references, label_names):
        if task.problem_type == "regression":
            values = np.asarray(predictions.values, dtype=float).reshape(-1)
            spread = float(np.ptp(values)) if len(values) > 1 else 1.0
            if spread <= 1e-6 * max(1.0, float(np.abs(values).max())):
                return f"the model predicts one value ({values[0]:.4g}) for all {len(values):,} validation examples"
            return None
        ids = np.asarray(predictions.label_ids)
        if len(ids) < 2 or len(label_names) < 2:
            return None
        if task.problem_type == "multi-label":
            if (ids == ids[0]).all():
                chosen = [label_names[i] for i in np.flatnonzero(ids[0])]
                return (
                    f"the model predicts the same labels ({', '.join(chosen) or 'none'}) for all "
                    f"{len(ids):,} validation examples"
                )
            return None
        if len(set(ids.tolist())) == 1:
            return f"the model predicts '{label_names[int(ids[0])]}' for all {len(ids):,} validation examples"
        return None

    def eval_references(self, task, split, data, features, data_labels, model_labels, run):
        """The split's label column as the model's ids (by name); refused where rows have no label
        or where the run was trained on pairs and the task gives single texts (or the reverse)."""
        references = label_ids_by_name(task, data, data_labels, model_labels)
        if task.problem_type == "single-label" and (references == -1).any():
            raise DataError(
                f"the {split} split of {task.name!r} has {int((references == -1).sum())} unlabelled row(s); "
                "it cannot be scored (GLUE's test files have no labels)."
            )
        columns = [c for c in task.text_columns if c in data.column_names]
        if (len(columns) == 2) != run.pair:
            raise DataError(
                f"the model was trained on {'pairs of texts' if run.pair else 'single texts'}, "
                f"but {task.name!r} gives {'pairs' if len(columns) == 2 else 'single texts'}."
            )
        return features, references

    def eval_loss(self, task, logits, references, model_loss):
        """The loss the head computes, over the rows with a label the model has: cross-entropy
        (single-label), binary cross-entropy (multi-label), mean squared error (regression);
        computed here so that it does not depend on how the texts were batched."""
        logits = np.asarray(logits, dtype=np.float64)
        references = np.asarray(references)
        if task.problem_type == "regression":
            return float(np.mean((logits.reshape(len(logits), -1)[:, 0] - references) ** 2))
        if task.problem_type == "multi-label":
            log_p, log_not_p = -np.logaddexp(0, -logits), -np.logaddexp(0, logits)
            return float(-np.mean(references * log_p + (1 - references) * log_not_p))
        references = references.astype(int)
        known = references >= 0
        log_softmax = np.log(softmax(logits[known]))
        return float(-np.mean(log_softmax[np.arange(known.sum()), references[known]]))

    # -- a finished run -------------------------------------------------------------------------

    def predict_texts(self, texts, run, where):
        """A text per line or argument; a pair model takes `text<TAB>pair`, and a text without
        the tab is an incomplete pair: an error that says how to give pairs."""
        columns = run.run_record.text_inputs
        pair = len(columns) == 2
        rows, origin, single = [], [], []
        for number, raw in enumerate(texts, start=1):
            text = raw.rstrip("\r\n")
            if pair:
                first, separator, second = text.partition(PAIR_SEPARATOR)
                if not separator and text.strip():
                    single.append(f"{where} {number}")
                rows.append({"text": first, "text_pair": second})
            else:
                rows.append({"text": text})
            origin.append(f"{where} {number}")
        if single:
            shown = ", ".join(single[:5]) + (f" ... ({len(single)} in all)" if len(single) > 5 else "")
            raise UsageError(
                f"this model takes pairs of texts, and {shown} holds only one (no tab between two texts).",
                hint="Separate the two texts with a tab: $'first sentence\\tsecond sentence' in bash, or pass "
                "--input FILE with two text columns (--text-column, --text-pair-column).",
            )
        keys = ["text", "text_pair"][: len(columns)]
        return self._rows(rows, origin, {column: [row[key] for row in rows] for column, key in zip(columns, keys)})

    def predict_file(self, path, run, options):
        """Rows of a CSV, TSV or JSON Lines file; the text columns default to those the model
        trained on (under the dataset's name, or the user's)."""
        from .data import read_table, require_column

        table = read_table(Path(path), options.get("format"), options.get("encoding") or "utf-8")
        trained = run.run_record.text_inputs
        named = run.run_record.settings.get("task_options") or {}

        def default_column(position: int, option: str, fallback: str) -> str:
            candidates = [trained[position] if len(trained) > position else None, named.get(option)]
            return next((c for c in candidates if c and c in table.columns), fallback)

        chosen = [options.get("text_column") or default_column(0, "text_column", "text")]
        require_column(table, chosen[0], "--text-column")
        if len(trained) == 2:
            chosen.append(options.get("text_pair_column") or default_column(1, "text_pair_column", "text_pair"))
            require_column(table, chosen[1], "--text-pair-column")
        examples = {column: table.column(name) for column, name in zip(trained, chosen)}
        return self._rows(table.rows, [f"line {n}" for n in table.lines], examples)

    def _rows(self, rows: list[dict[str, Any]], origin: list[str], examples: dict[str, list[Any]]) -> PredictRows:
        predict = PredictRows(rows, origin, examples)
        predict.skipped = [i for i in range(len(rows)) if any(not str(v[i]).strip() for v in examples.values())]
        return predict

    def answers(self, predictions, rows, label_names, all_scores):
        """Regression: the predicted `value`; classification: the `label` and its probability
        `score` (multi-label: the labels joined by ';', the highest probability)."""
        answered = []
        for j in range(len(predictions.values if predictions.values is not None else predictions.label_ids)):
            if predictions.values is not None:
                answered.append({"value": float(predictions.values[j])})
                continue
            scores = predictions.scores[j]
            if np.ndim(predictions.label_ids[j]) == 1:
                chosen = [label_names[k] for k in np.flatnonzero(predictions.label_ids[j])]
                columns = {"label": ";".join(chosen), "score": float(scores.max())}
            else:
                best = int(predictions.label_ids[j])
                columns = {"label": label_names[best], "score": float(scores[best])}
            if all_scores:
                columns.update({f"score_{name}": float(s) for name, s in zip(label_names, scores)})
            answered.append(columns)
        return answered

    def table(self, rows, texts):
        def number(value: Any) -> str:
            return f"{value:.4f}" if isinstance(value, float) else ""

        if rows and "value" in rows[0]:
            return ["VALUE", "TEXT"], [[number(row.get("value")), text] for row, text in zip(rows, texts)]
        extra = sorted({key for row in rows for key in row if key.startswith("score_")})
        return ["LABEL", "SCORE", *(key.upper() for key in extra), "TEXT"], [
            [str(row.get("label", "")), number(row.get("score")), *(number(row.get(key)) for key in extra), text]
            for row, text in zip(rows, texts)
        ]

    def card_usage(self, run_dir, text_inputs):
        if len(text_inputs) == 2:
            return (
                f'classifier = pipeline("text-classification", model="{run_dir}")\n'
                'classifier({"text": "first sentence", "text_pair": "second sentence"})',
                f'taskrun predict {run_dir} "first sentence<TAB>second sentence"',
            )
        return (
            f'classifier = pipeline("text-classification", model="{run_dir}")\nclassifier("some text")',
            f'taskrun predict {run_dir} "some text"',
        )


def label_ids_by_name(task: TaskSpec, data: Any, data_labels: list[str], model_labels: list[str]) -> np.ndarray:
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
