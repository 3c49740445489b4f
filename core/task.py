"""The data types that travel between the core and the plugins: `TaskSpec`, `TaskOption`,
`RunConfig` and `Predictions`.

A `TaskSpec` checks itself when it is made, so that a plugin's mistake (an unknown
hyperparameter, a value of the wrong type, a metric name with a typo) fails at registration with
the field named, not silently at run time. A `RunConfig` is frozen: the runner resolves it once,
and no hook can change what the other stages see.

Nothing here imports torch, transformers or datasets, so that listing tasks stays fast.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

PROBLEM_TYPES = ("single-label", "multi-label", "regression")
MAX_SEED = 2**32 - 1  # numpy's seeds are 0 .. 2**32 - 1
# The built-in families (taskrun.family) and the problems each solves; a plugin's own family is a
# `taskrun.Family` object that says its problems itself.
FAMILY_PROBLEMS = {"sequence-classification": PROBLEM_TYPES, "token-classification": ("single-label",)}

# Every hyperparameter a task (or registry.toml) may set, with its type and allowed range: one
# place for the TaskSpec check, the registry check and the command line's defaults.
HYPERPARAMETERS: dict[str, tuple[type, str]] = {
    "epochs": (float, "a number above 0"),
    "learning_rate": (float, "a number above 0"),
    "batch_size": (int, "a whole number of at least 1"),
    "max_length": (int, "a whole number of at least 8"),
    "seed": (int, "a whole number from 0 to 4294967295"),
    "warmup_ratio": (float, "a number from 0 up to (not including) 1"),
    "weight_decay": (float, "a number of at least 0"),
    "dropout": (float, "a number from 0 up to (not including) 1, or None"),
    "freeze_embeddings": (bool, "true or false"),
    "lora": (bool, "true or false"),
    "lora_r": (int, "a whole number of at least 1"),
    "lora_alpha": (int, "a whole number of at least 1"),
}
_IN_RANGE = {
    "epochs": lambda v: v > 0,
    "learning_rate": lambda v: v > 0,
    "batch_size": lambda v: v >= 1,
    "max_length": lambda v: v >= 8,
    "seed": lambda v: 0 <= v <= MAX_SEED,
    "warmup_ratio": lambda v: 0 <= v < 1,
    "weight_decay": lambda v: v >= 0,
    "dropout": lambda v: 0 <= v < 1,
    "freeze_embeddings": lambda v: True,
    "lora": lambda v: True,
    "lora_r": lambda v: v >= 1,
    "lora_alpha": lambda v: v >= 1,
}
# Names people type that difflib would not find.
_ALIASES = {
    "lr": "learning_rate",
    "bs": "batch_size",
    "batch": "batch_size",
    "wd": "weight_decay",
    "warmup": "warmup_ratio",
    "max_len": "max_length",
    "maxlen": "max_length",
    "n_epochs": "epochs",
}

# Metric names whose lower values are better; every other metric is better higher.
LOWER_IS_BETTER = frozenset({"loss", "mse", "rmse", "mae", "error", "perplexity"})
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ReadOnlyDict(dict):
    """A dict that refuses changes, so that a hook cannot alter what other stages see; it still
    pickles and serialises as JSON like a dict."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("this mapping is read-only: the run's settings are resolved once, before any hook")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReadOnlyDict, (dict(self),))


class TaskSpecError(ValueError):
    """A `TaskSpec` or `TaskOption` that cannot work; the message names the task and the field."""


def suggestion(name: str, known: list[str] | tuple[str, ...]) -> str:
    """` (did you mean 'x'?)` for the closest known name, or ''."""
    close = _ALIASES.get(name) if _ALIASES.get(name) in known else None
    close = close or next(iter(difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)), None)
    return f" (did you mean {close!r}?)" if close else ""


def check_hyperparameters(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check names, types and ranges of task defaults; returns them with ints made floats where a
    float is meant. Raises TaskSpecError naming `where` (the task or the registry entry)."""
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in HYPERPARAMETERS:
            raise TaskSpecError(
                f"{where}: hyperparameters: unknown key {key!r}{suggestion(key, tuple(HYPERPARAMETERS))}; "
                f"the keys are {', '.join(HYPERPARAMETERS)}"
            )
        kind, meaning = HYPERPARAMETERS[key]
        if key == "dropout" and value is None:
            checked[key] = None
            continue
        right_type = (
            isinstance(value, bool)
            if kind is bool
            else (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and (kind is float or isinstance(value, int))
            )
        )
        if not right_type or not math.isfinite(value) or not _IN_RANGE[key](value):
            finite = "" if not right_type or math.isfinite(value) else ", and finite"
            raise TaskSpecError(f"{where}: hyperparameters: {key} must be {meaning}{finite}, not {value!r}")
        checked[key] = float(value) if kind is float else value
    return checked


def check_search_space(space: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """Check a search space for `taskrun tune`: each key a hyperparameter, each value either
    `{choices = [...]}` or `{low = A, high = B}` with optional `log = true` or `step = S`; every
    value in range for its hyperparameter. Raises TaskSpecError naming `where` and the key."""
    checked: dict[str, dict[str, Any]] = {}
    for key, spec in space.items():
        if key not in HYPERPARAMETERS:
            raise TaskSpecError(
                f"{where}: search space: unknown hyperparameter {key!r}{suggestion(key, tuple(HYPERPARAMETERS))}; "
                f"the keys are {', '.join(HYPERPARAMETERS)}"
            )
        if not isinstance(spec, Mapping) or not (set(spec) <= {"choices", "low", "high", "log", "step"}):
            raise TaskSpecError(
                f"{where}: search space: {key} must be {{choices = [...]}} or {{low = A, high = B}} "
                f"(with log = true or step = S), not {spec!r}"
            )
        if "choices" in spec:
            choices = spec["choices"]
            if set(spec) != {"choices"} or not isinstance(choices, (list, tuple)) or not choices:
                raise TaskSpecError(f"{where}: search space: {key}: choices must be a non-empty list, alone")
            checked[key] = {"choices": [check_hyperparameters({key: c}, where)[key] for c in choices]}
            continue
        if "low" not in spec or "high" not in spec:
            raise TaskSpecError(f"{where}: search space: {key} needs low and high (or choices)")
        if HYPERPARAMETERS[key][0] is bool:
            raise TaskSpecError(f"{where}: search space: {key} is true or false: give choices = [true, false]")
        low, high = (check_hyperparameters({key: spec[bound]}, where)[key] for bound in ("low", "high"))
        if not low < high:
            raise TaskSpecError(f"{where}: search space: {key}: low ({low}) must be below high ({high})")
        if spec.get("log") and spec.get("step"):
            raise TaskSpecError(f"{where}: search space: {key}: log and step cannot go together")
        if "log" in spec and not isinstance(spec["log"], bool):
            raise TaskSpecError(f"{where}: search space: {key}: log must be true or false")
        step = spec.get("step", 1)
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step) or step <= 0:
            raise TaskSpecError(f"{where}: search space: {key}: step must be a finite number above 0")
        if "step" in spec and HYPERPARAMETERS[key][0] is int and not isinstance(spec["step"], int):
            raise TaskSpecError(f"{where}: search space: {key}: step must be a whole number, as {key} is")
        if spec.get("log") and low <= 0:
            raise TaskSpecError(f"{where}: search space: {key}: a log scale needs low above 0, not {low}")
        checked[key] = {"low": low, "high": high, **{k: spec[k] for k in ("log", "step") if k in spec}}
    return checked


def greater_is_better(metric: str) -> bool:
    """Whether a higher value of `metric` is better (losses and errors: lower is better)."""
    return not (metric in LOWER_IS_BETTER or metric.endswith("_loss") or metric.endswith("_error"))


def module_names(value: Any, where: str, error: type[Exception]) -> tuple[str, ...]:
    """`evaluate` module names as a tuple of strings: one name or path, or a list of them."""
    items = (value,) if isinstance(value, (str, Path)) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, (str, Path)) and str(v) for v in items):
        raise error(f"{where}: a metric module's path or Hub id, or a list of them, not {value!r}")
    return tuple(str(v) for v in items)


@dataclass(frozen=True)
class TaskOption:
    """A command-line option of one task, shown by `taskrun run TASK --help`.

    `name` is the option as typed (`--text-column`); its value reaches the hooks as
    `config.task_options["text_column"]`. `type` is one of str, int, float, bool, "path",
    or a tuple of allowed strings.
    """

    name: str
    help: str
    type: Any = str
    default: Any = None
    required: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.match(r"^--[a-z0-9][a-z0-9-]*$", self.name):
            raise TaskSpecError(f"TaskOption {self.name!r}: the name must look like --some-option (lowercase)")
        valid_type = self.type in (str, int, float, bool, "path") or (
            isinstance(self.type, tuple) and self.type and all(isinstance(t, str) for t in self.type)
        )
        if not valid_type:
            raise TaskSpecError(
                f"TaskOption {self.name}: type must be str, int, float, bool, 'path' or a tuple of strings, "
                f"not {self.type!r}"
            )

    @property
    def key(self) -> str:
        return self.name.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class TaskSpec:
    """What a plugin registers: a task's name, how its data looks, what it reports.

    - `text_columns`: the one or two text columns that the default preprocessing encodes (two
      are encoded together as a pair; the second is used where a split has it).
    - `label_column`: the label; `labels`: the label names where the task fixes them (None: they
      come from the data).
    - `problem_type`: the task's default problem; `problem_types`: every problem it can run as,
      where there is a choice (the user picks with `--problem`; hooks read `config.problem_type`).
    - `search_space`: what `taskrun tune` searches by default (`check_search_space`; empty: the
      core's `taskrun.search.DEFAULT_SPACE`).
    - `default_model`, `hyperparameters`: the task's defaults (keys: `HYPERPARAMETERS`); for
      built-in tasks registry.toml fills them in.
    - `metrics`: the names of the metrics the task reports (empty: the core's defaults for the
      problem type); `primary_metric`: the one that picks the best checkpoint and is plotted
      (default: the first reported); `greater_is_better`: its direction (default: from the name,
      lower for losses and errors); `positive_label`: with two labels, the one `f1` is of (the
      user's `--positive-label` overrides it; default: the second label in order);
      `metrics_help`: display text for `taskrun info`.
    - `options`: the task's own command-line options; `uses_data_dir` adds `--data-dir`;
      `data_source` says in a sentence where the data comes from.
    - `family`: the shape of the task, which brings every default that depends on it (see
      `taskrun.Family`): "sequence-classification" (the default), "token-classification", or a
      `taskrun.Family` object a plugin defines.
    - `evaluate_metrics`: `evaluate` metric modules the task's runs compute beside the bundled
      metrics (taskrun.evaluate_metrics): local folders or scripts (give absolute paths, e.g.
      from the plugin's `__file__`) or Hub ids (online only); reported as `MODULE/KEY`.
    - `plugin` is set by the core to the registering plugin.

    Every field is checked here: a mistake raises `TaskSpecError` naming the task and the field.
    """

    name: str
    description: str = ""
    problem_type: str = "single-label"
    text_columns: tuple[str, ...] = ("text",)
    label_column: str = "label"
    labels: tuple[str, ...] | None = None
    default_model: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    search_space: Mapping[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    primary_metric: str | None = None
    greater_is_better: bool | None = None
    positive_label: str | None = None
    metrics_help: str = ""
    options: tuple[TaskOption, ...] = ()
    uses_data_dir: bool = False
    data_source: str = ""
    problem_types: tuple[str, ...] = ()
    family: Any = "sequence-classification"
    evaluate_metrics: tuple[str, ...] = ()
    plugin: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TASK_NAME.match(self.name):
            raise TaskSpecError(f"TaskSpec name {self.name!r}: use letters, digits, '-', '_' and '.' (no spaces)")
        where = f"task {self.name!r}"
        for name in ("description", "label_column", "metrics_help", "data_source"):
            if not isinstance(getattr(self, name), str):
                raise TaskSpecError(f"{where}: {name} must be a string, not {getattr(self, name)!r}")
        allowed = self._family_problems(where)
        if self.problem_type == "single-label" and self.problem_type not in allowed:
            self._set("problem_type", allowed[0])  # the default, for a family without single-label problems
        if self.problem_type not in allowed:
            raise TaskSpecError(f"{where}: problem_type must be one of {', '.join(allowed)}, not {self.problem_type!r}")
        self._set("problem_types", self._strings("problem_types", self.problem_types))
        unknown = [p for p in self.problem_types if p not in allowed]
        if unknown:
            raise TaskSpecError(f"{where}: problem_types: unknown {unknown}; choose from {', '.join(allowed)}")
        if self.problem_types and self.problem_type not in self.problem_types:
            raise TaskSpecError(f"{where}: problem_types must include problem_type {self.problem_type!r}")
        self._set("text_columns", self._strings("text_columns", self.text_columns))
        if not 1 <= len(self.text_columns) <= 2:
            raise TaskSpecError(f"{where}: text_columns holds one or two column names, not {len(self.text_columns)}")
        if self.labels is not None:
            self._set("labels", self._strings("labels", self.labels))
            if len(set(self.labels)) != len(self.labels) or not all(self.labels):
                raise TaskSpecError(f"{where}: labels must be distinct, non-empty names: {list(self.labels)}")
        if self.default_model is not None and not isinstance(self.default_model, str):
            raise TaskSpecError(f"{where}: default_model must be a string or None, not {self.default_model!r}")
        if not isinstance(self.hyperparameters, Mapping):
            raise TaskSpecError(f"{where}: hyperparameters must be a dict, not {type(self.hyperparameters).__name__}")
        self._set("hyperparameters", ReadOnlyDict(check_hyperparameters(self.hyperparameters, where)))
        if not isinstance(self.search_space, Mapping):
            raise TaskSpecError(f"{where}: search_space must be a dict, not {type(self.search_space).__name__}")
        self._set("search_space", ReadOnlyDict(check_search_space(self.search_space, where)))
        self._check_metrics(where)
        self._set("evaluate_metrics", module_names(self.evaluate_metrics, f"{where}: evaluate_metrics", TaskSpecError))
        self._set("options", tuple(self.options))
        for option in self.options:
            if not isinstance(option, TaskOption):
                raise TaskSpecError(f"{where}: options holds TaskOption objects, not {option!r}")
        keys = [option.key for option in self.options]
        if len(set(keys)) != len(keys):
            raise TaskSpecError(f"{where}: options: two options share a name: {keys}")

    def _family_problems(self, where: str) -> tuple[str, ...]:
        """The problems the task's family solves; an unknown family name is refused."""
        if isinstance(self.family, str):
            if self.family not in FAMILY_PROBLEMS:
                raise TaskSpecError(
                    f"{where}: family must be one of {', '.join(FAMILY_PROBLEMS)} or a taskrun.Family object, "
                    f"not {self.family!r}{suggestion(self.family, tuple(FAMILY_PROBLEMS))}"
                )
            return FAMILY_PROBLEMS[self.family]
        name, problems = getattr(self.family, "name", None), getattr(self.family, "problem_types", None)
        if not isinstance(name, str) or not name or not isinstance(problems, tuple) or not problems:
            raise TaskSpecError(
                f"{where}: family must be a family's name or a taskrun.Family object, not {self.family!r}"
            )
        return problems

    @property
    def family_name(self) -> str:
        """The name of the task's family, as run folders record it."""
        return self.family if isinstance(self.family, str) else str(self.family.name)

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _strings(self, name: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise TaskSpecError(f"task {self.name!r}: {name} must be a tuple of strings, not {value!r}")
        return tuple(value)

    def _check_metrics(self, where: str) -> None:
        names = self._strings("metrics", self.metrics)
        legacy = [m for m in names if re.search(r"[\s(),]", m)]
        if legacy:  # taskrun 0.1 mixed display text into `metrics`: keep it working, shown as help
            warnings.warn(
                f"{where}: metrics {legacy} look like display text; since taskrun 0.2 `metrics` holds metric "
                "names only. Put the text in `metrics_help=`. (Accepted as help text until taskrun 0.3.)",
                DeprecationWarning,
                stacklevel=4,
            )
            names = tuple(m for m in names if m not in legacy)
            self._set("metrics_help", "; ".join(filter(None, [self.metrics_help, *legacy])))
        bad = [m for m in names if not _NAME.match(m)]
        if bad:
            raise TaskSpecError(f"{where}: metrics: {bad[0]!r} is not a metric name (lowercase, digits and _)")
        if len(set(names)) != len(names):
            raise TaskSpecError(f"{where}: metrics: a name appears twice: {list(names)}")
        self._set("metrics", names)
        if self.primary_metric is not None:
            if not isinstance(self.primary_metric, str) or not _NAME.match(self.primary_metric):
                raise TaskSpecError(f"{where}: primary_metric {self.primary_metric!r} is not a metric name")
            if names and self.primary_metric not in names:
                raise TaskSpecError(
                    f"{where}: primary_metric {self.primary_metric!r} is not among metrics {list(names)}"
                    f"{suggestion(self.primary_metric, names)}"
                )
        if self.greater_is_better is not None and not isinstance(self.greater_is_better, bool):
            raise TaskSpecError(f"{where}: greater_is_better must be True, False or None")
        if self.positive_label is not None:
            if not isinstance(self.positive_label, str) or (self.labels and self.positive_label not in self.labels):
                raise TaskSpecError(
                    f"{where}: positive_label {self.positive_label!r} is not one of labels {self.labels}"
                )

    def primary(self, reported: list[str] | tuple[str, ...]) -> tuple[str, bool]:
        """The primary metric and whether higher is better, given the metric names a run reports."""
        name = self.primary_metric or next((m for m in self.metrics if m in reported), None)
        name = name or next(iter(reported), "loss")
        better = self.greater_is_better if self.greater_is_better is not None else greater_is_better(name)
        return name, better


@dataclass(frozen=True)
class RunConfig:
    """The resolved settings of one run: core defaults, then the task's, then the command line.

    Frozen: the runner resolves it once (`problem_type` and `model_path` included) before any
    stage hook sees it, so no hook can change what another stage sees. `task_options` is a
    read-only mapping.
    """

    task: str
    model: str
    output_dir: Path
    epochs: float = 3.0
    learning_rate: float = 5e-5
    batch_size: int = 32
    max_length: int = 128
    seed: int = 42
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    dropout: float | None = None  # every dropout probability of the model's config; None: the model's own
    freeze_embeddings: bool = False  # keep the input (word) embeddings as pretrained: less to compute and store
    lora: bool = False  # train LoRA adapters (taskrun.lora) and the head instead of every weight
    lora_r: int = 8  # the adapters' rank
    lora_alpha: int = 16  # the adapters' scale is lora_alpha / lora_r
    lora_targets: tuple[str, ...] = ()  # the linear layers that take adapters; (): the architecture's defaults
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    data_dir: Path | None = None
    precision: str = "auto"
    group_by_length: bool = True
    cache: bool = True  # reuse tokenised data across runs (taskrun.cache)
    pictures: bool = True  # the confusion matrix and training curves, drawn after the run is saved
    save_every: str = "epoch"  # checkpoints: "epoch", a number of steps, or "no" (--save-every none)
    keep_checkpoints: int = 2  # the newest N complete checkpoints are kept (and the best one)
    resume: str | None = None  # "auto" (newest complete checkpoint of output_dir) or a checkpoint folder
    force_resume: bool = False  # resume although the checkpoint's data, model or labels differ
    overwrite: bool = False
    problem_type: str | None = None  # the problem this run solves; None until resolved: the task's default
    threshold: float = 0.5  # multi-label: a label is predicted where its probability reaches this
    class_weights: str | None = None  # "balanced": weight the loss by inverse class frequency
    early_stopping: int | None = None  # stop after this many evaluations without improvement
    metric_for_best: str | None = None  # the metric that picks the published model; None: the task's primary
    positive_label: str | None = None  # two labels: the one `f1` is of; None: the task's, else the second
    report_to: tuple[str, ...] = ()  # Trainer integrations (tensorboard, mlflow, ...) the run logs to
    evaluate_metrics: tuple[str, ...] = ()  # `evaluate` modules (paths or Hub ids) computed beside the bundled metrics
    task_options: Mapping[str, Any] = field(default_factory=dict)
    model_path: str | None = None  # where the model is loaded from, resolved by the runner
    sources: Mapping[str, str] = field(default_factory=dict)  # where each option's value came from

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "task_options", ReadOnlyDict(self.task_options))
        report_to = (self.report_to,) if isinstance(self.report_to, str) else tuple(self.report_to)
        object.__setattr__(self, "report_to", report_to)
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets or ()))
        object.__setattr__(self, "evaluate_metrics", module_names(self.evaluate_metrics, "evaluate_metrics", TypeError))
        object.__setattr__(self, "sources", ReadOnlyDict(self.sources))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, saved as run_config.json."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, Mapping):
                value = {k: str(v) if isinstance(v, Path) else v for k, v in value.items()}
            out[item.name] = value
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        """A RunConfig from a saved run_config.json (keys it does not know are left out)."""
        known = {item.name for item in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class Predictions:
    """What post-processing makes of a batch of logits.

    - single-label: `label_ids` shape (n,) of class ids; `scores` shape (n, num_labels), the
      probability of each class.
    - multi-label: `label_ids` shape (n, num_labels) of 0/1; `scores` the same shape.
    - regression: `values` shape (n,), the predicted numbers (`label_ids` and `scores` are None).
    - token classification: `label_ids` shape (n, tokens) of tag ids, `scores` (n, tokens, tags).
    - `items`: one structured answer per example, where the family has one (a token task's
      entities: dicts with `type`, `score`, `start`, `end`, `text`); `taskrun predict` shows them.
    """

    label_ids: Any = None
    scores: Any = None
    values: Any = None
    items: list[Any] | None = None
