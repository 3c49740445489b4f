"""The Trainer wiring: taskrun's one `Trainer`, its arguments, callbacks and loss, and the guards
that keep a run recoverable and its errors attributed.

- A non-finite training loss stops the run at once, naming the step; no checkpoint is saved
  after it, so the newest complete checkpoint is one from before the divergence.
- After each checkpoint Trainer saves, `ManifestCallback` writes its manifest (taskrun.checkpoints)
  on the main process, once every process has written its files, then rotates old checkpoints.
- A callable that a plugin handed back (a collator, a model's forward) that raises during
  training is reported as that plugin's error, like an exception in a hook.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import ProgressCallback

from .checkpoints import rotate, write_manifest
from .errors import TaskrunError, TrainingError
from .lora import is_lora, save_merged
from .manager import DEFAULTS, plugin_error
from .models import eval_batch_size
from .task import RunConfig, TaskSpec


class PluginCallable:
    """A callable a plugin's hook returned (a data collator, say): when it raises, the error names
    the plugin, the hook and the task, as an exception inside the hook does."""

    def __init__(
        self,
        function: Callable[..., Any],
        plugin: str,
        hook_name: str,
        task: TaskSpec,
        what: str = "the callable it returned",
    ):
        self.function, self.plugin, self.hook_name, self.task, self.what = function, plugin, hook_name, task, what

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.function(*args, **kwargs)
        except TaskrunError:
            raise
        except Exception as exc:
            raise plugin_error(self.plugin, self.hook_name, self.task, exc, f" ({self.what})") from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self.function, name)


def attributed(value: Any, plugin: str | None, hook_name: str, task: TaskSpec) -> Any:
    """`value` wrapped so that its failures are `plugin`'s, unless the core itself made it."""
    if value is None or plugin in (None, DEFAULTS):
        return value
    return PluginCallable(value, plugin, hook_name, task)


class TaskrunTrainer(Trainer):
    """Trainer plus a stop at a non-finite loss, and the model's errors attributed to the plugin
    that built it (`model_plugin`, set by the runner; the core's own model raises unchanged)."""

    model_plugin: str | None = None
    task: TaskSpec | None = None

    def compute_loss(self, model, inputs, *args, **kwargs):
        return self._as_plugin_error(super().compute_loss, model, inputs, *args, **kwargs)

    def prediction_step(self, model, inputs, *args, **kwargs):
        return self._as_plugin_error(super().prediction_step, model, inputs, *args, **kwargs)

    def _as_plugin_error(self, step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.model_plugin in (None, DEFAULTS) or self.task is None:
            return step(*args, **kwargs)
        forward = PluginCallable(step, self.model_plugin, "taskrun_model", self.task, "the model's forward")
        return forward(*args, **kwargs)

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        # Reading the flag waits for the step; Trainer's own logging_nan_inf_filter does so already.
        if not bool(loss.detach().isfinite().all()):
            raise TrainingError(
                f"the training loss became {loss.item()} at step {self.state.global_step + 1} "
                f"(epoch {self.state.epoch or 0:.2f}); the run stopped and nothing from that step on was saved.",
                hint=(
                    "At the first step this often means damaged model weights (a non-finite value in the "
                    "model's files): check the model. "
                    if self.state.global_step == 0
                    else ""
                )
                + "Otherwise lower --learning-rate, or check the data and labels; "
                "--resume auto continues from the newest checkpoint before it.",
            )
        return loss


class ManifestCallback(TrainerCallback):
    """Seal each checkpoint with its manifest, then keep only the newest `keep` and the best."""

    def __init__(self, identity: dict[str, Any], keep: int, score_of: Callable[[dict[str, float]], dict | None]):
        self.identity = identity
        self.keep = keep
        self.score_of = score_of

    def on_save(self, args, state, control, **kwargs):
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()  # every process has written its own rng_state_N.pth
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            evaluation = next(
                (
                    entry
                    for entry in reversed(state.log_history)
                    if "eval_loss" in entry and entry.get("step") == state.global_step
                ),
                None,
            )
            write_manifest(
                folder, {**self.identity, "step": state.global_step}, self.score_of(evaluation) if evaluation else None
            )
            rotate(Path(args.output_dir), self.keep)
        if dist.is_available() and dist.is_initialized():
            dist.barrier()
        return control


def check_finite_weights(named_weights: Iterable[tuple[str, Any]]) -> None:
    """Refuse to save a model that holds NaN or infinite weights as a run's result."""
    for name, weights in named_weights:
        if weights.is_floating_point() and not bool(weights.detach().isfinite().all()):
            raise TrainingError(
                f"the trained model's weights {name} hold NaN or infinite values; it was not saved.",
                hint="Lower --learning-rate, or check the data and labels.",
            )


def save_final_model(trainer: Trainer, folder: Path) -> None:
    """Save the trained model, checked for non-finite weights, as one `model.safetensors` that
    `from_pretrained` and `pipeline()` read, whatever the training's sharding.

    Every process must call it. Trainer's own save writes nothing for FSDP's sharded state dict
    (only its checkpoints hold the shards): here the shards are gathered into one state dict
    (accelerate's `get_state_dict`, a collective) and rank 0 writes it. DeepSpeed ZeRO and
    FSDP's full state dict are gathered by Trainer's own save. A LoRA model is saved merged, its
    adapter in `adapter/` beside it (taskrun.lora)."""
    if is_lora(trainer.model):  # the adapter beside the model, merged into it (DDP, ZeRO-1/2: whole on rank 0)
        if trainer.args.should_save:
            check_finite_weights(trainer.model.named_parameters())  # type: ignore[union-attr]
            save_merged(trainer.model, folder, lambda merged: merged.save_pretrained(str(folder)))
            if trainer.processing_class is not None:
                trainer.processing_class.save_pretrained(str(folder))
        return
    plugin = getattr(trainer.accelerator.state, "fsdp_plugin", None)
    if trainer.is_fsdp_enabled and "FULL_STATE_DICT" not in str(getattr(plugin, "state_dict_type", "")):
        state_dict = trainer.accelerator.get_state_dict(trainer.model)
        if trainer.args.should_save:
            check_finite_weights(state_dict.items())
            trainer._save(str(folder), state_dict=state_dict)
        return
    if not (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled):
        check_finite_weights(trainer.model.named_parameters())  # type: ignore[union-attr]
    trainer.save_model(str(folder))  # rank 0 writes; DeepSpeed and FSDP gather the model on every process
    if (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled) and trainer.args.should_save:
        from safetensors.torch import load_file

        check_finite_weights(load_file(folder / "model.safetensors").items())


class StderrProgress(ProgressCallback):
    """Trainer's progress bar writes its log lines (loss, learning rate) to stdout; this writes
    them to stderr with the bar, so that stdout holds only the end-of-run summary."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None:
            shown = {k: f"{v:.4g}" if isinstance(v, float) else v for k, v in (logs or {}).items() if k != "total_flos"}
            self.training_bar.write(str(shown), file=sys.stderr)


def log_progress_to_stderr(trainer: Trainer) -> None:
    """Replace Trainer's progress callback with one that writes its log lines to stderr."""
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(StderrProgress)


def training_arguments(
    config: RunConfig,
    precision: str,
    checkpoints: Path,
    train_size: int,
    best: tuple[str, bool],
    report_to: list[str],
) -> TrainingArguments:
    """Trainer's arguments for a run: schedule, precision, checkpoints, the metric `best` (name,
    higher is better) that picks the published model, and the trackers to report to.

    Each checkpoint is evaluated (a step schedule evaluates at the same steps), so that the best
    one can be restored at the end: that needs checkpoints, so with --save-every none the last
    model is the result."""
    import torch

    steps_per_epoch = max(1, math.ceil(train_size / config.batch_size))
    total_steps = max(1, math.ceil(steps_per_epoch * config.epochs))
    schedule: dict[str, Any] = (
        {"eval_strategy": "epoch", "save_strategy": config.save_every}
        if config.save_every in ("epoch", "no")
        else {
            "eval_strategy": "steps",
            "eval_steps": int(config.save_every),
            "save_strategy": "steps",
            "save_steps": int(config.save_every),
        }
    )
    metric, higher = best
    return TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=eval_batch_size(config.batch_size),
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of the total steps
        weight_decay=config.weight_decay,
        seed=config.seed,
        **schedule,  # rotation is taskrun's (ManifestCallback): Trainer's could delete the last complete one
        load_best_model_at_end=config.save_every != "no",
        metric_for_best_model=metric,
        greater_is_better=higher,
        # The early-stopping patience count is saved in each checkpoint; this restores it on --resume.
        restore_callback_states_from_checkpoint=True,
        logging_strategy="steps",
        logging_steps=max(1, total_steps // 10),
        report_to=report_to or "none",
        run_name=config.output_dir.name,  # the run's name in MLflow, wandb, trackio, ...
        disable_tqdm=False,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
    )


def run_callbacks(config: RunConfig, tracker_callbacks: list[Any]) -> list[Any]:
    """Early stopping (--early-stopping N) and the trackers' callbacks."""
    from transformers import EarlyStoppingCallback

    stopping = [EarlyStoppingCallback(early_stopping_patience=config.early_stopping)] if config.early_stopping else []
    return stopping + tracker_callbacks
