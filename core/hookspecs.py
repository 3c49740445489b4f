"""The hooks of a taskrun run, one per stage, all prefixed `taskrun_`.

A plugin implements any of them with `@taskrun.hookimpl`. `taskrun_register_tasks` is asked of
every plugin; the stage hooks (`STAGE_HOOKS`) of a task reach only the plugin that registered
it, then plugins that list the hook in their `TASKRUN_FOR_ALL_TASKS` tuple (they change that
stage for every task), then the core defaults (module `taskrun.defaults`, marked `trylast`), which
hand the stage to the task's family (`taskrun.Family`: sequence classification, token
classification, or a family a plugin brings).
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
    "taskrun_loss",
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
    """Tokenise every split: model inputs plus `labels`, nothing padded. A split without the label
    column is one to predict (`taskrun predict`); a preprocessing that cuts an example into
    several features (windows of a long text) names each feature's example in a column `example`.
    Other columns (a token task's `word_ids`) travel to `taskrun_postprocess` as `inputs`.

    Firstresult. Return None to use the family's default (`Family.preprocess`): sequence
    classification encodes `task.text_columns` (two columns as a pair) truncated to
    `config.max_length`; token classification aligns the tags to the first sub-word of each word.
    """


@hookspec(firstresult=True)
def taskrun_data_collator(
    task: TaskSpec, config: RunConfig, tokenizer: PreTrainedTokenizerBase
) -> Callable[[list[dict[str, Any]]], dict[str, Any]] | None:
    """Return the data collator that turns examples into batches.

    Firstresult. Return None to use the family's default: `DataCollatorWithPadding` (dynamic
    padding to the longest example of each batch); `DataCollatorForTokenClassification` for tokens.
    """


@hookspec(firstresult=True)
def taskrun_model(task: TaskSpec, config: RunConfig, label_names: list[str]) -> PreTrainedModel | None:
    """Return the model with its head for `config.model_path`, with `id2label` set from
    `label_names` (empty for regression). It must be an instance of the family's `auto_model`
    class, which `predict` and `eval` load the saved run as.

    Firstresult. Return None to use the family's default: its `auto_model` (for example
    `AutoModelForSequenceClassification` with the head that `config.problem_type` calls for).
    """


@hookspec(firstresult=True)
def taskrun_postprocess(
    task: TaskSpec,
    config: RunConfig,
    logits: np.ndarray,
    inputs: list[dict[str, Any]] | None,
    label_names: list[str],
) -> Predictions | None:
    """Turn a numpy array of logits into `Predictions`: (n, num_labels) for sequence
    classification, (n, tokens, num_labels) for token classification, padded with -100.

    `inputs`: None during training's evaluation; for `taskrun predict`, one dict per row of the
    logits with that feature's preprocessed columns (`input_ids`, `attention_mask`, a token task's
    `word_ids`, ...) and its example's columns (a token task's `tokens`, `offsets`, `text`).
    `label_names`: the model's labels, by id. Declare only the arguments you use.

    Firstresult. Return None to use the family's default: softmax and argmax for single-label,
    sigmoid and `config.threshold` for multi-label, the raw value for regression; for tokens,
    the tag of each token and (with `inputs`) each example's entities in `Predictions.items`.
    Used for evaluation, `taskrun eval` and `taskrun predict`.
    """


@hookspec
def taskrun_metrics(
    task: TaskSpec, predictions: Predictions, references: np.ndarray, label_names: list[str]
) -> dict[str, float] | None:
    """Return a dict of metric name -> value computed from `predictions` and the reference
    labels (a numpy array).

    Collecting: the task's plugins that answer are merged over the family's default metrics
    (`Family.metrics`: for sequence classification `taskrun.metrics.default_metrics`, for tokens
    seqeval's entity scores), replacing a default of the same name; two plugins that return the
    same name are an error. Return None to report only the defaults. `references` hold -100 where
    a position carries no label (a token task's padding and continuation pieces).
    """


@hookspec(firstresult=True)
def taskrun_loss(task: TaskSpec, config: RunConfig, label_counts: list[int]) -> Callable[..., Any] | None:
    """Return the training loss as Trainer's `compute_loss_func`: a callable
    `(outputs, labels, num_items_in_batch=None) -> loss tensor` (outputs: the model's output,
    its `logits` included; labels: the batch's `labels`, -100 where ignored).

    Firstresult. Return None to use the family's default: the model's own loss, or with
    `--class-weights balanced` cross-entropy weighted by inverse label frequency
    (`label_counts`: how often each label occurs in training, by label id).
    """
