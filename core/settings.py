"""The settings of a run, and where each one comes from, without the command line.

A settings file (`--config`, `--space`: TOML, YAML or JSON) is read and its values' shapes
checked here; the values themselves are checked against the options they name by
taskrun.options, which the command line and the Python API share. Precedence: command line (or
Python) > file > task defaults > core defaults. The run record keeps every resolved value with
its source (`option_record`), and `--print-config` writes the file that reproduces a run
(`settings_file_text`). Imports no click: the runner, the record, seeds and search use it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any, Mapping

from .errors import UsageError
from .files import not_regular
from .lora import LORA_LEARNING_RATE
from .task import RunConfig, TaskSpec

RUN_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not dataclasses.MISSING}

# Options that the word none unsets (`--early-stopping none` over a file's value): a file that
# reproduces a run says none where one of them was unset, not left to a default.
UNSETTABLE = ("early_stopping", "metric_for_best", "max_train_samples", "max_eval_samples", "dropout")
DEFAULT_SOURCES = ("default", "task default")

# Options that say how to carry a run out, not what it is: a file that reproduces a run leaves them out.
NOT_REPRODUCED = ("config", "print_config", "output_dir", "overwrite", "resume", "force_resume")


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
    kind = not_regular(path)
    if kind:
        raise UsageError(f"{what} {path}: not a regular file but {kind}; give a settings file.")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is read past, as in data files
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
    named: dict[str, Any] = {}
    spelled: dict[str, Any] = {}
    for key, value in values.items():
        problem = _value_problem(value, tables)
        if problem:
            raise UsageError(f"{what} {path}: {key}: {problem}")
        name = str(key).strip().lstrip("-").replace("-", "_")
        if name in named:
            raise UsageError(f"{what} {path}: {spelled[name]} and {key} name one option ({name}): give it once.")
        named[name], spelled[name] = value, key
    return named


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
            return json.loads(text, object_pairs_hook=lambda pairs: _once(pairs, text))
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


def _once(pairs: list[tuple[str, Any]], text: str) -> dict[str, Any]:
    """A JSON object whose keys are each given once (json keeps the last silently); the lines of
    a key given twice are named where the text shows them unambiguously."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            spelled = re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:"
            lines = [text.count("\n", 0, match.start()) + 1 for match in re.finditer(spelled, text)]
            where = f" (lines {lines[0]} and {lines[1]})" if len(lines) == 2 and lines[0] != lines[1] else ""
            where = f" (line {lines[0]})" if len(lines) == 2 and lines[0] == lines[1] else where
            raise ValueError(f"{key} is given twice{where}: give it once.")
        found[key] = value
    return found


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

    def twice(node: Any) -> str | None:
        lines: dict[Any, int] = {}
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in lines:
                    return f"{key.value} is given twice (lines {lines[key.value]} and {line}): give it once."
                lines[key.value] = line
        return None

    def problem(node: Any, tables: bool) -> str | None:
        if isinstance(node, yaml.ScalarNode):
            return None
        if isinstance(node, yaml.MappingNode):
            if not tables:
                return f"expected a value, not {described(node)}."
            described(node)
            if found := twice(node):
                return found
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

    if found := twice(root):
        raise ValueError(found)
    for key, value in root.value:
        found = key_problem(key)
        where = f"line {key.start_mark.line + 1}: "
        if found:
            raise ValueError(where + found)
        found = problem(value, tables)
        if found:
            raise ValueError(f"{where}{key.value}: {found}")


# -- resolving and recording -------------------------------------------------------------------


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
    where_from = dict(where_from)
    if values.get("lora") and where_from.get("learning_rate", "default") in DEFAULT_SOURCES:
        values["learning_rate"] = LORA_LEARNING_RATE  # adapters need a larger step than whole weights
        where_from["learning_rate"] = "--lora default"
    return RunConfig(task=task.name, task_options=own, sources=where_from, **values)


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
        if value is None and name in UNSETTABLE and entry["source"] not in DEFAULT_SOURCES:
            value = "none"
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
