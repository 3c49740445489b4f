"""The settings of a run, and where each one comes from.

One list of options serves the command line, config files and the Python API: `run_options(task)`
is the click options of `taskrun run TASK` (the task's defaults shown), a config file
(`--config`, TOML, YAML or JSON) supplies any of them by its long name in snake_case, and the
Python API passes them as keyword arguments. Precedence: command line (or Python) > file > task
defaults > core defaults. The run record keeps every resolved value with its source, and
`--print-config` writes the file that reproduces a run.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import click
from click.core import ParameterSource

from .errors import PluginError, UsageError
from .precision import PRECISIONS
from .task import RunConfig, TaskOption, TaskSpec, suggestion

RUN_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not dataclasses.MISSING}

# Options that say how to carry a run out, not what it is: a file that reproduces a run leaves them out.
NOT_REPRODUCED = ("config", "print_config", "output_dir", "overwrite", "resume", "force_resume")


class CommaList(click.ParamType):
    """A list given as `a,b,c` on the command line, or as a list in a config file or from Python."""

    def __init__(self, item: type = str):
        self.item = item
        self.name = f"{item.__name__} list"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[Any, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            self.fail(f"expected a comma-separated list, not {value!r}", param, ctx)
        try:
            return tuple(self.item(str(item).strip()) for item in items if str(item).strip())
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of {self.item.__name__}s", param, ctx)


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
        click.Option(
            ["--epochs"], type=click.FloatRange(min=0, min_open=True), default=hyper["epochs"], show_default=True
        ),
        click.Option(
            ["--learning-rate"],
            type=click.FloatRange(min=0, min_open=True),
            default=hyper["learning_rate"],
            show_default=True,
        ),
        click.Option(["--batch-size"], type=click.IntRange(min=1), default=hyper["batch_size"], show_default=True),
        click.Option(
            ["--max-length"],
            type=click.IntRange(min=8),
            default=hyper["max_length"],
            show_default=True,
            help="Longer texts are truncated to this many tokens.",
        ),
        click.Option(["--seed"], type=int, default=hyper["seed"], show_default=True),
        click.Option(
            ["--warmup-ratio"],
            type=click.FloatRange(0, 1, max_open=True),
            default=hyper["warmup_ratio"],
            show_default=True,
            help="Share of the training steps with a rising learning rate.",
        ),
        click.Option(
            ["--weight-decay"], type=click.FloatRange(min=0), default=hyper["weight_decay"], show_default=True
        ),
        click.Option(
            ["--dropout"],
            type=click.FloatRange(0, 1, max_open=True),
            default=hyper["dropout"],
            show_default=hyper["dropout"] is not None,
            help="Set every dropout probability of the model (default: the model's own).",
        ),
        click.Option(
            ["--freeze-embeddings/--train-embeddings"],
            default=hyper["freeze_embeddings"],
            show_default=True,
            help="Keep the pretrained word embeddings fixed: faster, less memory; often no loss on small data.",
        ),
        click.Option(["--max-train-samples"], type=click.IntRange(min=1), help="Train on the first N examples only."),
        click.Option(["--max-eval-samples"], type=click.IntRange(min=1), help="Evaluate on the first N examples only."),
        click.Option(
            ["--precision"],
            type=click.Choice(PRECISIONS),
            default="auto",
            show_default=True,
            help="auto: bf16 where it measurably beats fp32 on this CPU or GPU, fp16 on older GPUs, else fp32.",
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
                type=click.FloatRange(0, 1),
                default=0.5,
                show_default=True,
                help="multi-label: a label is predicted where its probability reaches this.",
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
        options.append(
            click.Option(
                ["--data-dir"],
                type=click.Path(path_type=Path),
                help="Read the task's data from this local folder instead of the Hub.",
            )
        )
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
    else:
        kwargs["type"] = option.type
    return click.Option([option.name], **kwargs)


def experiment_options(task: TaskSpec) -> list[click.Parameter]:
    """Keeping the best model, stopping early, trackers, several seeds."""
    return [
        click.Option(
            ["--early-stopping"],
            type=click.IntRange(min=1),
            metavar="N",
            help="Stop after N evaluations without improvement of --metric-for-best. [default: train all epochs]",
        ),
        click.Option(
            ["--metric-for-best"],
            metavar="METRIC",
            help="The metric that picks the published model (the best evaluation) and stops early. "
            "[default: the task's primary metric]",
        ),
        click.Option(
            ["--report-to"],
            type=CommaList(str),
            metavar="TRACKERS",
            help="Log to these trackers, comma-separated: tensorboard, mlflow, wandb, trackio, ... (Trainer's). "
            "[default: none]",
        ),
        click.Option(
            ["--seeds"],
            type=CommaList(int),
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
        click.Option(
            ["--batch-size"],
            type=click.IntRange(min=1),
            help="[default: the run's own evaluation batch size, so that its figures are reproduced]",
        ),
        click.Option(["--max-eval-samples"], type=click.IntRange(min=1), help="Score the first N examples only."),
        click.Option(
            ["--output"], type=click.Path(dir_okay=False, path_type=Path), help="Also write the metrics as JSON."
        ),
    ]
    if task.uses_data_dir:
        params.append(
            click.Option(
                ["--data-dir"],
                type=click.Path(path_type=Path),
                help="Read the task's data from this local folder instead of the Hub.",
            )
        )
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


# -- config files ------------------------------------------------------------------------------


def read_file_mapping(path: Path, what: str, tables: bool = False) -> dict[str, Any]:
    """The top-level mapping of a TOML, YAML or JSON file (by extension). A file that cannot be
    read or parsed is a UsageError naming `what`, the file and, where the parser says, the line
    and column. Each top-level value is a value or a list of values; with `tables` (a search
    space), it may also be a table of such. Anything else is refused naming the key, and in YAML
    the line and any alias, before YAML builds it: a few hundred bytes of aliases to aliases
    expand to gigabytes."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise UsageError(f"{what} {path}: give a .toml, .yaml, .yml or .json file.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"{what} {path}: cannot read it: {reason}") from exc
    try:
        values = _parse(text, suffix, tables)
    except RecursionError:
        raise UsageError(f"{what} {path}: nested too deeply to be a settings file.") from None
    except ValueError as exc:
        raise UsageError(f"{what} {path}: {exc}") from exc
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UsageError(f"{what} {path}: expected a mapping of names to values at the top level.")
    for key, value in values.items():
        problem = _value_problem(value, tables)
        if problem:
            raise UsageError(f"{what} {path}: {key}: {problem}")
    return {str(key).strip().lstrip("-").replace("-", "_"): value for key, value in values.items()}


def read_settings_file(path: Path, what: str = "--config") -> dict[str, Any]:
    """A settings file: option names (long, snake_case or with dashes) to values or lists of values."""
    return read_file_mapping(path, what)


LIST_ONLY = "where a value is meant: a list holds values only."


def _value_problem(value: Any, tables: bool) -> str | None:
    """Why a top-level value of a settings file (with `tables`, of a search space) cannot be one."""
    if isinstance(value, dict):
        if not tables:
            return "expected a value, not a table of keys."
        return next((f"{key}: {p}" for key, item in value.items() if (p := _value_problem(item, False))), None)
    if isinstance(value, list):
        for number, item in enumerate(value, start=1):
            if isinstance(item, (list, dict)):
                return f"item {number} is {'a list' if isinstance(item, list) else 'a table of keys'}, {LIST_ONLY}"
    return None


def _parse(text: str, suffix: str, tables: bool = False) -> Any:
    """Parse a settings file; a syntax error becomes a ValueError with the line and column."""
    if suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"not valid TOML: {exc}") from exc
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    import yaml

    loader = _yaml_loader(text)
    try:
        root = loader.get_single_node()
        if isinstance(root, yaml.MappingNode):
            _check_yaml_shape(root, loader.anchor_names, tables)
        return None if root is None else loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ValueError(f"not valid YAML: {where}{getattr(exc, 'problem', None) or exc}") from exc
    finally:
        loader.dispose()


def _yaml_loader(text: str) -> Any:
    """YAML's safe loader for `text`, keeping the name of each anchored node (to name an alias)."""
    import yaml

    class AnchorsKept(yaml.SafeLoader):
        def __init__(self, stream: str):
            super().__init__(stream)
            self.anchor_names: dict[int, str] = {}

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            anchor = None if isinstance(event, yaml.AliasEvent) else getattr(event, "anchor", None)
            node = super().compose_node(parent, index)
            if anchor:
                self.anchor_names[id(node)] = anchor
            return node

    return AnchorsKept(text)


MERGE_TAG = "tag:yaml.org,2002:merge"


def _check_yaml_shape(root: Any, anchors: dict[int, str], tables: bool) -> None:
    """`_value_problem` on YAML's node tree, before anything is built from it: a node that an
    alias repeats is looked at once, however often it is repeated. A ValueError names the line of
    the key, the key and the alias."""
    import yaml

    seen: set[int] = set()

    def described(node: Any) -> str:
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a table of keys"
        name = anchors.get(id(node))
        if name and id(node) in seen:
            kind += f" (the alias *{name}, to {kind} on line {node.start_mark.line + 1})"
        elif name:
            kind += f" (anchored &{name})"
        seen.add(id(node))
        return kind

    def key_problem(key: Any) -> str | None:
        if key.tag == MERGE_TAG:
            return "a merge key (<<), which is not read here: write the settings out."
        if not isinstance(key, yaml.ScalarNode):
            return f"a key that is {described(key)}: keys are names."
        return None

    def problem(node: Any, tables: bool) -> str | None:
        if isinstance(node, yaml.ScalarNode):
            return None
        if isinstance(node, yaml.MappingNode):
            if not tables:
                return f"expected a value, not {described(node)}."
            described(node)
            for key, value in node.value:
                found = key_problem(key) or problem(value, False)
                if found:
                    return f"{key.value if isinstance(key, yaml.ScalarNode) else '?'}: {found}"
            return None
        described(node)
        for number, item in enumerate(node.value, start=1):
            if not isinstance(item, yaml.ScalarNode):
                return f"item {number} is {described(item)}, {LIST_ONLY}"
        return None

    for key, value in root.value:
        found = key_problem(key)
        where = f"line {key.start_mark.line + 1}: "
        if found:
            raise ValueError(where + found)
        found = problem(value, tables)
        if found:
            raise ValueError(f"{where}{key.value}: {found}")


def check_settings(
    settings: Mapping[str, Any], params: Sequence[click.Parameter], where: str, ctx: click.Context | None = None
) -> dict[str, Any]:
    """Settings checked against a command's options: an unknown key (with the closest name) or a
    value of the wrong type is a UsageError naming `where` (the file, or "taskrun.run()") and the key."""
    by_name = {p.name: p for p in params if p.name and p.name not in ("config", "print_config")}
    # The long option as typed works too where it differs from the value's name (problem: problem_type).
    long_names = {opt.lstrip("-").replace("-", "_"): p.name for p in by_name.values() for opt in p.opts}
    checked: dict[str, Any] = {}
    for key, value in settings.items():
        key = key if key in by_name else long_names.get(key, key)
        param = by_name.get(key)
        if param is None:
            raise UsageError(
                f"{where}: unknown option {key!r}{suggestion(key, sorted(by_name))}; "
                f"the options are {', '.join(sorted(by_name))}."
            )
        if isinstance(value, (list, tuple)) and not _takes_a_list(param):
            raise UsageError(f"{where}: {key}: expected one value, not a list.")
        try:
            checked[key] = param.type_cast_value(ctx or click.Context(click.Command("taskrun")), value)
        except click.BadParameter as exc:
            raise UsageError(f"{where}: {key}: {exc.message}") from exc
    return checked


def _takes_a_list(param: click.Parameter) -> bool:
    return isinstance(param.type, CommaList) or bool(getattr(param, "multiple", False)) or param.nargs != 1


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


# -- resolving and recording -------------------------------------------------------------------


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


def config_from_values(task: TaskSpec, values: Mapping[str, Any], where_from: Mapping[str, str]) -> RunConfig:
    """The RunConfig of resolved option values (the task's own options go to task_options)."""
    values = dict(values)
    own = {option.key: values.pop(option.key) for option in task.options}
    for name in ("print_config", "seeds", "trials", "space"):
        values.pop(name, None)
    values["output_dir"] = values.get("output_dir") or default_output_dir(task.name)
    if values.get("class_weights") == "none":
        values["class_weights"] = None
    values["report_to"] = tuple(values.get("report_to") or ())  # "none" is taskrun.tracking's to read
    return RunConfig(task=task.name, task_options=own, sources=dict(where_from), **values)


def default_output_dir(name: str) -> Path:
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def option_record(config: RunConfig) -> dict[str, dict[str, Any]]:
    """run_config.json's `options`: every option's resolved value and where it came from."""
    values = {**config.to_dict(), **config.to_dict()["task_options"]}
    return {
        name: {"value": values.get(name), "source": source} for name, source in config.sources.items() if name in values
    }


def settings_file_text(task: str, options: Mapping[str, Mapping[str, Any]], command: str = "run") -> str:
    """A TOML settings file that reproduces a run: every option that says what the run is (not
    where it goes), each with a comment saying where its value came from."""
    lines = [f"# taskrun {command} {task} --config THIS_FILE reproduces these settings."]
    for name, entry in options.items():
        value = entry["value"]
        if name in NOT_REPRODUCED or value is None or value == [] or value == ():
            continue
        lines.append(f"{name} = {toml_value(value)}  # {entry['source']}")
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """A TOML literal for a setting: string, boolean, integer, float or a list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    text = json.dumps(str(value), ensure_ascii=False)
    return text.replace("\x7f", "\\u007f")  # DEL must be escaped in TOML, not in JSON
