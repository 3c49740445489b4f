"""The run folder: which files a run leaves, what run_config.json and metrics.json hold, and the
version of that format. Every other module reads and writes these files through here.

run_config.json is written last, so a folder that holds it is a finished run; it carries
`format_version`. A file without one was written before versions were (taskrun 0.2.0's first
format, version 1): `from_dict` reads it and fills in what it lacks (the evaluation batch size,
then inferred from the training one), so that predict, eval and compare take old and new runs
alike; `to_dict` writes the current format. Entries this version does not know are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from .files import not_regular, write_json
from .models import eval_batch_size
from .task import RunConfig, greater_is_better

FORMAT_VERSION = 2  # 1: taskrun 0.2.0 before versions were written (no `format_version`, no `eval_batch_size`)
FORMAT_KEY = "format_version"

# What a run folder holds, besides the model and tokenizer files that transformers writes.
RUN_CONFIG = "run_config.json"  # the settings, labels, versions and files; written last: the run is finished
METRICS = "metrics.json"  # the training figures and the final evaluation
MODEL_CARD = "README.md"  # the Hub's model card
CHECKPOINTS = "checkpoints"  # only while the run trains, or after it was interrupted
TRACKING_LOGS = "logs"  # the trackers' local files (TensorBoard), where the run logged to one
PICKLED_ARGS = "training_args.bin"  # Trainer's pickled arguments: deleted, run_config.json holds them
ADAPTER = "adapter"  # a --lora run's adapter (peft), beside the merged model
ONNX_MODEL = "model.onnx"  # an exported folder's model (`taskrun export`), instead of model.safetensors
EXPORT_RECORD = "export.json"  # how the folder was exported, and the parity measured then

SEQUENCE_CLASSIFICATION = "sequence-classification"  # the family of runs recorded before families
SETTINGS = tuple(f.name for f in fields(RunConfig) if f.name != "sources")  # RunConfig's part of the record


class NotARegularFile(OSError):
    """A record file that is a FIFO, a socket or a device: never read (a FIFO would block)."""

    def __init__(self, path: Path, kind: str):
        super().__init__(f"not a regular file but {kind}")
        self.strerror = f"not a regular file but {kind}"
        self.filename = str(path)


class NotAnObject(ValueError):
    """A record file that is valid JSON but not a JSON object."""

    def __init__(self, path: Path, data: Any):
        self.kind = type(data).__name__
        super().__init__(f"{path}: a JSON object is expected, not {self.kind}")


def _of(value: Any, kind: type, default: Any) -> Any:
    """`value` where it has the type a record entry needs (a flag is no number), else the default."""
    return value if isinstance(value, kind) and not isinstance(value, bool) else default


@dataclass
class RunRecord:
    """run_config.json: the run's resolved settings, what it was (task, family, labels), how it
    ran (precision, evaluation batch size, launch, versions) and the files it wrote."""

    settings: dict[str, Any]  # the RunConfig's fields, as recorded (`config()` reads them)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # each option's value and source
    plugin: str | None = None
    family: str = SEQUENCE_CLASSIFICATION
    pipeline_tag: str = "text-classification"
    problem_type: str = "single-label"
    label_column: str = "label"
    precision_used: str = "fp32"
    eval_batch_size: int = 32  # the batch size of the run's own evaluation, which `taskrun eval` repeats
    labels: list[str] = field(default_factory=list)
    text_inputs: list[str] = field(default_factory=lambda: ["text"])  # the input columns the model trained on
    versions: dict[str, str | None] = field(default_factory=dict)
    launch: dict[str, Any] = field(default_factory=dict)
    files: list[str] | None = None  # what --overwrite may replace; None where not recorded
    format_version: int = FORMAT_VERSION  # the format the record was read in
    extra: dict[str, Any] = field(default_factory=dict)  # entries this version does not know, kept

    @property
    def task(self) -> str | None:
        task = self.settings.get("task")
        return task if isinstance(task, str) else None

    def config(self) -> RunConfig:
        """The run's settings as a RunConfig."""
        return RunConfig.from_dict(self.settings)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """A record of any format: version 1 (no `format_version`) gets its evaluation batch size
        inferred as the run's evaluation chose it (twice the training batch size)."""
        version = data.get(FORMAT_KEY)
        version = version if isinstance(version, int) and not isinstance(version, bool) else 1
        settings = {key: value for key, value in data.items() if key in SETTINGS}
        batch_size = settings.get("batch_size")
        inferred = eval_batch_size(batch_size if isinstance(batch_size, int) else 16)
        files = data.get("files")
        known = {f.name for f in fields(cls)} - {"settings", "extra"}
        return cls(
            settings=settings,
            options=_of(data.get("options"), dict, {}),
            plugin=_of(data.get("plugin"), str, None),
            family=_of(data.get("family"), str, SEQUENCE_CLASSIFICATION),
            pipeline_tag=_of(data.get("pipeline_tag"), str, "text-classification"),
            problem_type=_of(data.get("problem_type"), str, "single-label"),
            label_column=_of(data.get("label_column"), str, None) or "label",
            precision_used=_of(data.get("precision_used"), str, None) or "fp32",
            eval_batch_size=_of(data.get("eval_batch_size"), int, inferred),
            labels=list(_of(data.get("labels"), list, [])),
            text_inputs=list(_of(data.get("text_inputs"), list, None) or ["text"]),
            versions=_of(data.get("versions"), dict, {}),
            launch=_of(data.get("launch"), dict, {}),
            files=list(files) if isinstance(files, list) else None,
            format_version=version,
            extra={key: value for key, value in data.items() if key not in known and key not in SETTINGS},
        )

    def to_dict(self) -> dict[str, Any]:
        """The record in the current format, as run_config.json holds it."""
        out: dict[str, Any] = {FORMAT_KEY: FORMAT_VERSION, **self.settings}
        out.update(
            options=self.options,
            plugin=self.plugin,
            family=self.family,
            pipeline_tag=self.pipeline_tag,
            problem_type=self.problem_type,  # a setting too: it keeps the settings' place
            label_column=self.label_column,
            precision_used=self.precision_used,
            eval_batch_size=self.eval_batch_size,
            labels=self.labels,
            text_inputs=self.text_inputs,
            versions=self.versions,
            launch=self.launch,
        )
        if self.files is not None:
            out["files"] = self.files
        return {**out, **{key: value for key, value in self.extra.items() if key not in out}}


# metrics.json's entries, in the order they are written
METRICS_ENTRIES = (
    "task",
    "family",
    "problem_type",
    "train",
    "eval",
    "primary_metric",
    "truncated",
    "best",
    "stopped_early",
    "eval_history",
    "seconds",
    "pictures",
)


@dataclass
class MetricsRecord:
    """metrics.json: the training figures, the final evaluation, the primary metric, the model
    kept and the time. Entries a record lacks are None (or empty) and left out of `to_dict`."""

    task: str | None = None
    family: str | None = None
    problem_type: str | None = None
    train: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)  # `eval`
    primary_metric: dict[str, Any] | None = None  # {"name": ..., "greater_is_better": ...}
    truncated: dict[str, int] | None = None
    best: dict[str, Any] | None = None
    stopped_early: bool | None = None
    eval_history: list[dict[str, Any]] | None = None
    seconds: float | None = None  # the whole run's time
    pictures: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # entries this version does not know, kept

    @property
    def primary(self) -> tuple[str, bool]:
        """The primary metric's name and whether higher is better; for a record without it, the
        first metric other than the loss, by its name's direction."""
        recorded = self.primary_metric or {}
        if isinstance(recorded.get("name"), str):
            higher = recorded.get("greater_is_better")
            return recorded["name"], higher if isinstance(higher, bool) else greater_is_better(recorded["name"])
        name = next((m for m in self.scores if m != "loss"), "loss")
        return name, greater_is_better(name)

    @property
    def deciding(self) -> tuple[str, bool]:
        """The metric that picked the published model (`--metric-for-best`, else the primary) and
        whether higher is better: what `compare` stars and `tune` scores, one rule for both."""
        best = self.best or {}
        if isinstance(best.get("metric"), str):
            higher = best.get("greater_is_better")
            return best["metric"], higher if isinstance(higher, bool) else greater_is_better(best["metric"])
        return self.primary

    @property
    def scores(self) -> dict[str, float]:
        """The scalar validation metrics (loss included), in the order the record holds them."""
        from .scoring import scores_of  # numpy: only once scores are asked for

        return scores_of(self.evaluation)

    def train_figure(self, key: str) -> float | None:
        return _number(self.train.get(key))

    @property
    def total_seconds(self) -> float | None:
        """The whole run's time, else (a record without it) the training time."""
        seconds = _number(self.seconds)
        return seconds if seconds is not None else self.train_figure("runtime")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricsRecord:
        """A record of any format; an entry of the wrong type counts as missing."""
        seconds = data.get("seconds")
        return cls(
            task=_of(data.get("task"), str, None),
            family=_of(data.get("family"), str, None),
            problem_type=_of(data.get("problem_type"), str, None),
            train=_of(data.get("train"), dict, {}),
            evaluation=_of(data.get("eval"), dict, {}),
            primary_metric=_of(data.get("primary_metric"), dict, None),
            truncated=_of(data.get("truncated"), dict, None),
            best=_of(data.get("best"), dict, None),
            stopped_early=data.get("stopped_early") if isinstance(data.get("stopped_early"), bool) else None,
            eval_history=_of(data.get("eval_history"), list, None),
            seconds=seconds if _number(seconds) is not None else None,
            pictures=_of(data.get("pictures"), list, None),
            extra={key: value for key, value in data.items() if key not in METRICS_ENTRIES},
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as metrics.json holds it: entries in their order, those not recorded left out."""
        values = {key: getattr(self, "evaluation" if key == "eval" else key) for key in METRICS_ENTRIES}
        out = {key: value for key, value in values.items() if value is not None}
        return {**out, **{key: value for key, value in self.extra.items() if key not in out}}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# -- reading and writing -----------------------------------------------------------------------


def is_finished(folder: Path) -> bool:
    """Whether `folder` holds a finished run (its run_config.json, written last)."""
    return (Path(folder) / RUN_CONFIG).is_file()


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object a record file holds. Raises OSError (FileNotFoundError where it is
    missing, NotARegularFile for a FIFO or device, never read), UnicodeDecodeError,
    json.JSONDecodeError, or NotAnObject."""
    kind = not_regular(path)
    if kind:
        raise NotARegularFile(path, kind)
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise NotAnObject(path, data)
    return data


def read_run_config(folder: Path) -> RunRecord:
    """The run record of `folder`; raises OSError or ValueError (see `read_json_object`)."""
    return RunRecord.from_dict(read_json_object(Path(folder) / RUN_CONFIG))


def read_metrics(folder: Path) -> MetricsRecord:
    """The metrics record of `folder`; raises OSError or ValueError (see `read_json_object`)."""
    return MetricsRecord.from_dict(read_json_object(Path(folder) / METRICS))


def write_run_config(folder: Path, record: RunRecord) -> None:
    write_json(Path(folder) / RUN_CONFIG, record.to_dict())


def write_metrics(folder: Path, metrics: MetricsRecord) -> None:
    write_json(Path(folder) / METRICS, metrics.to_dict())


def recorded_files(folder: Path) -> set[str] | None:
    """The files a finished run in `folder` lists as taskrun's (those --overwrite may replace), or
    None where there is no readable record."""
    try:
        files = read_run_config(folder).files
    except (OSError, ValueError):
        return None
    return None if files is None else {str(name) for name in files}


def finished_metrics(folder: Path) -> MetricsRecord | None:
    """The metrics of a finished run in `folder` (one with its run record), else None."""
    if not is_finished(folder):
        return None
    try:
        return read_metrics(folder)
    except (OSError, ValueError):
        return None
