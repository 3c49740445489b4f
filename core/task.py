"""The data types that travel between the core and the plugins.

Nothing here imports torch, transformers or datasets, so that listing tasks stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBLEM_TYPES = ("single-label", "multi-label", "regression")


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

    @property
    def key(self) -> str:
        return self.name.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class TaskSpec:
    """What a plugin registers: a task's name and how its data looks.

    `text_columns` names the one or two text columns that the default preprocessing encodes
    (two are encoded together as a pair; the second is used where a split has it);
    `label_column` holds the label. `labels` lists the
    label names where the task fixes them (None: they come from the data). `default_model` and
    `hyperparameters` are the task's defaults; for built-in tasks registry.toml fills them in.
    `metrics` names what `taskrun_metrics` reports (shown by `taskrun info`); `options` are the
    task's own command-line options; `uses_data_dir` adds `--data-dir`; `data_source` says in a
    sentence where the data comes from. `problem_types` lists every problem type the task can
    run as, where there is a choice: the user picks one with `--problem` (default
    `problem_type`). `plugin` is set by the core to the registering plugin.
    """

    name: str
    description: str = ""
    problem_type: str = "single-label"
    text_columns: tuple[str, ...] = ("text",)
    label_column: str = "label"
    labels: tuple[str, ...] | None = None
    default_model: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    options: tuple[TaskOption, ...] = ()
    uses_data_dir: bool = False
    data_source: str = ""
    problem_types: tuple[str, ...] = ()
    plugin: str | None = None

    def __post_init__(self):
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"task {self.name!r}: problem_type must be one of {', '.join(PROBLEM_TYPES)}, not {self.problem_type!r}"
            )
        unknown = set(self.problem_types) - set(PROBLEM_TYPES)
        if unknown:
            raise ValueError(f"task {self.name!r}: unknown problem_types {sorted(unknown)}")
        if not 1 <= len(self.text_columns) <= 2:
            raise ValueError(f"task {self.name!r}: text_columns holds one or two column names")


@dataclass
class RunConfig:
    """The resolved settings of one run: task defaults overridden by the command line."""

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
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    data_dir: Path | None = None
    precision: str = "auto"
    group_by_length: bool = True
    cache: bool = True  # reuse tokenised data across runs (taskrun.cache)
    save_every: str = "epoch"  # checkpoints: "epoch", a number of steps, or "none"
    keep_checkpoints: int = 2  # the newest N complete checkpoints are kept (and the best one)
    resume: str | None = None  # "auto" (newest complete checkpoint of output_dir) or a checkpoint folder
    force_resume: bool = False  # resume although the checkpoint's data, model or labels differ
    overwrite: bool = False
    problem_type: str | None = None  # --problem, for tasks with a choice; None: the task's own
    threshold: float = 0.5  # multi-label: a label is predicted where its probability reaches this
    class_weights: str | None = None  # "balanced": weight the loss by inverse class frequency
    task_options: dict[str, Any] = field(default_factory=dict)
    model_path: str | None = None  # where the model is loaded from, filled in by the runner

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, saved as run_config.json."""
        out = dict(self.__dict__)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
        return out


@dataclass
class Predictions:
    """What post-processing makes of a batch of logits.

    `label_ids`: the predicted class ids (single-label: shape (n,); multi-label: 0/1 of shape
    (n, num_labels)); `scores`: the probability of each class, shape (n, num_labels);
    `values`: the predicted number for regression (then label_ids and scores are None).
    """

    label_ids: Any = None
    scores: Any = None
    values: Any = None
