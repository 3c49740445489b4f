"""Tokenised datasets kept across runs, found again by a fingerprint of what made them.

The fingerprint hashes the data's content (the rows and features of every split, after the
sample limits; never file names or times), the tokenizer (its vocabulary and settings), the
preprocessing settings (task columns and problem, --max-length, the task's own non-path
options) and the code that tokenises (the version and source of every plugin implementing
`taskrun_preprocess`, and taskrun's own version). A second run of the same task on the same
data loads the tokenised splits from disk instead of tokenising again; a changed file or
option misses and tokenises afresh.

Where: $TASKRUN_CACHE_DIR, else $XDG_CACHE_HOME/taskrun, else ~/.cache/taskrun; each entry
is a folder `tokenized/<fingerprint>` written under a temporary name and renamed when complete,
so a killed run never leaves a half-written entry that a later run would load. Delete the folder
to reclaim the space; `--no-cache` turns the cache off for one run.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from .family import family_of
from .files import staged_folder
from .manager import TaskrunPluginManager
from .task import RunConfig, TaskSpec

log = logging.getLogger("taskrun")

FORMAT = 1  # bump when the layout of an entry changes


def cache_root() -> Path:
    """The folder that holds taskrun's caches."""
    if os.environ.get("TASKRUN_CACHE_DIR"):
        return Path(os.environ["TASKRUN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "taskrun"


def data_digest(dataset: Any) -> str:
    """sha256 of every split's name, features and rows (Arrow IPC bytes of the selected rows)."""
    import pyarrow as pa

    digest = hashlib.sha256()
    for split in sorted(dataset):
        data = dataset[split]
        table = data.with_format("arrow")[:] if len(data) else data.data.table.slice(0, 0)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        digest.update(split.encode())
        digest.update(json.dumps(data.features.to_dict(), sort_keys=True, default=str).encode())
        digest.update(sink.getvalue().to_pybytes())
    return digest.hexdigest()


def _tokenizer_digest(tokenizer: Any) -> str:
    """sha256 of the tokenizer's class, settings and vocabulary (with a fast tokenizer's whole
    definition: normaliser, pre-tokeniser, post-processor)."""
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode())
    else:
        digest.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    settings = {
        k: v for k, v in tokenizer.init_kwargs.items() if k not in ("name_or_path", "tokenizer_file", "vocab_file")
    }
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _code_digest(manager: TaskrunPluginManager, task: TaskSpec) -> dict[str, str]:
    """For each plugin asked to preprocess the task: its version and a hash of its source file."""
    from . import __version__, tokenization

    code = {"taskrun": __version__, "taskrun.tokenization": _file_hash(tokenization)}
    for plugin, function in manager.stages(task).preprocess_plugins():
        info = manager.plugins.get(plugin)
        code[plugin] = f"{info.version if info else '?'} {_file_hash(inspect.getmodule(function))}"
    family = family_of(task)  # the core's default preprocessing is the family's
    code[f"family {family.name}"] = _file_hash(inspect.getmodule(type(family)))
    return code


def _file_hash(module: Any) -> str:
    """A hash of the module's source file. Where the source cannot be read (a module built in
    memory, a .pyc-only install), a value that no later run repeats, so that the tokenised data
    is never reused under code that may have changed; said once in the log."""
    try:
        return hashlib.sha256(Path(inspect.getsourcefile(module) or "").read_bytes()).hexdigest()[:16]
    except (TypeError, OSError):
        name = getattr(module, "__name__", repr(module))
        log.info("cannot read the source of %s: its tokenised data is not reused by later runs", name)
        return f"no-source {uuid.uuid4()}"


def fingerprint(manager: TaskrunPluginManager, task: TaskSpec, config: RunConfig, data_id: str, tokenizer: Any) -> str:
    """The cache key of one run's tokenised data."""
    paths = {option.key for option in task.options if option.type == "path"}
    settings = {
        "format": FORMAT,
        "task": [task.name, task.problem_type, list(task.text_columns), task.label_column],
        "max_length": config.max_length,
        "task_options": {k: v for k, v in sorted(config.task_options.items()) if k not in paths},
        "code": _code_digest(manager, task),
        "tokenizer": _tokenizer_digest(tokenizer),
        "data": data_id,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cached_preprocess(
    manager: TaskrunPluginManager,
    task: TaskSpec,
    config: RunConfig,
    dataset: Any,
    tokenizer: Any,
    data_id: str,
) -> Any:
    """The task's `taskrun_preprocess` answer, from the cache when an entry with the same
    fingerprint exists, else computed and stored. `data_id` is `data_digest(dataset)`."""
    if not config.cache:
        return manager.stages(task).preprocess(config, dataset, tokenizer)
    from datasets import DatasetDict, load_from_disk

    key = fingerprint(manager, task, config, data_id, tokenizer)
    entry = cache_root() / "tokenized" / key
    if (entry / "dataset_dict.json").is_file():
        try:
            tokenized = load_from_disk(str(entry))
            log.info("tokenised data from the cache (%s)", entry)
            return tokenized
        except Exception as exc:  # an unreadable entry is recomputed, never trusted
            log.warning("cannot read the cached tokenised data %s (%s); tokenising again", entry, exc)
            shutil.rmtree(entry, ignore_errors=True)
    tokenized = manager.stages(task).preprocess(config, dataset, tokenizer)
    if isinstance(tokenized, DatasetDict):
        _store(tokenized, entry)
    return tokenized


def _store(tokenized: Any, entry: Path) -> None:
    """Write the entry under a staging name and rename it into place; a failure only warns."""
    try:
        with staged_folder(entry) as partial:
            tokenized.save_to_disk(str(partial))
    except OSError as exc:
        if not entry.is_dir():  # another process may have stored the same entry first: fine
            log.warning("cannot store the tokenised data in %s (%s); continuing without", entry.parent, exc)
