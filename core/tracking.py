"""Experiment trackers (`--report-to`): checked before anything is loaded, then run by Trainer's
own integrations (transformers.integrations.INTEGRATION_TO_CALLBACK).

`check_report_to` fails fast and clearly, in this order, for each tracker named:
- a name transformers does not support: the closest name is suggested;
- offline mode (HF_HUB_OFFLINE, `--offline`) and a tracker that would send the run over the
  network as configured (wandb unless WANDB_MODE is offline or disabled, mlflow with an http(s)
  tracking URI, trackio with a Space or server, ...): the message says how to keep it local;
- its package not installed: the pip command, with taskrun's extra where there is one;
- a setting that would make it fail only once training starts (MLflow's store).
It imports neither transformers nor any tracker (only their names are looked up), so that a
wrong option costs a moment, not the seconds that importing torch takes.

`tracking_setup` makes TensorBoard's callback itself, writing to the folder it is given (the run's
checkpoints folder, so that the event files survive an interruption and are published with the
run), and leaves the others to Trainer's `report_to`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlparse

from .errors import UsageError
from .hub import TRUE_WORDS, offline_mode
from .task import suggestion

_FALSE = {"0", "false", "no", "off"}
# MLflow's own default store since 3.x, where MLFLOW_TRACKING_URI is unset (and ./mlruns holds no runs).
MLFLOW_DEFAULT_STORE = "sqlite:///mlflow.db"
_MLFLOW_DATABASES = {"sqlite", "postgresql", "mysql", "mssql"}  # mlflow.store.db.db_types.DATABASE_ENGINES


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


@dataclass(frozen=True)
class Tracker:
    """What taskrun knows of one of Trainer's integrations."""

    packages: tuple[str, ...]  # what `pip install` takes
    modules: tuple[str, ...]  # the top-level modules it needs, all of them
    extra: str | None = None  # taskrun's optional extra that installs it
    online: Callable[[], str | None] = lambda: None  # why it would use the network as configured; None: local
    local_hint: str = ""  # how to keep it on this machine (for the offline refusal)
    problem: Callable[[], str | None] = lambda: None  # a setting that would make it fail once training starts


def _always(where: str) -> Callable[[], str | None]:
    return lambda: f"it logs to {where}"


def _unless(variable: str, local: tuple[str, ...], where: str) -> Callable[[], str | None]:
    """Online unless the environment variable `variable` is one of `local` (case-insensitive)."""

    def why() -> str | None:
        value = _env(variable)
        if value.lower() in local:
            return None
        choices = ", ".join(local[:-1]) + f" or {local[-1]}" if len(local) > 1 else local[0]
        shown = f"it is {value!r}" if value else "it is not set"
        return f"it logs to {where} unless {variable} is {choices}, and {shown}"

    return why


def _mlflow_online() -> str | None:
    uri = _env("MLFLOW_TRACKING_URI")
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("http", "https", "uc") or uri.lower().startswith("databricks"):  # "databricks" alone too
        return f"MLFLOW_TRACKING_URI is {uri}, a tracking server"
    return None


def _mlflow_problem() -> str | None:
    """The MLflow settings that Trainer's callback or MLflow itself would refuse only once training
    starts, after the model is loaded: the integration turned off, a database store without the
    database driver packages (mlflow-skinny does not install them), a file store that MLflow
    3.13+ refuses."""
    if _env("DISABLE_MLFLOW_INTEGRATION").upper() == "TRUE":
        return "DISABLE_MLFLOW_INTEGRATION is TRUE, which turns Trainer's MLflow logging off: unset it"
    uri = _env("MLFLOW_TRACKING_URI")
    if _mlflow_online():
        return None  # a tracking server keeps its own store
    if not uri and Path("mlruns").is_dir():
        return None  # MLflow goes on with the file store there; it says so itself
    scheme = urlparse(uri or MLFLOW_DEFAULT_STORE).scheme.split("+")[0].lower()
    missing = [name for name in ("sqlalchemy", "alembic") if importlib.util.find_spec(name) is None]
    if scheme in _MLFLOW_DATABASES and missing:
        store = uri or f"{MLFLOW_DEFAULT_STORE}, its default"
        return (
            f"MLflow's database store ({store}) needs {' and '.join(missing)}, which mlflow-skinny does not "
            'install: pip install "taskrun[mlflow]" (the full mlflow), or pip install sqlalchemy alembic, '
            "or set MLFLOW_TRACKING_URI to a tracking server"
        )
    if (
        uri
        and (scheme == "file" or len(scheme) <= 1)  # a file: URI, or a plain path (C:\... on Windows)
        and _env("MLFLOW_ALLOW_FILE_STORE").lower() not in TRUE_WORDS
        and _mlflow_version() >= (3, 13)
    ):
        return (
            f"MLFLOW_TRACKING_URI {uri} is a file store, which MLflow 3.13 and later refuse unless "
            "MLFLOW_ALLOW_FILE_STORE=true: set that, or use a database store such as sqlite:///mlflow.db"
        )
    return None


def _mlflow_version() -> tuple[int, ...]:
    for distribution in ("mlflow", "mlflow-skinny"):
        try:
            version = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    return ()


def _trackio_online() -> str | None:
    for variable, what in (("TRACKIO_SPACE_ID", "a Hugging Face Space"), ("TRACKIO_SERVER_URL", "a Trackio server")):
        if _env(variable):
            return f"{variable} is set: it logs to {what}"
    return None


def _kubeflow_problem() -> str | None:
    if not _env("KUBEFLOW_TRAINER_SERVER_URL"):
        return "it reports to the server in KUBEFLOW_TRAINER_SERVER_URL, which is not set (a Kubeflow TrainJob sets it)"
    return None


# Every name of transformers 5.24's INTEGRATION_TO_CALLBACK (a test keeps the two the same).
TRACKERS: dict[str, Tracker] = {
    "azure_ml": Tracker(("azureml-core",), ("azureml",), online=_always("an Azure ML workspace")),
    "clearml": Tracker(
        ("clearml",),
        ("clearml",),
        online=_unless("CLEARML_OFFLINE_MODE", ("1", "true"), "a ClearML server"),
        local_hint="Set CLEARML_OFFLINE_MODE=1 to record the run locally.",
    ),
    "codecarbon": Tracker(("codecarbon",), ("codecarbon",)),
    "comet_ml": Tracker(
        ("comet-ml",),
        ("comet_ml",),
        online=lambda: None if _env("COMET_START_ONLINE").lower() in _FALSE else "it logs to Comet",
        local_hint="Set COMET_START_ONLINE=0 for an offline experiment (uploaded later with comet upload).",
    ),
    "dagshub": Tracker(("dagshub", "mlflow"), ("dagshub", "mlflow"), online=_always("DagsHub")),
    "dvclive": Tracker(("dvclive",), ("dvclive",)),
    "flyte": Tracker(("flytekit",), ("flytekit",)),
    "kubeflow": Tracker((), (), online=_always("the Kubeflow trainer server"), problem=_kubeflow_problem),
    "mlflow": Tracker(
        ("mlflow",),
        ("mlflow",),
        extra="mlflow",
        online=_mlflow_online,
        local_hint=f"Unset MLFLOW_TRACKING_URI to log to {MLFLOW_DEFAULT_STORE} here, or point it at a local store.",
        problem=_mlflow_problem,
    ),
    "neptune": Tracker(
        ("neptune",),
        ("neptune",),
        online=_unless("NEPTUNE_MODE", ("offline", "debug"), "Neptune"),
        local_hint="Set NEPTUNE_MODE=offline to record the run locally (neptune sync uploads it later).",
    ),
    "swanlab": Tracker(
        ("swanlab",),
        ("swanlab",),
        online=_unless("SWANLAB_MODE", ("local", "offline", "disabled"), "SwanLab's cloud"),
        local_hint="Set SWANLAB_MODE=local to record the run locally.",
    ),
    "tensorboard": Tracker(("tensorboard",), ("tensorboard",), extra="tensorboard"),
    "trackio": Tracker(
        ("trackio",),
        ("trackio",),
        extra="trackio",
        online=_trackio_online,
        local_hint="Unset TRACKIO_SPACE_ID and TRACKIO_SERVER_URL to log locally (trackio show opens it).",
    ),
    "wandb": Tracker(
        ("wandb",),
        ("wandb",),
        extra="wandb",
        online=_unless("WANDB_MODE", ("offline", "dryrun", "disabled"), "Weights & Biases"),
        local_hint="Set WANDB_MODE=offline to record the run locally (wandb sync uploads it later).",
    ),
}


def check_report_to(names: Sequence[str]) -> tuple[str, ...]:
    """The trackers of `--report-to`, checked (see the module's docstring): each name once, in the
    order given; "none" or nothing is no tracker. Items may hold comma-separated names. Raises
    UsageError naming the tracker and what to do."""
    items = [names] if isinstance(names, str) else list(names)
    chosen: list[str] = []
    for item in items:
        for name in (part.strip().lower() for part in str(item).split(",")):
            if name and name not in chosen:
                chosen.append(name)
    if chosen in ([], ["none"]):
        return ()
    if "none" in chosen:
        raise UsageError(f"--report-to {','.join(chosen)}: 'none' turns tracking off and cannot go with trackers.")
    for name in chosen:
        _check_one(name)
    return tuple(chosen)


def _check_one(name: str) -> None:
    if name == "all":
        installed = [n for n, tracker in TRACKERS.items() if tracker.modules and _installed(tracker)]
        raise UsageError(
            "--report-to all: name the trackers instead, so that a run never reports somewhere by surprise "
            f"(installed here: {', '.join(installed) or 'none'})."
        )
    tracker = TRACKERS.get(name)
    if tracker is None:
        raise UsageError(
            f"--report-to {name}: not a tracker that transformers supports{suggestion(name, tuple(TRACKERS))}; "
            f"the choices are none, {', '.join(TRACKERS)}."
        )
    if offline_mode():
        reason = tracker.online()
        if reason:
            raise UsageError(
                f"--report-to {name} needs the network, and offline mode is on (HF_HUB_OFFLINE, which "
                f"--offline sets): {reason}.",
                hint=tracker.local_hint or f"Leave {name} out of --report-to, or run with the network.",
            )
    if not _installed(tracker):
        command = f"pip install {' '.join(tracker.packages)}"
        if tracker.extra:
            command = f'pip install "taskrun[{tracker.extra}]" (or {command})'
        what = f"the {tracker.packages[0]} package is" if len(tracker.packages) == 1 else "its packages are"
        raise UsageError(f"--report-to {name}: {what} not installed.", hint=f"Install: {command}.")
    problem = tracker.problem()
    if problem:
        raise UsageError(f"--report-to {name}: {problem}.")


def _installed(tracker: Tracker) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in tracker.modules)


def tracking_setup(names: tuple[str, ...], log_dir: Path) -> tuple[list[str], list[Any]]:
    """What to give TrainingArguments(report_to=...) for the checked `names`, and the callbacks to
    add to the Trainer: TensorBoard's is taskrun's own, writing to `log_dir` (so "tensorboard" is
    left out of report_to, or Trainer would add a second one); the others are Trainer's."""
    callbacks = [tensorboard_callback(log_dir)] if "tensorboard" in names else []
    return [name for name in names if name != "tensorboard"], callbacks


def tensorboard_callback(log_dir: Path) -> Any:
    """Trainer's TensorBoard callback with its event files in `log_dir`, made there by rank 0 only and
    only when training begins (so nothing is written for a run that fails before). A resumed run
    writes a new event file that tells TensorBoard to drop the interrupted run's events after the
    checkpoint it resumes from (SummaryWriter's purge_step), so each step appears once."""
    from transformers.integrations import TensorBoardCallback

    class RunTensorBoard(TensorBoardCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero and self.tb_writer is None:
                resumed = state.global_step  # restored from the checkpoint before this event
                self.tb_writer = self._SummaryWriter(log_dir=str(log_dir), purge_step=resumed + 1 if resumed else None)
            super().on_train_begin(args, state, control, **kwargs)

    callback = RunTensorBoard()
    callback.logging_dir = str(log_dir)  # instead of TENSORBOARD_LOGGING_DIR, which is process-wide
    return callback
