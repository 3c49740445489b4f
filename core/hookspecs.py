"""The hooks of a taskrun run, one per stage, all prefixed `taskrun_`.

A plugin implements any of them with `@taskrun.hookimpl`. `taskrun_register_tasks` is asked of
every plugin; the stage hooks (`STAGE_HOOKS`) of a task reach only the plugin that registered
it, then plugins that list the hook in their `TASKRUN_FOR_ALL_TASKS` tuple (they change that
stage for every task), then the core defaults (module `taskrun.defaults`, marked `trylast`).
Among the plugins asked, pluggy's order holds: the last registered first. This module imports
no implementation: types only.
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

STAGE_HOOKS = (
    "taskrun_load_dataset",
    "taskrun_preprocess",
    "taskrun_data_collator",
    "taskrun_model",
    "taskrun_postprocess",
    "taskrun_metrics",
)
# A plugin attribute: the stage hooks the plugin answers for every task, not only its own.
FOR_ALL_TASKS = "TASKRUN_FOR_ALL_TASKS"


@hookspec
def taskrun_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register this plugin's tasks by calling `register(TaskSpec(...))` once per task.

    Collecting: every plugin is called, one at a time. The core records which plugin registered
    which task (its owner) and refuses a name that two plugins register. A `TaskSpec` that
    refuses a mistake raises here, and the plugin is listed as broken with the reason. Return
    None (the return value is not used).
    """


@hookspec(firstresult=True)
def taskrun_load_dataset(task: TaskSpec, config: RunConfig) -> DatasetDict | None:
    """Load the task's data as a `datasets.DatasetDict` with `train` and `validation` splits
    (and `test` where there is one); the label column is a `ClassLabel` for classification.

    Firstresult: the first non-None answer wins. Called for the plugin's own tasks only (and for
    every task where the plugin declares it in `TASKRUN_FOR_ALL_TASKS`). The owner of a task
    must answer: there is no default, and None is an error. Validate user data here, before any
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
    columns as a pair) truncated to `config.max_length`, and turns multi-label label lists into
    multi-hot vectors.
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
    with the head that `config.problem_type` calls for.
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

    Collecting: the task's plugins that answer are merged over the core's default metrics for
    the problem type (`taskrun.metrics.default_metrics`), replacing a default of the same name;
    two plugins that return the same name are an error. Return None to report only the defaults.
    """
