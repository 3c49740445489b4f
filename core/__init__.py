"""taskrun: fine-tune a pretrained Hugging Face model on a registered task, in one command.

From Python: `taskrun.run`, `taskrun.run_seeds`, `taskrun.tune`, `taskrun.predict`,
`taskrun.evaluate` and `taskrun.export` (docs/api.md); they are imported on first use, so `import taskrun` stays light.
Plugin authors need `hookimpl`, `TaskSpec` and `TaskOption` from here, and `Family` to add a
family of tasks of their own (docs/plugins.md).
"""

from typing import Any

from .family import Family, PredictRows
from .hookspecs import hookimpl
from .task import Predictions, RunConfig, TaskOption, TaskSpec

__version__ = "0.2.0"
API = ("run", "run_seeds", "tune", "predict", "evaluate", "export")
RESULTS = {
    "RunResult": "runner",
    "SeedsResult": "seeds",
    "TuneResult": "search",
    "ExportResult": "onnx_export",
}  # what the API returns
__all__ = [
    "hookimpl",
    "Family",
    "PredictRows",
    "Predictions",
    "RunConfig",
    "TaskOption",
    "TaskSpec",
    "__version__",
    *API,
    *RESULTS,
]


def __getattr__(name: str) -> Any:
    if name in API:
        from . import api

        return getattr(api, name)
    if name in RESULTS:
        import importlib

        return getattr(importlib.import_module(f".{RESULTS[name]}", __name__), name)
    raise AttributeError(f"module 'taskrun' has no attribute {name!r}")
