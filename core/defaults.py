"""The core's answers to the stage hooks, used when no plugin answers first.

Registered as the plugin `taskrun-defaults` before every other plugin and marked `trylast`, so
any plugin's non-None answer wins. Heavy libraries are imported inside the hooks.
"""

from __future__ import annotations

import numpy as np

from .data import class_names
from .hookspecs import hookimpl
from .models import load_pretrained
from .task import Predictions
from .tokenization import encode

HF_PROBLEM_TYPES = {
    "single-label": "single_label_classification",
    "multi-label": "multi_label_classification",
    "regression": "regression",
}


@hookimpl(trylast=True)
def taskrun_preprocess(task, config, dataset, tokenizer):
    """Encode the task's text column (or pair of columns), truncated, unpadded; keep `labels`.

    The second of `task.text_columns` is optional: it is encoded as the pair where a split has it.
    A boolean column `truncated` marks the examples that were cut to `config.max_length` (the
    runner reports how many, then drops it). Multi-label label lists become multi-hot vectors.
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


@hookimpl(trylast=True)
def taskrun_data_collator(task, config, tokenizer):
    """Dynamic padding: each batch is padded to its own longest example."""
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


@hookimpl(trylast=True)
def taskrun_model(task, config, label_names):
    """`AutoModelForSequenceClassification` with a fresh head sized and named for the labels."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    kwargs = {"problem_type": HF_PROBLEM_TYPES[config.problem_type]}
    if config.problem_type == "regression":
        kwargs.update(num_labels=1, id2label={0: "value"}, label2id={"value": 0})
    else:
        kwargs.update(
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
        )
    if config.dropout is not None:
        kwargs.update(dropout_settings(config.model_path, config.dropout))
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized head, you should train it": we will
    try:
        return load_pretrained(
            lambda path: AutoModelForSequenceClassification.from_pretrained(path, **kwargs),
            config.model_path,
            f"model {config.model!r}",
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


@hookimpl(trylast=True)
def taskrun_postprocess(task, config, logits):
    """Softmax + argmax (single-label), sigmoid + threshold (multi-label), value (regression)."""
    logits = np.asarray(logits, dtype=np.float64)
    if config.problem_type == "regression":
        return Predictions(values=logits.reshape(len(logits), -1)[:, 0])
    if config.problem_type == "multi-label":
        scores = 1.0 / (1.0 + np.exp(-logits))
        return Predictions(label_ids=(scores >= config.threshold).astype(np.int64), scores=scores)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    scores = shifted / shifted.sum(axis=-1, keepdims=True)
    return Predictions(label_ids=scores.argmax(axis=-1), scores=scores)
