"""Tracking: the experiment trackers a run reports to (`--report-to`), through Trainer's integrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .errors import UsageError
from .task import suggestion


def check_report_to(names: Sequence[str]) -> tuple[str, ...]:
    """The trackers named, checked against those transformers supports ("none" or nothing: none)."""
    chosen = tuple(name for name in names if name != "none")
    if not chosen:
        return ()
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    for name in chosen:
        if name not in INTEGRATION_TO_CALLBACK:
            raise UsageError(
                f"--report-to {name}: not a tracker transformers supports"
                f"{suggestion(name, tuple(INTEGRATION_TO_CALLBACK))}; "
                f"the choices are {', '.join(sorted(INTEGRATION_TO_CALLBACK))}."
            )
    return chosen


def tracking_setup(names: tuple[str, ...], log_dir: Path) -> tuple[list[str], list[Any]]:
    """What to give TrainingArguments(report_to=...), and the callbacks to add to the Trainer."""
    return list(names), []
