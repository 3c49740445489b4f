"""The command line's options and arguments, each declared once, for the `taskrun` commands and
the Python API alike.

`run_options(task)` is the click options of `taskrun run TASK` (the task's defaults shown); a
config file (`--config`) supplies any of them by its long name in snake_case, and the Python API
passes them as keyword arguments, checked by the same options (`resolve_options`). `sources`
says where each value came from. Reading the files themselves is taskrun.settings's, which
imports no click.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import click
from click.core import UNSET, ParameterSource

from . import __version__
from .errors import PluginError, UsageError
from .lora import LORA_LEARNING_RATE
from .precision import PRECISIONS
from .settings import RUN_DEFAULTS, read_settings_file
from .task import MAX_SEED, TaskOption, TaskSpec, suggestion


class CommaList(click.ParamType):
    """A list given as `a,b,c` on the command line, or as a list in a config file or from Python;
    each item converted and checked by `item`. With `example`, an empty list is refused."""

    def __init__(self, item: click.ParamType = click.STRING, example: str | None = None):
        self.item = item
        self.example = example
        self.name = f"{item.name} list"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[Any, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            self.fail(f"expected a comma-separated list, not {value!r}", param, ctx)
        items = [item.strip() if isinstance(item, str) else item for item in items]
        if isinstance(self.item, click.types.IntParamType) and not all(_whole(item) for item in items if item != ""):
            self.fail(f"{value!r} is not a comma-separated list of ints", param, ctx)
        converted = tuple(self.item.convert(item, param, ctx) for item in items if item != "")
        if not converted and self.example:
            self.fail(f"{value!r} is empty: give a comma-separated list, as {self.example}", param, ctx)
        return converted


def _whole(item: Any) -> bool:
    """Whether `item` (text on the command line) spells a whole number."""
    try:
        int(item) if isinstance(item, str) else None
    except ValueError:
        return False
    return True


class Number(click.FloatRange):
    """A finite number, in a range if given: nan and inf are refused (nan passes every range check)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


class OrNone(click.ParamType):
    """`inner`, or the word none, which unsets the option (a settings file's value too)."""

    def __init__(self, inner: click.ParamType):
        self.inner = inner
        self.name = f"{inner.name} or none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.strip().lower() == "none":
            return None
        return self.inner.convert(value, param, ctx)


SEED = click.IntRange(0, MAX_SEED)


# -- the commands of a task: run, eval, tune ---------------------------------------------------


def own_options(task: TaskSpec, taken: Sequence[click.Parameter]) -> list[click.Parameter]:
    """The task's own options as click options (TaskOption checked their form); one that clashes
    with taskrun's own is the plugin's error."""
    names = {p.name for p in taken}
    options: list[click.Parameter] = []
    for option in task.options:
        if option.key in names:
            raise PluginError(
                f"plugin {task.plugin!r}, task {task.name!r}: option {option.name} clashes with "
                f"taskrun's own --{option.key.replace('_', '-')}."
            )
        options.append(task_option(option))
    return options


def shared_options(task: TaskSpec) -> list[click.Parameter]:
    """The options every task's run has, with the task's own defaults."""
    hyper = {**RUN_DEFAULTS, **task.hyperparameters}
    options: list[click.Parameter] = [
        click.Option(
            ["--model"],
            default=task.default_model,
            required=task.default_model is None,
            show_default=True,
            help="A Hugging Face Hub id, a local model directory, or `embedded` (all-MiniLM-L6-v2, no network).",
        ),
        click.Option(
            ["--output-dir"],
            type=click.Path(path_type=Path),
            default=None,
            help=f"Where the model, metrics and settings go. [default: runs/{task.name}-DATE-TIME]",
        ),
        click.Option(["--overwrite"], is_flag=True, help="Replace a finished run in --output-dir."),
        click.Option(["--epochs"], type=Number(min=0, min_open=True), default=hyper["epochs"], show_default=True),
        click.Option(
            ["--learning-rate"],
            type=Number(min=0, min_open=True),
            default=hyper["learning_rate"],
            show_default=True,
        ),
        batch_size_option(hyper["batch_size"]),
        click.Option(
            ["--max-length"],
            type=click.IntRange(min=8),
            default=hyper["max_length"],
            show_default=True,
            help="Longer texts are truncated to this many tokens.",
        ),
        click.Option(["--seed"], type=SEED, default=hyper["seed"], show_default=True),
        click.Option(
            ["--warmup-ratio"],
            type=Number(0, 1, max_open=True),
            default=hyper["warmup_ratio"],
            show_default=True,
            help="Share of the training steps with a rising learning rate.",
        ),
        click.Option(["--weight-decay"], type=Number(min=0), default=hyper["weight_decay"], show_default=True),
        click.Option(
            ["--dropout"],
            type=OrNone(Number(0, 1, max_open=True)),
            metavar="P|none",
            default=hyper["dropout"],
            show_default=hyper["dropout"] is not None,
            help="Set every dropout probability of the model; none: the model's own. [default: the model's own]",
        ),
        click.Option(
            ["--freeze-embeddings/--train-embeddings"],
            default=hyper["freeze_embeddings"],
            show_default=True,
            help="Keep the pretrained word embeddings fixed: faster, less memory; often no loss on small data.",
        ),
        click.Option(
            ["--lora/--no-lora"],
            default=hyper["lora"],
            show_default=True,
            help="Train LoRA adapters and the task's head instead of every weight (peft); the published model has "
            f"them merged in, the adapter is kept in adapter/. The learning rate defaults to {LORA_LEARNING_RATE:g}.",
        ),
        click.Option(
            ["--lora-r"],
            type=click.IntRange(min=1),
            default=hyper["lora_r"],
            show_default=True,
            help="The adapters' rank.",
        ),
        click.Option(
            ["--lora-alpha"],
            type=click.IntRange(min=1),
            default=hyper["lora_alpha"],
            show_default=True,
            help="The adapters' scale is alpha / r.",
        ),
        click.Option(
            ["--lora-targets"],
            type=CommaList(example="query,value"),
            metavar="NAME,NAME,...",
            help="The linear layers that take adapters, by name. [default: peft's for the architecture]",
        ),
        click.Option(
            ["--max-train-samples"],
            type=OrNone(click.IntRange(min=1)),
            metavar="N|none",
            help="Train on the first N examples only; none: on all.",
        ),
        max_eval_samples_option("Evaluate on the first N examples only."),
        precision_option(
            PRECISIONS,
            "auto",
            "auto: bf16 where it measurably beats fp32 on this CPU or GPU, fp16 on older GPUs, else fp32.",
        ),
        click.Option(
            ["--group-by-length/--no-group-by-length"],
            default=True,
            show_default=True,
            help="Batch training examples of similar length together (less padding, faster).",
        ),
        click.Option(
            ["--cache/--no-cache"],
            default=True,
            show_default=True,
            help="Reuse the tokenised data of an earlier run on the same data, tokenizer and settings.",
        ),
        click.Option(
            ["--pictures/--no-pictures"],
            default=True,
            show_default=True,
            help="Draw the confusion matrix and the training curves (after the model is saved).",
        ),
        click.Option(
            ["--save-every"],
            default="epoch",
            show_default=True,
            callback=_save_every,
            help="Checkpoint schedule: epoch, a number of steps, or none.",
        ),
        click.Option(
            ["--keep-checkpoints"],
            type=click.IntRange(min=1),
            default=2,
            show_default=True,
            help="How many of the newest complete checkpoints to keep (the best one is kept too).",
        ),
        click.Option(
            ["--resume"],
            metavar="auto|CHECKPOINT",
            help="Continue an interrupted run: auto takes the newest complete checkpoint in --output-dir.",
        ),
        click.Option(
            ["--force-resume"],
            is_flag=True,
            help="Resume even if the checkpoint was trained on other data, another model or other labels.",
        ),
        click.Option(
            ["--offline"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_go_offline,
            help="Never touch the network (as HF_HUB_OFFLINE=1): only local and cached models and data.",
        ),
    ]
    problems = task.problem_types or (task.problem_type,)
    if len(problems) > 1:
        options.append(
            click.Option(
                ["--problem", "problem_type"],
                type=click.Choice(problems),
                default=task.problem_type,
                show_default=True,
                help="Declare the problem: it is never guessed from the data.",
            )
        )
    if "multi-label" in problems:
        options.append(
            click.Option(
                ["--threshold"],
                type=Number(0, 1),
                default=0.5,
                show_default=True,
                help="multi-label: a label is predicted where its probability reaches this.",
            )
        )
    if (
        "single-label" in problems
        and task.family == "sequence-classification"
        and (task.labels is None or len(task.labels) == 2)
    ):
        options.append(
            click.Option(
                ["--positive-label"],
                metavar="LABEL",
                default=task.positive_label,
                help="Two labels: the one whose precision, recall and F1 `f1` is. "
                + (
                    f"[default: {task.positive_label}]"
                    if task.positive_label
                    else "[default: the second label in order]"
                ),
            )
        )
    if "single-label" in problems:
        options.append(
            click.Option(
                ["--class-weights"],
                type=click.Choice(["none", "balanced"]),
                default="none",
                show_default=True,
                help="balanced: weight the loss by inverse class frequency.",
            )
        )
    if task.uses_data_dir:
        options.append(data_dir_option())
    return options


def _save_every(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """epoch, none (Trainer's "no", which a recorded run holds and so is taken too) or a positive
    number of steps."""
    value = str(value)
    if value in ("epoch", "none", "no"):
        return "no" if value == "none" else value
    if value.isdigit() and int(value) > 0:
        return value
    raise click.BadParameter("must be epoch, none, or a number of steps", ctx=ctx, param=param)


def _go_offline(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from .hub import go_offline

        go_offline()


def task_option(option: TaskOption) -> click.Option:
    kwargs: dict[str, Any] = {
        "help": option.help,
        "default": option.default,
        "required": option.required,
        "show_default": option.default is not None,
    }
    if option.type is bool:
        return click.Option([f"{option.name}/--no-{option.name[2:]}"], **kwargs)
    if isinstance(option.type, tuple):
        kwargs["type"] = click.Choice(option.type)
    elif option.type == "path":
        kwargs["type"] = click.Path(path_type=Path)
    elif option.type is float:
        kwargs["type"] = Number()
    else:
        kwargs["type"] = option.type
    return click.Option([option.name], **kwargs)


def experiment_options(task: TaskSpec) -> list[click.Parameter]:
    """Keeping the best model, stopping early, trackers, several seeds."""
    return [
        click.Option(
            ["--early-stopping"],
            type=OrNone(click.IntRange(min=1)),
            metavar="N|none",
            help="Stop after N evaluations without improvement of --metric-for-best; none: train all epochs. "
            "[default: none]",
        ),
        click.Option(
            ["--metric-for-best"],
            type=OrNone(click.STRING),
            metavar="METRIC|none",
            help="The metric that picks the published model (the best evaluation) and stops early; "
            "none: the task's primary metric. [default: none]",
        ),
        click.Option(
            ["--evaluate-metric", "evaluate_metrics"],
            multiple=True,
            metavar="NAME",
            help="Also compute this `evaluate` metric module, reported as NAME/KEY: a local folder or script "
            "(works offline) or a Hub id such as accuracy (online only). Repeatable.",
        ),
        click.Option(
            ["--report-to"],
            type=CommaList(),
            metavar="TRACKERS",
            help="Log to these trackers, comma-separated: tensorboard, mlflow, wandb, trackio, ... (Trainer's). "
            "[default: none]",
        ),
        click.Option(
            ["--seeds"],
            type=CommaList(SEED, example="13,42,87"),
            metavar="N,N,...",
            help="Train once per seed into OUTPUT/seed-N/, then summarise: mean and standard deviation per metric.",
        ),
    ]


def config_file_option() -> click.Option:
    """`--config FILE`: read before the other options, so that the command line overrides it."""
    return click.Option(
        ["--config"],
        type=click.Path(dir_okay=False, path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=_apply_config_file,
        help="Read options from a TOML, YAML or JSON file (keys: the long option names, in snake_case).",
    )


def print_config_option() -> click.Option:
    return click.Option(
        ["--print-config"],
        is_flag=True,
        help="Print the settings file (TOML) that reproduces this run, with where each value came from; do not run.",
    )


def eval_options(task: TaskSpec) -> list[click.Parameter]:
    """Every option of `taskrun eval RUN_DIR TASK`: the split, batch size, output, the task's data options."""
    params: list[click.Parameter] = [
        config_file_option(),
        click.Option(["--split"], type=click.Choice(["validation", "test"]), default="validation", show_default=True),
        batch_size_option(help="[default: the run's own evaluation batch size, so that its figures are reproduced]"),
        max_eval_samples_option("Score the first N examples only."),
        inference_precision_option(),
        output_option("Also write the metrics as JSON."),
    ]
    if task.uses_data_dir:
        params.append(data_dir_option())
    return params + own_options(task, params)


def run_options(task: TaskSpec) -> list[click.Parameter]:
    """Every option of `taskrun run TASK`: the shared ones, the experiment ones, the task's own."""
    shared = [config_file_option(), *shared_options(task), *experiment_options(task), print_config_option()]
    return shared + own_options(task, shared)


def tune_options(task: TaskSpec) -> list[click.Parameter]:
    """Every option of `taskrun tune TASK`: the run's (fixed for every trial, except those searched)
    and the search's own."""
    params = [p for p in run_options(task) if p.name != "print_config"]
    for param in params:
        if param.name == "output_dir" and isinstance(param, click.Option):
            param.help = f"Where the trials, the study and the result go. [default: runs/tune-{task.name}-DATE-TIME]"
        if param.name == "seeds" and isinstance(param, click.Option):
            param.help = (
                "Train every trial once per seed (OUTPUT/trial-NNNN/seed-N/) and score it by the mean over them: "
                "one seed's score on a small dev set moves as much as the settings do. [default: one run, at --seed]"
            )
    params.insert(
        1,
        click.Option(
            ["--trials"],
            type=click.IntRange(min=1),
            default=10,
            show_default=True,
            help="How many trials to finish (those of an interrupted search, continued with --resume auto, count).",
        ),
    )
    params.insert(
        2,
        click.Option(
            ["--space"],
            type=click.Path(dir_okay=False, path_type=Path),
            help="A TOML, YAML or JSON file: learning_rate = {low = 1e-5, high = 1e-4, log = true}, "
            "batch_size = {choices = [16, 32]}, ... [default: the task's, else taskrun.search.DEFAULT_SPACE]",
        ),
    )
    return params


# -- options of more than one command ------------------------------------------------------------


def batch_size_option(default: int | None = None, help: str | None = None) -> click.Option:
    return click.Option(
        ["--batch-size"], type=click.IntRange(min=1), default=default, show_default=default is not None, help=help
    )


def max_eval_samples_option(help: str) -> click.Option:
    return click.Option(
        ["--max-eval-samples"], type=OrNone(click.IntRange(min=1)), metavar="N|none", help=f"{help} none: all."
    )


def data_dir_option() -> click.Option:
    return click.Option(
        ["--data-dir"],
        type=click.Path(path_type=Path),
        help="Read the task's data from this local folder instead of the Hub.",
    )


def precision_option(choices: Sequence[str], default: str, help: str) -> click.Option:
    return click.Option(["--precision"], type=click.Choice(choices), default=default, show_default=True, help=help)


def inference_precision_option() -> click.Option:
    """predict's and eval's --precision: the run's own by default, or fp32 (a bf16 run's weights exactly)."""
    return precision_option(
        ["run", "fp32", "bf16"],
        "run",
        "run: the precision the model was trained and evaluated in (recorded in run_config.json).",
    )


def output_option(help: str) -> click.Option:
    return click.Option(["--output"], type=click.Path(dir_okay=False, path_type=Path), help=help)


def json_option(help: str) -> click.Option:
    return click.Option(["--json", "as_json"], is_flag=True, help=help)


def run_dir_argument() -> click.Argument:
    return click.Argument(["run_dir"], type=click.Path(file_okay=False, path_type=Path))


# -- the commands that take no task --------------------------------------------------------------


def version_option() -> Any:
    """`taskrun --version` (a decorator for the group)."""
    return click.version_option(__version__, prog_name="taskrun")


def list_params() -> list[click.Parameter]:
    return [
        click.Option(["--plugins", "show_plugins"], is_flag=True, help="List the plugins instead of the tasks."),
        json_option("Print JSON, for scripts."),
    ]


def info_params() -> list[click.Parameter]:
    return [click.Argument(["task_name"], metavar="TASK")]


def new_plugin_params() -> list[click.Parameter]:
    return [
        click.Argument(["name"]),
        click.Option(
            ["--directory"],
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("."),
            show_default=True,
            help="Where to create the package folder taskrun-NAME.",
        ),
    ]


def predict_params() -> list[click.Parameter]:
    return [
        config_file_option(),
        run_dir_argument(),
        click.Argument(["texts"], nargs=-1),
        click.Option(
            ["--input", "input_file"],
            type=click.Path(dir_okay=False, path_type=Path),
            help="A CSV, TSV or JSON Lines file; its columns are kept and the label and score added.",
        ),
        output_option("Write CSV, TSV or JSON Lines (by extension) instead of printing a table."),
        click.Option(
            ["--text-column"], help="--input: the text column [default: the one the model trained on, or text]."
        ),
        click.Option(["--text-pair-column"], help="--input, pair models: the second text column."),
        click.Option(["--all-scores"], is_flag=True, help="Add the probability of every label."),
        batch_size_option(32),
        inference_precision_option(),
        click.Option(
            ["--format", "fmt"],
            type=click.Choice(["csv", "tsv", "jsonl"]),
            help="--input format, if the extension does not tell.",
        ),
        click.Option(["--encoding"], default="utf-8", show_default=True, help="--input encoding."),
    ]


def export_params() -> list[click.Parameter]:
    """`taskrun export RUN_DIR`: the format, the folder, int8 weights, and where the parity check's data is."""
    return [
        run_dir_argument(),
        click.Option(["--format", "fmt"], type=click.Choice(["onnx"]), default="onnx", show_default=True),
        click.Option(
            ["--output", "output"],
            type=click.Path(file_okay=False, path_type=Path),
            required=True,
            help="The folder to write: the model, its tokenizer, labels and the run's record.",
        ),
        click.Option(
            ["--quantize"],
            type=click.Choice(["int8"]),
            help="Store the weights of the matrix products as int8 (ONNX Runtime's dynamic quantisation).",
        ),
        click.Option(
            ["--data-dir"],
            type=click.Path(path_type=Path),
            help="Where the run's task finds its data, for the parity check. [default: where the run read it]",
        ),
        max_eval_samples_option("Check parity on the first N validation examples only."),
        click.Option(["--overwrite"], is_flag=True, help="Replace an earlier export in --output."),
    ]


def eval_group_params() -> list[click.Parameter]:
    """`taskrun eval RUN_DIR`'s own; the task's subcommand has `eval_options(task)`."""
    return [run_dir_argument()]


def compare_params() -> list[click.Parameter]:
    return [
        click.Argument(["folders"], nargs=-1, required=True, type=click.Path(path_type=Path), metavar="RUN_DIR..."),
        json_option("Print JSON instead of the table, for scripts."),
        click.Option(["--csv", "as_csv"], is_flag=True, help="Print CSV instead of the table."),
        click.Option(
            ["--picture"],
            type=click.Path(path_type=Path),
            metavar="FILE.png",
            help="Also draw the primary metric (and the others while readable) per run as a bar chart.",
        ),
    ]


# -- settings checked against the options ------------------------------------------------------


def check_settings(
    settings: Mapping[str, Any], params: Sequence[click.Parameter], where: str, ctx: click.Context | None = None
) -> dict[str, Any]:
    """Settings checked against a command's options: an unknown key (with the closest name) or a
    value of the wrong type is a UsageError naming `where` (the file, or "taskrun.run()") and the key."""
    by_name = {p.name: p for p in params if p.name and p.name not in ("config", "print_config")}
    # The long option as typed works too where it differs from the value's name (problem: problem_type).
    long_names = {opt.lstrip("-").replace("-", "_"): p.name for p in by_name.values() for opt in p.opts}
    checked: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for given, value in settings.items():
        key = given if given in by_name else long_names.get(given, given)
        param = by_name.get(key)
        if param is None:
            raise UsageError(
                f"{where}: unknown option {key!r}{suggestion(key, sorted(by_name))}; "
                f"the options are {', '.join(sorted(by_name))}."
            )
        if key in given_as:
            raise UsageError(f"{where}: {given_as[key]} and {given} are one option ({key}): give it once.")
        given_as[key] = given
        if isinstance(value, (list, tuple)) and not _takes_a_list(param):
            raise UsageError(f"{where}: {key}: expected one value, not a list.")
        if isinstance(value, (str, Path)) and getattr(param, "multiple", False):
            value = [value]  # one value where a repeatable option is meant: a list of one
        problem = _type_problem(param, value)
        if problem:
            raise UsageError(f"{where}: {key}: {problem}")
        if value is None:
            checked[key] = None
            continue
        try:
            checked[key] = param.type_cast_value(ctx or click.Context(click.Command("taskrun")), value)
        except click.BadParameter as exc:
            raise UsageError(f"{where}: {key}: {exc.message}") from exc
    return checked


def _takes_a_list(param: click.Parameter) -> bool:
    return isinstance(param.type, CommaList) or bool(getattr(param, "multiple", False)) or param.nargs != 1


def _type_problem(param: click.Parameter, value: Any) -> str | None:
    """Why a value from a settings file or Python is not of the kind `param` takes, which click
    would coerce without a word (true to 1, 1.5 to 1, a set to text). None (null) is the option
    left unset: taken where that is its default, or where it takes the word none."""
    kind = param.type.inner if isinstance(param.type, OrNone) else param.type
    if value is None:
        unset = isinstance(param.type, OrNone) or (
            not isinstance(kind, click.types.BoolParamType) and param.default in (None, UNSET) and not param.required
        )
        return None if unset else f"expected {_expected(kind)}, not null (None)."
    item_kind = kind.item if isinstance(kind, CommaList) else kind if getattr(param, "multiple", False) else None
    if item_kind is not None:  # a list option, or a repeatable one: a list of values (or one, as text)
        if isinstance(value, str):
            return None
        if not isinstance(value, (list, tuple)):
            return f"expected a list ({_expected(item_kind)} each), not {_shown(value)}."
        return next(
            (f"item {n}: {p}" for n, item in enumerate(value, start=1) if (p := _type_problem_of(item_kind, item))),
            None,
        )
    return _type_problem_of(kind, value)


def _type_problem_of(kind: click.ParamType, value: Any) -> str | None:
    if isinstance(kind, click.types.BoolParamType):
        right = isinstance(value, bool)
    elif isinstance(value, bool) or isinstance(value, (list, tuple, dict, set)):
        right = False
    elif isinstance(kind, click.types.IntParamType):
        right = isinstance(value, (int, str)) or (isinstance(value, float) and value.is_integer())
    elif isinstance(kind, click.types.FloatParamType):
        right = isinstance(value, (int, float, str))
    elif isinstance(kind, (click.Path, click.Choice)):
        right = isinstance(value, (str, os.PathLike))
    elif isinstance(kind, click.types.StringParamType):
        right = isinstance(value, (str, os.PathLike, int))
    else:
        return None
    return None if right else f"expected {_expected(kind)}, not {_shown(value)}."


def _expected(kind: click.ParamType) -> str:
    if isinstance(kind, click.types.BoolParamType):
        return "true or false"
    if isinstance(kind, click.types.IntParamType):
        return "a whole number"
    if isinstance(kind, click.types.FloatParamType):
        return "a number"
    if isinstance(kind, click.Path):
        return "a path (text)"
    if isinstance(kind, click.Choice):
        return f"one of {', '.join(map(str, kind.choices))}"
    return "text"


def _shown(value: Any) -> str:
    """A value as a settings file would spell it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a table of keys"
    return f"{type(value).__name__} {value!r}" if not isinstance(value, (int, float, str)) else repr(value)


def resolve_options(
    name: str, params: list[click.Parameter], options: Mapping[str, Any], config_file: str | Path | None, where: str
) -> tuple[dict[str, Any], click.Context]:
    """The Python API's way through a command's options: keyword `options` over a settings file
    over the defaults, converted and checked by the same click options as the command line; an
    unknown or wrong value is a UsageError naming `where`. Returns the values and the context
    (for `sources`)."""
    file_values = (
        check_settings(read_settings_file(Path(config_file), "config="), params, str(config_file))
        if config_file
        else {}
    )
    if "offline" in options:
        raise UsageError(
            f"{where}: offline= would stay set for the rest of the process; set HF_HUB_OFFLINE=1 in the "
            "environment instead (before huggingface_hub is imported)."
        )
    given = check_settings(options, params, where)
    try:
        ctx = click.Command(name, params=params).make_context(name, [], default_map={**file_values, **given})
    except click.ClickException as exc:
        raise UsageError(f"{where}: {exc.format_message()}") from exc
    ctx.meta["taskrun.config_file"] = str(config_file)
    ctx.meta["taskrun.python"] = set(given)  # the options given as arguments, under their value names
    return dict(ctx.params), ctx


def _apply_config_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """The --config callback: the file's settings become the command's defaults (click's
    default_map), so that an option on the command line still wins."""
    if value is None:
        return
    try:
        settings = check_settings(read_settings_file(value), ctx.command.params, str(value), ctx)
    except UsageError as exc:
        raise click.UsageError(exc.message, ctx) from exc
    ctx.default_map = {**(ctx.default_map or {}), **settings}
    ctx.meta["taskrun.config_file"] = str(value)


# -- where each value came from ------------------------------------------------------------------


def given_options(ctx: click.Context, task: TaskSpec) -> set[str]:
    """The options whose value the caller chose (command line, Python, a settings file)."""
    return {name for name, source in sources(ctx, task).items() if source not in ("default", "task default")}


def sources(ctx: click.Context, task: TaskSpec) -> dict[str, str]:
    """Where each option's value came from: command line, python, config file F, task default or
    default (the core's)."""
    given = set(ctx.meta.get("taskrun.python", ()))  # set by resolve_options (the Python API)
    task_defaults = set(task.hyperparameters) | {o.key for o in task.options if o.default is not None}
    task_defaults.add("problem_type")  # --problem's default is the task's problem type
    if task.default_model:
        task_defaults.add("model")
    found: dict[str, str] = {}
    for param in ctx.command.params:
        name = param.name
        if not name or not param.expose_value or name == "print_config":
            continue
        source = ctx.get_parameter_source(name)
        if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT):
            found[name] = "command line"
        elif source == ParameterSource.DEFAULT_MAP:
            found[name] = "python" if name in given else f"config file {ctx.meta.get('taskrun.config_file')}"
        else:
            found[name] = "task default" if name in task_defaults else "default"
    return found
