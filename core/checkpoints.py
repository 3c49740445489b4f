"""Checkpoints that can be trusted: a manifest written last, checked before any resume.

A run in progress keeps its checkpoints in `OUTPUT/checkpoints/checkpoint-STEP/`, saved by
Trainer on the schedule of --save-every. After Trainer has written one, taskrun deletes its
pickled `training_args.bin`, hashes every file and writes `taskrun-manifest.json` (through a
temporary file and a rename) last: a checkpoint without a readable manifest, or with a file that
is missing or whose size or sha256 differ from it, is incomplete and never resumed from.

The manifest also records what the run trained on (task, data content, model, labels) and its
settings, so that a resume with other data, another model or other labels is refused, and the
evaluation score at that step, so that rotation keeps the best checkpoint as well as the newest.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CheckpointError, OutputWriteError
from .files import write_json
from .rundir import CHECKPOINTS, PICKLED_ARGS

log = logging.getLogger("taskrun")

MANIFEST = "taskrun-manifest.json"
# What a checkpoint must hold to resume, each part in any of the forms Trainer writes it: one
# process or DDP; FSDP with a full state dict (one file) or a sharded one (a torch.distributed
# checkpoint folder, its `.metadata` written last); DeepSpeed (its `global_stepN/` folder); a LoRA
# run's adapter and head (`adapter_model.safetensors`).
REQUIRED = {
    "model weights": (
        "model.safetensors",
        "adapter_model.safetensors",
        "pytorch_model_fsdp.bin",
        "pytorch_model_fsdp_0/.metadata",
    ),
    "optimizer state": ("optimizer.pt", "optimizer.bin", "optimizer_0/.metadata", "global_step*/*optim_states.pt"),
    "trainer state": ("trainer_state.json",),
    "scheduler state": ("scheduler.pt",),
    "random-number state": ("rng_state.pth", "rng_state_*.pth"),
}
_STEP = re.compile(r"^checkpoint-(\d+)$")
# What must match to resume, and what may change with a warning.
# early_stopping and metric_for_best must match too: a resumed run restores the patience count and
# the best score of the checkpoint's, which another metric or patience would misread.
MUST_MATCH = ("task", "problem_type", "data", "model", "labels", "metric_for_best", "early_stopping", "lora")
MAY_CHANGE = ("batch_size", "learning_rate", "epochs", "weight_decay", "warmup_ratio", "seed")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    manifest: dict[str, Any]


def checkpoint_folder(output_dir: Path) -> Path:
    return output_dir / CHECKPOINTS


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_temporary(path: Path) -> bool:
    """A file being written atomically (taskrun.files): not part of a checkpoint. Other hidden
    files are: a sharded checkpoint's `.metadata`, for one."""
    return path.name.startswith(".") and path.name.endswith(".partial")


def write_manifest(folder: Path, identity: dict[str, Any], score: dict[str, Any] | None) -> None:
    """Hash every file of a checkpoint and write the manifest last, atomically."""
    (folder / PICKLED_ARGS).unlink(missing_ok=True)  # a pickle; run_config.json holds the settings
    files = {
        str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST and not is_temporary(p)
    }
    manifest = {"format": 1, "identity": identity, "score": score, "files": files}
    write_json(folder / MANIFEST, manifest, durable=True)


def problem_with(folder: Path, hashes: bool = True) -> str | None:
    """Why `folder` is not a complete checkpoint (naming the file), or None if it is one.

    `hashes=False` checks the manifest, and each file's presence and size, but reads no file:
    enough to tell a save that did not finish, for rotation and messages; a resume checks all."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return f"it has no {MANIFEST}: its save did not finish"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{manifest_path} cannot be read ({exc})"
    for part, forms in REQUIRED.items():
        if not any(fnmatch.fnmatchcase(name, form) for name in files for form in forms):
            return f"its manifest lists no {part} ({' or '.join(forms)})"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        size = path.stat().st_size
        if size != expected["bytes"]:
            return (
                f"{path} has {size:,} bytes, not the {expected['bytes']:,} its manifest lists (truncated or replaced)"
            )
        if hashes and _sha256(path) != expected["sha256"]:
            return f"{path} is corrupt: its sha256 differs from its manifest's"
    return None


def _step_folders(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP.match(p.name))]
    return sorted(found)


def load_checkpoint(folder: Path) -> Checkpoint:
    """A complete checkpoint, or a CheckpointError that names what is wrong with it."""
    match = _STEP.match(folder.name)
    if not folder.is_dir() or not match:
        raise CheckpointError(f"--resume {folder}: not a checkpoint folder (checkpoint-STEP).")
    problem = problem_with(folder)
    if problem:
        raise CheckpointError(f"--resume {folder}: incomplete or damaged checkpoint: {problem}.")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return Checkpoint(folder, int(match.group(1)), manifest)


def complete_checkpoints(root: Path, hashes: bool = True, tell_skipped: bool = False) -> list[Checkpoint]:
    """Every complete checkpoint under `root`, oldest first. `hashes`: as for `problem_with`;
    `tell_skipped` logs each incomplete one and why."""
    good = []
    for step, folder in _step_folders(root):
        problem = problem_with(folder, hashes)
        if problem:
            if tell_skipped:
                log.info("skipping checkpoint %s: %s", folder, problem)
        else:
            good.append(Checkpoint(folder, step, json.loads((folder / MANIFEST).read_text(encoding="utf-8"))))
    return good


def find_resume_point(output_dir: Path, resume: str) -> Checkpoint | None:
    """--resume auto: the newest complete checkpoint of the output folder (None: there is none,
    start from the beginning); --resume PATH: that checkpoint, which must be complete."""
    if resume != "auto":
        return load_checkpoint(Path(resume))
    good = complete_checkpoints(checkpoint_folder(output_dir), tell_skipped=True)
    if not good:
        where = checkpoint_folder(output_dir)
        log.info("--resume auto: no complete checkpoint in %s; starting from the beginning", where)
        return None
    return good[-1]


def check_identity(checkpoint: Checkpoint, identity: dict[str, Any], force: bool) -> None:
    """Refuse to resume with other data, model or labels (unless `force`); warn about changed settings."""
    saved = checkpoint.manifest.get("identity", {})
    differ = [key for key in MUST_MATCH if saved.get(key) != identity.get(key)]
    if differ:
        sides = "; ".join(
            f"{key}: checkpoint {_shown(saved.get(key))}, this run {_shown(identity.get(key))}" for key in differ
        )
        if not force:
            raise CheckpointError(
                f"{checkpoint.path} was trained on something else than this run ({sides}).",
                hint="Resume with the same task, data, model and labels, or pass --force-resume to resume anyway.",
            )
        log.warning("--force-resume: resuming %s although it differs (%s)", checkpoint.path, sides)
    changed = [key for key in MAY_CHANGE if key in saved and saved[key] != identity.get(key)]
    if changed:
        shown = ", ".join(f"{key} {saved[key]} -> {identity.get(key)}" for key in changed)
        log.warning("resuming with changed settings: %s", shown)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def check_safe_to_load(checkpoint: Checkpoint) -> None:
    """Load every torch file of the checkpoint (shard folders included) with weights_only=True
    first, so that a file planted to run code fails here, unexecuted, with its name. Trainer
    loads its own files so; DeepSpeed loads its optimizer files in full, and the few DeepSpeed
    classes they hold are the only other ones allowed."""
    import torch
    from transformers.trainer_pt_utils import safe_globals

    torch_files = sorted(p for p in checkpoint.path.rglob("*") if p.suffix in (".pt", ".pth", ".bin") and p.is_file())
    deepspeed = any(p.parent.name.startswith("global_step") for p in torch_files)  # DeepSpeed's own folder
    with torch.serialization.safe_globals(_deepspeed_checkpoint_classes() if deepspeed else []):
        for path in torch_files:
            try:
                with safe_globals():
                    torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise CheckpointError(f"{path} cannot be loaded safely, so it was not loaded: {first_line}") from exc


def _deepspeed_checkpoint_classes() -> list[Any]:
    """The classes DeepSpeed ZeRO pickles into its optimizer files (none where it is not installed)."""
    try:
        from deepspeed.runtime.fp16.loss_scaler import LossScaler
        from deepspeed.runtime.zero.config import ZeroStageEnum
        from deepspeed.utils.tensor_fragment import fragment_address
    except ImportError:
        return []
    return [LossScaler, ZeroStageEnum, fragment_address]


def discard_after(root: Path, step: int) -> None:
    """Remove the checkpoints newer than the one a run resumes from: they belong to the abandoned
    path. One that cannot be removed stops the run, naming it: left there, the next `--resume
    auto` would take it for this run's newest."""
    for later_step, folder in _step_folders(root):
        if later_step > step:
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                raise OutputWriteError(
                    f"cannot remove {folder}, a checkpoint newer than step {step} that this resumed run "
                    f"abandons: {exc.strerror or exc}",
                    hint="Remove it (or make it writable) and resume again; the other checkpoints are intact.",
                ) from exc


def rotate(root: Path, keep: int) -> None:
    """Keep the newest `keep` complete checkpoints and the best-scoring one; delete the rest,
    incomplete leftovers included. The newest complete checkpoint is never deleted. Runs after
    every save, so it does not re-hash the checkpoints that this run sealed itself."""
    good = complete_checkpoints(root, hashes=False)
    if not good:
        return
    kept = {c.path for c in good[-max(1, keep) :]}
    scored = [c for c in good if (c.manifest.get("score") or {}).get("value") is not None]
    if scored:

        def signed(c: Checkpoint) -> float:
            return c.manifest["score"]["value"] * (1 if c.manifest["score"]["greater_is_better"] else -1)

        kept.add(max(scored, key=signed).path)
    newest = good[-1].step
    for step, folder in _step_folders(root):
        if folder not in kept and step <= newest:
            shutil.rmtree(folder, ignore_errors=True)
