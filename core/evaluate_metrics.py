"""Metric modules of Hugging Face's `evaluate` library, computed beside the bundled metrics.

A run names them with `--evaluate-metric NAME` (RunConfig.evaluate_metrics), a task with
`TaskSpec.evaluate_metrics`. NAME is a local folder or script of a module (`evaluate.load` of a
path: works offline) or a Hub id (`accuracy`, `seqeval`, `owner/metric`: downloaded, so online
only). `load_modules` loads every one before any data or model is: a path that does not exist,
a module that fails to load, or a Hub id while offline (HF_HUB_OFFLINE, or the Hub unreachable:
taskrun.hub) fails at once, with the name and the reason.

Each module gets its inputs from the task's family (`Family.evaluate_inputs`) and reports in
metrics.json as `MODULE/KEY` (`my_accuracy/accuracy`; a nested dict one level down as
`MODULE/KEY/SUB`); values that are not numbers are left out. Where a KEY is also the name of a
bundled metric and the two disagree by more than `AGREEMENT`, a warning names both figures.

`evaluate` (and so `datasets`) is imported only where a run names a module: `import taskrun`
stays light.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import TaskrunError, UsageError
from .hub import is_hub_id, require_hub

log = logging.getLogger("taskrun")

AGREEMENT = 1e-6  # a module's figure and the bundled one of the same name may differ by this much
OFFLINE_INSTEAD = (
    "Pass the folder of a metric module instead: its script (NAME/NAME.py, an evaluate.Metric), "
    "e.g. a copy of https://huggingface.co/spaces/evaluate-metric/NAME made while online."
)


@dataclass(frozen=True)
class MetricModule:
    """A loaded `evaluate` module: `name` prefixes its results, `source` is the resolved path
    (absolute) or the Hub id it was loaded from."""

    name: str
    source: str
    module: Any


_loaded: dict[str, MetricModule] = {}  # by source: a process loads each module once


def source_of(name: str | Path) -> str:
    """What `name` loads: an existing path made absolute, else `name` as given."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else str(name)


def load_modules(names: Sequence[str | Path], where: str = "--evaluate-metric") -> list[MetricModule]:
    """Every module of `names` loaded (each once per process, in order, duplicates once). Raises a
    UsageError for a missing path, a module that cannot be loaded or two modules of one name,
    and taskrun.hub's HubUnavailableError for a Hub id that cannot be downloaded."""
    modules: list[MetricModule] = []
    for name in names:
        source = source_of(name)
        if source not in _loaded:
            _loaded[source] = _load(str(name), source, where)
        module = _loaded[source]
        if any(m.source == source for m in modules):
            continue
        same_name = next((m for m in modules if m.name == module.name), None)
        if same_name is not None:
            raise UsageError(
                f"{where}: two metric modules are called {module.name!r} ({same_name.source} and {source}); "
                "their results would have the same names.",
                hint="Rename one module's script (its file name is its name).",
            )
        modules.append(module)
    return modules


def _load(name: str, source: str, where: str) -> MetricModule:
    path = Path(source)
    if not path.exists():
        if not is_hub_id(name):
            raise UsageError(f"{where} {name}: no such file or folder, and not the name of a module on the Hub.")
        require_hub(f"evaluate metric {name!r} (no such local file or folder)", instead=OFFLINE_INSTEAD)
    script = path / f"{path.name}.py" if path.is_dir() else path
    if path.exists() and not script.is_file():
        raise UsageError(
            f"{where} {name}: {path} holds no metric script {script.name} (a module's folder holds NAME/NAME.py)."
        )
    import evaluate

    try:
        module = evaluate.load(source, keep_in_memory=True)  # no cache files or locks: computed in memory
    except TaskrunError:
        raise
    except Exception as exc:  # a module's own code: any error at all
        what = script if path.exists() else f"the Hub module {name!r}"
        raise UsageError(f"{where} {name}: cannot load {what}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(module, evaluate.EvaluationModule):
        raise UsageError(f"{where} {name}: {source} is not an evaluate module (got {type(module).__name__}).")
    return MetricModule(name=str(module.name), source=source, module=module)


def module_scores(modules: Sequence[MetricModule], predictions: Any, references: Any) -> dict[str, float]:
    """Each module's numbers for the family's inputs, as `MODULE/KEY` (and `MODULE/KEY/SUB`)."""
    scores: dict[str, float] = {}
    for metric in modules:
        try:
            answer = metric.module.compute(predictions=predictions, references=references)
        except Exception as exc:
            raise UsageError(
                f"evaluate metric {metric.name!r} ({metric.source}) failed on the task's predictions: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        for key, value in (answer or {}).items():
            if isinstance(value, dict):
                for sub, item in value.items():
                    if _is_number(item):
                        scores[f"{metric.name}/{key}/{sub}"] = float(item)
            elif _is_number(value):
                scores[f"{metric.name}/{key}"] = float(value)
    return scores


def disagreements(scores: dict[str, float], bundled: dict[str, float]) -> list[str]:
    """A sentence for each module figure `MODULE/KEY` whose KEY is a bundled metric's name and
    whose value differs from it by more than AGREEMENT (a module that counts another class as
    positive, averages otherwise, ...)."""
    found = []
    for name, value in scores.items():
        parts = name.split("/")
        if len(parts) != 2 or parts[1] not in bundled:
            continue
        ours = bundled[parts[1]]
        if not (math.isclose(value, ours, rel_tol=0, abs_tol=AGREEMENT) or (math.isnan(value) and math.isnan(ours))):
            found.append(
                f"evaluate metric {name} = {value:.6g} disagrees with taskrun's {parts[1]} = {ours:.6g}: "
                "the module computes it differently (another positive class, average or input)"
            )
    return found


def _is_number(value: Any) -> bool:
    """A real number (numpy's too), not a bool, a string or an array."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
