"""Which of taskrun's modules may import which, checked on the source (every import, those inside
functions too): the front ends sit on top, click lives only there, and nothing imports upwards.

A module may import its own layer and the layers below it. A new module must be placed in a
layer here. A failure names the file, the line and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE, PLUGINS = ROOT / "core", ROOT / "plugins"

# Top first. `cli` is the whole taskrun.cli package; `__init__` is the package `taskrun` itself.
LAYERS = {
    "command line": ("cli", "__main__", "testing"),  # testing drives the CLI in a test
    "Python API": ("__init__", "api", "options"),  # options: the click options the CLI and API check against
    "experiments": ("runner", "training", "record", "seeds", "search", "compare", "inference", "onnx_export"),
    "toolkit": (
        *("cache", "checkpoints", "data", "defaults", "evaluate_metrics", "family", "files", "hub", "launch"),
        "manager",
        *("metrics", "models", "outputs", "plots", "precision", "registry", "rundir", "scaffold"),
        *("scoring", "sequence_classification", "settings", "splits", "token_classification", "lora"),
        *("tokenization", "tracking", "exported"),
    ),
    "contract": ("task", "errors", "hookspecs"),
}
FRONT_ENDS = ("command line", "Python API")  # the only layers that may import click
# What a finished run needs (predict, eval, compare) imports no training code.
FINISHED_RUN = ("inference", "compare", "rundir")
TRAINING = ("runner", "training", "record", "seeds", "search", "checkpoints", "cache")
PACKAGE_CONSTANTS = {"__version__"}  # `from . import __version__` reads a constant, from any layer
# What a plugin may import (docs/plugins.md), besides the other built-in plugins.
PUBLIC_MODULES = (
    *("taskrun", "taskrun.data", "taskrun.metrics", "taskrun.family", "taskrun.hub", "taskrun.errors"),
    "taskrun.testing",
)

LAYER_OF = {unit: layer for layer, units in LAYERS.items() for unit in units}
RANK = {layer: rank for rank, layer in enumerate(LAYERS)}


def unit_of(module: str) -> str:
    """The table's name for a module of taskrun: `cli` for all of taskrun.cli, `__init__` for the package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def package_of(path: Path) -> str:
    """The package that the relative imports of a file under core/ or plugins/ start from."""
    folder = path.parent.name
    return "taskrun" if folder == "core" else f"taskrun.{folder}"


def imports(path: Path, source: str) -> list[tuple[int, str, str]]:
    """(line, module imported, the statement) for every import in `source`, relative ones resolved
    as they would be in `path`; `from . import NAME` gives the submodule NAME."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, f"import {alias.name}") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            statement = f"from {'.' * node.level}{node.module or ''} import {', '.join(names)}"
            if node.level == 0:
                found.append((node.lineno, str(node.module), statement))
                continue
            anchor = package_of(path).rsplit(".", node.level - 1)[0]
            if node.module:
                found.append((node.lineno, f"{anchor}.{node.module}", statement))
            else:
                found += [
                    (node.lineno, f"{anchor}.{name}", statement) for name in names if name not in PACKAGE_CONSTANTS
                ]
    return found


def problems(sources: dict[Path, str]) -> list[str]:
    """Every import in `sources` (files of core/ and plugins/ with their text) that breaks a rule."""
    found = []
    for path, source in sources.items():
        where = path.relative_to(ROOT) if path.is_absolute() else path
        if path.parent.name == "plugins":
            for line, module, statement in imports(path, source):
                ours = module == "taskrun" or module.startswith("taskrun.")
                if ours and module not in PUBLIC_MODULES and not module.startswith("taskrun.plugins"):
                    found.append(f"{where}:{line}: `{statement}`: a plugin imports only {', '.join(PUBLIC_MODULES)}")
            continue
        unit = "cli" if path.parent.name == "cli" else path.stem
        layer = LAYER_OF[unit]
        for line, module, statement in imports(path, source):
            if module == "click" or module.startswith("click."):
                if layer not in FRONT_ENDS:
                    found.append(f"{where}:{line}: `{statement}`: click belongs to the front ends, not {layer}")
            elif module.startswith("taskrun.plugins"):
                found.append(f"{where}:{line}: `{statement}`: the core never imports a plugin")
            elif module == "taskrun" or module.startswith("taskrun."):
                target = unit_of(module)
                if target not in LAYER_OF:
                    found.append(f"{where}:{line}: `{statement}`: {module} is in no layer")
                elif RANK[LAYER_OF[target]] < RANK[layer]:
                    found.append(
                        f"{where}:{line}: `{statement}`: {unit} ({layer}) imports {target} ({LAYER_OF[target]}), "
                        "a layer above it"
                    )
                elif unit in FINISHED_RUN and target in TRAINING:
                    found.append(f"{where}:{line}: `{statement}`: {unit} serves finished runs: no training code")
    return found


def all_sources() -> dict[Path, str]:
    files = [*CORE.glob("*.py"), *CORE.glob("*/*.py"), *PLUGINS.glob("*.py")]
    return {path: path.read_text(encoding="utf-8") for path in sorted(files)}


def test_every_module_is_in_one_layer():
    units = {"cli" if path.parent.name == "cli" else path.stem for path in [*CORE.glob("*.py"), *CORE.glob("*/*.py")]}
    assert units == set(LAYER_OF), f"place {sorted(units - set(LAYER_OF))}; gone: {sorted(set(LAYER_OF) - units)}"
    listed = [unit for units in LAYERS.values() for unit in units]
    assert len(listed) == len(set(listed)), "a module is in two layers"
    assert {path.parent.name for path in CORE.glob("*/*.py")} == {"cli"}, "a new package under core/: place it"


def test_no_module_imports_a_layer_above_it_and_click_stays_in_the_front_ends():
    found = problems(all_sources())
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_the_check_finds_imports_against_the_layers():
    """The rules can fail: each planted import below is named, with its file and line."""
    planted = {
        CORE / "runner.py": "import os\n\n\ndef f():\n    from .cli import main\n",
        CORE / "compare.py": "import click\n",
        CORE / "settings.py": "from click.core import ParameterSource\n",
        CORE / "api.py": "from .cli.common import table\n",
        CORE / "task.py": "from . import manager\n",
        CORE / "inference.py": "from .runner import run\n",
        CORE / "rundir.py": "from taskrun.plugins import sentiment\n",
        PLUGINS / "sentiment.py": "from taskrun.runner import run\n",
        CORE / "cli" / "run.py": "from ..api import run\nfrom .. import __version__\nimport click\n",
    }
    found = problems(planted)
    assert found == [
        "core/runner.py:5: `from .cli import main`: runner (experiments) imports cli (command line), a layer above it",
        "core/compare.py:1: `import click`: click belongs to the front ends, not experiments",
        "core/settings.py:1: `from click.core import ParameterSource`: click belongs to the front ends, not toolkit",
        "core/api.py:1: `from .cli.common import table`: api (Python API) imports cli (command line), a layer above it",
        "core/task.py:1: `from . import manager`: task (contract) imports manager (toolkit), a layer above it",
        "core/inference.py:1: `from .runner import run`: inference serves finished runs: no training code",
        "core/rundir.py:1: `from taskrun.plugins import sentiment`: the core never imports a plugin",
        "plugins/sentiment.py:1: `from taskrun.runner import run`: a plugin imports only " + ", ".join(PUBLIC_MODULES),
    ]
