"""The one exception family of taskrun.

Every error a user can cause or fix derives from `TaskrunError`. The CLI turns it into a short
message on stderr and the class's `exit_code`; anything else is a bug and keeps its traceback.
Set TASKRUN_TRACEBACK=1 to see the traceback of a `TaskrunError` too.
"""

from __future__ import annotations

__all__ = [
    "TaskrunError",
    "UsageError",
    "DataError",
    "OutputExistsError",
    "OutputBusyError",
    "ModelSourceError",
    "HubUnavailableError",
    "PluginError",
    "CheckpointError",
    "OutputWriteError",
    "TrainingError",
    "ParityError",
]


class TaskrunError(Exception):
    """Base class: a problem the user can act on. `hint` says what to do instead."""

    exit_code = 1
    # In a distributed launch, an error of a decision rank 0 took for every process
    # (taskrun.launch.decided_once) is `decided_for_all` on every process, and `shown_elsewhere`
    # on all but rank 0: rank 0 prints it, and every process exits with its code.
    decided_for_all = False
    shown_elsewhere = False

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class UsageError(TaskrunError):
    """An option or argument that cannot work (unknown task, conflicting options, ...)."""

    exit_code = 2


class DataError(TaskrunError):
    """User data that cannot be read or used: names the file, line, column and value."""

    exit_code = 2


class OutputExistsError(TaskrunError):
    """The output directory already holds something that a run would overwrite."""

    exit_code = 2


class OutputBusyError(TaskrunError):
    """Another run is writing to the same output directory right now."""

    exit_code = 2


class ModelSourceError(TaskrunError):
    """A model or tokenizer that cannot be found or loaded."""

    exit_code = 3


class HubUnavailableError(TaskrunError):
    """The Hugging Face Hub is needed but offline mode is on or the Hub cannot be reached."""

    exit_code = 3


class PluginError(TaskrunError):
    """A plugin that fails to load, conflicts with another, or raises inside a hook."""

    exit_code = 4


class CheckpointError(TaskrunError):
    """A checkpoint that cannot be resumed from: incomplete, damaged, unsafe, or from another run."""

    exit_code = 5


class OutputWriteError(TaskrunError):
    """A file of the run cannot be written (disk full, read-only folder, no permission): the
    message names the path and what is still intact."""

    exit_code = 7


class TrainingError(TaskrunError):
    """Training went wrong in a way the settings can fix: a non-finite loss or model."""

    exit_code = 6


class ParityError(TaskrunError):
    """An exported model answers differently from the run it came from, beyond what its format
    allows (`taskrun export`): nothing was written."""

    exit_code = 8
