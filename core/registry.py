"""registry.toml: the catalogue of built-in tasks (description, default model, hyperparameters).

The catalogue says *what* a built-in task is and which defaults it runs with; the plugin named in
each entry says *how* (it registers the task through `taskrun_register_tasks`). The file sits at
the top of the repository and is copied into the wheel as `taskrun/registry.toml`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import TaskrunError
from .task import TaskSpecError, check_hyperparameters, check_search_space

ENTRY_KEYS = {"plugin", "description", "default_model", "hyperparameters", "search_space"}


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    plugin: str
    description: str
    default_model: str | None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    search_space: dict[str, Any] = field(default_factory=dict)


def registry_path() -> Path:
    """The installed copy inside the package, or the repository's file in an editable install."""
    packaged = resources.files("taskrun").joinpath("registry.toml")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "registry.toml"


def load_catalogue(path: Path | None = None) -> dict[str, CatalogueEntry]:
    """Parse and check registry.toml; a malformed file is an error that names the entry."""
    path = path or registry_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TaskrunError(f"cannot read the task registry {path}: {exc}") from exc
    entries = {}
    for name, entry in raw.get("tasks", {}).items():
        unknown = set(entry) - ENTRY_KEYS
        if unknown or "plugin" not in entry:
            raise TaskrunError(
                f"{path}: task {name!r} must have 'plugin' and only {sorted(ENTRY_KEYS)}; found {sorted(entry)}"
            )
        try:
            hyper = check_hyperparameters(dict(entry.get("hyperparameters", {})), f"task {name!r}")
            space = check_search_space(dict(entry.get("search_space", {})), f"task {name!r}")
        except TaskSpecError as exc:
            raise TaskrunError(f"{path}: {exc}") from None
        entries[name] = CatalogueEntry(
            name=name,
            plugin=entry["plugin"],
            description=entry.get("description", ""),
            default_model=entry.get("default_model"),
            hyperparameters=hyper,
            search_space=space,
        )
    return entries
