"""The hooks of a taskrun run, one per stage, all prefixed `taskrun_`.

A plugin implements any of them with `@taskrun.hookimpl`. Stage hooks receive the task and
return `None` for tasks that are not theirs. pluggy calls the most recently registered plugin
first; the core defaults (module `taskrun.defaults`) are marked `trylast`, so every plugin can
override them. This module imports no implementation: types only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

from .task import Predictions, RunConfig, TaskSpec

if TYPE_CHECKING:  # heavy libraries stay out of import time
    import numpy as np
    from datasets import DatasetDict
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

PROJECT = "taskrun"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def taskrun_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register this plugin's tasks by calling `register(TaskSpec(...))` once per task.

    Collecting: every plugin is called. The core records which plugin registered which task and
    refuses a name that two plugins register. Return None (the return value is not used).
    """


@hookspec(firstresult=True)
def taskrun_load_dataset(task: TaskSpec, config: RunConfig) -> DatasetDict | None:
    """Load the task's data as a `datasets.DatasetDict` with `train` and `validation` splits
    (and `test` where there is one); the label column is a `ClassLabel` for classification.

    Firstresult: the first non-None answer wins. Return None for tasks that are not yours.
    The owner of a task must answer: there is no default. Validate user data here, before any
    model is loaded, and raise `taskrun.errors.DataError` naming file, line and column.
    """


@hookspec(firstresult=True)
def taskrun_preprocess(
    task: TaskSpec,
    config: RunConfig,
    dataset: DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
) -> DatasetDict | None:
    """Tokenise every split: model inputs plus the label column, nothing padded.

    Firstresult. Return None to use the core default, which encodes `task.text_columns` (two
    columns as a pair) truncated to `config.max_length`.
    """


@hookspec(firstresult=True)
def taskrun_data_collator(
    task: TaskSpec, config: RunConfig, tokenizer: PreTrainedTokenizerBase
) -> Callable[[list[dict[str, Any]]], dict[str, Any]] | None:
    """Return the data collator that turns examples into batches.

    Firstresult. Return None to use the core default: `DataCollatorWithPadding` (dynamic padding
    to the longest example of each batch).
    """


@hookspec(firstresult=True)
def taskrun_model(task: TaskSpec, config: RunConfig, label_names: list[str]) -> PreTrainedModel | None:
    """Return the model with its head for `config.model_path`, with `id2label` set from
    `label_names` (empty for regression).

    Firstresult. Return None to use the core default: `AutoModelForSequenceClassification`
    with the head that `task.problem_type` calls for.
    """


@hookspec(firstresult=True)
def taskrun_postprocess(task: TaskSpec, config: RunConfig, logits: np.ndarray) -> Predictions | None:
    """Turn a numpy array of logits (n, num_labels) into `Predictions`.

    Firstresult. Return None to use the core default: softmax and argmax for single-label,
    sigmoid and `config.threshold` for multi-label, the raw value for regression. Used for
    evaluation and by `taskrun predict`.
    """


@hookspec
def taskrun_metrics(
    task: TaskSpec, predictions: Predictions, references: np.ndarray, label_names: list[str]
) -> dict[str, float] | None:
    """Return a dict of metric name -> value computed from `predictions` and the reference
    labels (a numpy array).

    Collecting: the dicts of every plugin that answers are merged; two plugins that return the
    same metric name are an error. Return None for tasks that are not yours.
    """
