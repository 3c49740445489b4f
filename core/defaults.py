"""The core's answers to the stage hooks, used when no plugin answers first: each hands the stage
to the task's family (`taskrun.family`), which holds every default that depends on the task's shape.

Registered as the plugin `taskrun-defaults` before every other plugin and marked `trylast`, so
any plugin's non-None answer wins. Heavy libraries are imported inside the families' methods.
"""

from __future__ import annotations

from .family import dropout_settings, family_of
from .hookspecs import hookimpl

__all__ = ["dropout_settings"]


@hookimpl(trylast=True)
def taskrun_preprocess(task, config, dataset, tokenizer):
    """The family's preprocessing (`Family.preprocess`)."""
    return family_of(task).preprocess(task, config, dataset, tokenizer)


@hookimpl(trylast=True)
def taskrun_data_collator(task, config, tokenizer):
    """The family's collator (`Family.data_collator`): dynamic padding."""
    return family_of(task).data_collator(task, config, tokenizer)


@hookimpl(trylast=True)
def taskrun_model(task, config, label_names):
    """The family's model class with a fresh head sized and named for the labels."""
    return family_of(task).model(task, config, label_names)


@hookimpl(trylast=True)
def taskrun_postprocess(task, config, logits, inputs, label_names):
    """The family's post-processing (`Family.postprocess`)."""
    return family_of(task).postprocess(task, config, logits, inputs, label_names)


@hookimpl(trylast=True)
def taskrun_loss(task, config, label_counts):
    """The family's loss: the model's own (None), or class-weighted with --class-weights balanced."""
    return family_of(task).loss(task, config, label_counts)
