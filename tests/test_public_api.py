"""The public surface, pinned against its documentation: every public name is documented, every
documented hook exists, and the Python API takes and returns only public types."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
import taskrun
from taskrun import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDE = (DOCS / "plugins.md").read_text(encoding="utf-8")
API_DOC = (DOCS / "api.md").read_text(encoding="utf-8")
# The modules plugins and users may import; anything else in taskrun is private.
PUBLIC_MODULES = (
    "taskrun",
    "taskrun.data",
    "taskrun.metrics",
    "taskrun.family",
    "taskrun.hub",
    "taskrun.errors",
    "taskrun.testing",
)


def documented(name: str) -> bool:
    """Whether `name` appears in the guide or the API page as code (`name`, `name(...)`, `x.name`)."""
    pattern = re.compile(r"`(?:[\w.]+\.)?" + re.escape(name) + r"(?:\(|`|\[| )")
    return bool(pattern.search(GUIDE) or pattern.search(API_DOC))


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_exists_and_is_documented(module_name):
    module = importlib.import_module(module_name)
    assert hasattr(module, "__all__"), f"{module_name} must declare __all__"
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ names {name!r}, which it does not have"
        assert documented(name), f"{module_name}.{name} is public but neither docs/plugins.md nor docs/api.md shows it"


def test_the_guide_lists_exactly_the_public_modules():
    sentence = re.search(r"You may import (.*?)Never the CLI", GUIDE, re.S)
    assert sentence, "docs/plugins.md's rules say which modules a plugin may import"
    named = set(re.findall(r"`(taskrun(?:\.\w+)?)`", sentence.group(1)))
    assert named == set(PUBLIC_MODULES)


def test_every_hook_has_a_reference_section_and_every_section_a_hook():
    hooks = {name for name in dir(hookspecs) if name.startswith("taskrun_")}
    sections = set(re.findall(r"^### (taskrun_\w+)$", GUIDE, re.M))
    assert sections == hooks
    for name in hooks:
        signature = str(inspect.signature(getattr(hookspecs, name)))
        for parameter in inspect.signature(getattr(hookspecs, name)).parameters:
            section = GUIDE.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
            assert parameter in section, f"{name}'s section does not show its argument {parameter!r} ({signature})"


@pytest.mark.parametrize("function", taskrun.API)
def test_the_api_takes_and_returns_only_public_types(function):
    signature = inspect.signature(getattr(taskrun, function))
    public = set(taskrun.__all__) | {"Any", "Path", "Sequence", "Literal", "str", "int", "bool", "dict", "list"}
    public |= {"tuple", "None"}
    for where, annotation in [("return", signature.return_annotation)] + [
        (p.name, p.annotation) for p in signature.parameters.values()
    ]:
        names = set(re.findall(r"[A-Za-z_]\w*", re.sub(r"'[^']*'|\"[^\"]*\"", "", str(annotation))))
        assert names <= public, f"taskrun.{function}: {where} is annotated with non-public {names - public}"


@pytest.mark.slow  # starts python
def test_results_are_importable_from_taskrun_without_importing_torch():
    import subprocess
    import sys

    code = (
        "import sys, taskrun\n"
        "from taskrun import Family, PredictRows\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "print(taskrun.RunResult.__name__, taskrun.SeedsResult.__name__, taskrun.TuneResult.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["RunResult", "SeedsResult", "TuneResult"]
