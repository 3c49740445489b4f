"""One launch, many processes: who speaks for the launch, and decisions taken once for all.

Under `torchrun` or `accelerate launch` (one node or several) every process runs the same run.
Some decisions must come out the same on every process and be taken only once: whether the
output folder may be used (and its lock, held by rank 0), which precision `--precision auto`
picks (a timing, which would differ from process to process), which checkpoint to resume from
(hashing every file once, not once per process). `decided_once` has rank 0 decide and hands its
answer, or its error, to every process; an error is then printed once (by rank 0) and every
process exits with that error's code.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
from typing import Any, Callable, NoReturn, TypeVar

from .errors import TaskrunError, UsageError

log = logging.getLogger("taskrun")
T = TypeVar("T")


def world_size() -> int:
    """How many processes the launch has (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """False in all but rank 0 of a distributed launch (torchrun and accelerate launch set RANK)."""
    return os.environ.get("RANK", "0") == "0"


class RankZeroFailed(TaskrunError):
    """Raised in the other processes when rank 0 failed a decision with an error that is not
    taskrun's: rank 0 prints it (with its traceback); the others only exit."""

    exit_code = 1


def _ensure_process_group() -> None:
    """Start the launch's process group as Trainer would (accelerate's PartialState: gloo on CPUs,
    NCCL on GPUs); Trainer then finds it started and uses it."""
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available())


def decided_once(decide: Callable[[], T]) -> T:
    """`decide()` run by rank 0 only; every process gets its result, or raises its error.

    A `TaskrunError` of rank 0 is raised on every process, marked `shown_elsewhere` on all but
    rank 0 so that the CLI prints it once and each process still exits with its code. Without a
    launcher this is just `decide()`."""
    if world_size() == 1:
        return decide()
    import torch.distributed as dist
    from accelerate import PartialState

    _ensure_process_group()
    outcome: list[Any] = [None]
    failure: BaseException | None = None
    if is_main_process():
        try:
            outcome[0] = ("answer", decide())
        except TaskrunError as exc:
            exc.decided_for_all = True
            outcome[0], failure = ("error", _portable(exc)), exc
        except BaseException as exc:  # a bug or an interrupt: rank 0 shows it; the others only stop
            outcome[0], failure = ("failed", type(exc).__name__), exc
    dist.broadcast_object_list(outcome, src=0, device=PartialState().device)
    if failure is not None:
        raise failure
    kind, value = outcome[0]
    if kind == "answer":
        return value
    if kind == "error":
        value.decided_for_all = value.shown_elsewhere = True
        raise value
    error = RankZeroFailed(f"rank 0 of this launch failed ({value}); its output says why.")
    error.shown_elsewhere = True
    raise error


def exit_together(code: int) -> NoReturn:
    """End this process of a launch with `code`, after a decision failed for every process: once
    every process has come here (so rank 0 has printed why), all exit at once. torchrun stops the
    other processes (SIGTERM) as soon as one has exited: that stop exits with `code` too, so that
    each process reports the error's code, whichever exits first."""
    import torch.distributed as dist

    signal.signal(signal.SIGTERM, lambda *_: os._exit(code))
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        if dist.is_available() and dist.is_initialized():
            dist.barrier()
    except Exception:  # a process that already left: nothing more to wait for
        pass
    os._exit(code)


def _portable(error: TaskrunError) -> TaskrunError:
    """`error` if it survives pickling, as broadcasting needs; else a TaskrunError with its message,
    hint and exit code (for an error class whose constructor takes other arguments)."""
    try:
        copy = pickle.loads(pickle.dumps(error))
    except Exception:
        copy = None
    if type(copy) is type(error):
        return error
    stand_in = TaskrunError(error.message, error.hint)
    stand_in.exit_code = error.exit_code
    return stand_in


def launch_record(trainer: Any) -> dict[str, Any]:
    """How the run was spread over processes, for run_config.json: processes, nodes, and how the
    model was trained: data-parallel (`ddp`), sharded (`fsdp`, with its settings) or `deepspeed`."""
    processes = world_size()
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", processes))
    record: dict[str, Any] = {"processes": processes, "nodes": max(1, processes // max(1, per_node))}
    if getattr(trainer, "is_fsdp_enabled", False):
        plugin = trainer.accelerator.state.fsdp_plugin
        record["parallelism"] = "fsdp"
        record["fsdp"] = {
            "version": getattr(plugin, "fsdp_version", 1),
            "sharding_strategy": str(getattr(plugin, "sharding_strategy", None) or "FULL_SHARD"),
            "reshard_after_forward": str(getattr(plugin, "reshard_after_forward", None)),
            "state_dict_type": str(getattr(plugin, "state_dict_type", None)),
        }
    elif getattr(trainer, "is_deepspeed_enabled", False):
        config = trainer.accelerator.state.deepspeed_plugin.deepspeed_config
        record["parallelism"] = "deepspeed"
        record["deepspeed"] = {"zero_stage": config.get("zero_optimization", {}).get("stage")}
    else:
        record["parallelism"] = "ddp" if processes > 1 else "none"
    return record


def fsdp_asked() -> bool:
    """True when the launcher (accelerate launch with an FSDP config) asks for FSDP."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def check_sharding_possible() -> None:
    """Refuse FSDP without a GPU, before any data loads. accelerate (1.15) turns FSDP on only for
    GPUs and other accelerators: on CPU processes it would quietly train data-parallel instead, or
    crash loading the model where FSDP's RAM-efficient loading left the weights on rank 0 alone.
    (DeepSpeed is not refused: it runs on CPU processes, through its own CPU accelerator.)"""
    if not fsdp_asked():
        return
    import torch

    if not torch.cuda.is_available():
        raise UsageError(
            "the launcher asks for FSDP, which accelerate runs only on GPUs, and this machine has none.",
            hint="On CPU processes, train data-parallel (torchrun --nproc-per-node N -m taskrun run ...) "
            "or shard the optimizer with DeepSpeed ZeRO (accelerate launch with a DeepSpeed config).",
        )
