"""LoRA adapters through `peft`, for the model of any family: the pretrained body frozen, low-rank
updates trained in some of its linear layers, the task's head trained in full.

At the end of a run the adapters are merged into the weights (`merge_and_unload`), so the
published model is a plain one that `pipeline()`, `taskrun predict`, `eval` and `export` read
unchanged; the adapter itself is kept beside it in `adapter/` (`PeftModel.from_pretrained`
loads it on the pretrained model). Which layers take adapters: `--lora-targets`, else peft's
defaults for the architecture (BERT, RoBERTa: query and value); an architecture peft has none for
is refused, naming the linear layers it has.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .errors import UsageError
from .launch import fsdp_asked
from .rundir import ADAPTER
from .task import RunConfig

__all__ = ["LORA_DROPOUT", "LORA_LEARNING_RATE", "check_launch", "is_lora", "save_merged", "with_lora"]

LORA_DROPOUT = 0.1
# The learning rate of a --lora run that does not set one: adapters starting from zero need about
# ten times full fine-tuning's (Hu et al. trained RoBERTa-base's adapters at 4e-4 to 5e-4).
LORA_LEARNING_RATE = 5e-4


def check_launch() -> None:
    """Refuse a launch that shards the weights (FSDP, DeepSpeed ZeRO-3): the adapters are merged on
    one process at the end, which needs the whole model there. LoRA's trainable weights are few:
    data-parallel (torchrun) or ZeRO stage 1 or 2 train them as fast."""
    import os

    if fsdp_asked() or os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3":
        raise UsageError(
            "--lora with sharded weights (FSDP or DeepSpeed ZeRO-3): the adapters are merged into the whole "
            "model at the end, which sharding never gathers on one process.",
            hint="Train the adapters data-parallel (torchrun) or with DeepSpeed ZeRO stage 1 or 2.",
        )


def linear_layers(model: Any) -> list[str]:
    """The names (last part) of the linear layers of the model's pretrained body."""
    import torch

    body = _body(model)
    return sorted(
        {name.rsplit(".", 1)[-1] for name, module in body.named_modules() if isinstance(module, torch.nn.Linear)}
    )


def _body(model: Any) -> Any:
    """The pretrained body of a task model (`model.bert` of a BertForSequenceClassification)."""
    prefix = getattr(model, "base_model_prefix", None)
    body = getattr(model, prefix, None) if prefix else None
    if body is None:
        raise UsageError(
            f"--lora: cannot tell the pretrained body of {type(model).__name__} from its head "
            "(it is not a transformers model with a base_model_prefix)."
        )
    return body


def head_modules(model: Any) -> list[str]:
    """The model's parts outside its pretrained body that hold weights: the task's head, trained in full."""
    prefix = model.base_model_prefix
    return [name for name, child in model.named_children() if name != prefix and any(True for _ in child.parameters())]


def target_modules(model: Any, wanted: tuple[str, ...]) -> list[str]:
    """The layers that take adapters: `wanted` (each must be a linear layer of the body), else
    peft's defaults for the architecture; refused, naming the linear layers there are, otherwise."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    kind = getattr(model.config, "model_type", type(model).__name__)
    layers = linear_layers(model)
    if wanted:
        unknown = [name for name in wanted if name not in layers]
        if unknown:
            raise UsageError(
                f"--lora-targets: the {kind} model has no linear layer named {', '.join(unknown)}; "
                f"its layers are: {', '.join(layers)}."
            )
        return list(wanted)
    default = list(DEFAULTS.get(kind) or ())
    if not default or not all(name in layers for name in default):
        raise UsageError(
            f"--lora: no default layers to adapt are known for {kind} models.",
            hint=f"Name them with --lora-targets, from its linear layers: {', '.join(layers)}.",
        )
    return default


def with_lora(model: Any, config: RunConfig) -> Any:
    """`model` with LoRA adapters of rank `config.lora_r` in its target layers and its head
    trained in full (peft's `modules_to_save`); every other weight frozen."""
    from peft import LoraConfig, get_peft_model

    settings = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=LORA_DROPOUT,
        target_modules=target_modules(model, config.lora_targets),
        modules_to_save=head_modules(model),
    )
    with warnings.catch_warnings():  # peft 0.21 asks transformers 5 a name it deprecated: noise to a user
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        return get_peft_model(model, settings)


def is_lora(model: Any) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def save_merged(model: Any, folder: Path, save: Any) -> None:
    """Write the adapter to `folder/adapter/`, then merge it into the weights and hand the plain
    model to `save(model)` (which writes `folder`'s model files)."""
    model.save_pretrained(str(folder / ADAPTER))
    save(model.merge_and_unload())
