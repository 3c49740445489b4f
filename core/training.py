"""taskrun's one `Trainer`: Trainer itself, plus the guards that keep a run recoverable.

- A non-finite training loss stops the run at once, naming the step; no checkpoint is saved
  after it, so the newest complete checkpoint is one from before the divergence.
- After each checkpoint Trainer saves, `ManifestCallback` writes its manifest (taskrun.checkpoints)
  on the main process, once every process has written its files, then rotates old checkpoints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from transformers import Trainer, TrainerCallback

from .checkpoints import rotate, write_manifest
from .errors import TrainingError


class TaskrunTrainer(Trainer):
    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        # Reading the flag waits for the step; Trainer's own logging_nan_inf_filter does so already.
        if not bool(loss.detach().isfinite().all()):
            raise TrainingError(
                f"the training loss became {loss.item()} at step {self.state.global_step + 1} "
                f"(epoch {self.state.epoch or 0:.2f}); the run stopped and nothing from that step on was saved.",
                hint="Lower --learning-rate, or check the data and labels; "
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


def check_finite_model(model: Any) -> None:
    """Refuse to save a model that holds NaN or infinite weights as a run's result."""
    for name, parameter in model.named_parameters():
        if not bool(parameter.detach().isfinite().all()):
            raise TrainingError(
                f"the trained model's weights {name} hold NaN or infinite values; it was not saved.",
                hint="Lower --learning-rate, or check the data and labels.",
            )
