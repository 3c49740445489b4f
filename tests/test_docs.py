"""The README is the front door and docs/ holds the reference: every relative link in them
resolves (to a file, and for `page.md#anchor` to a heading of that page, slugged as GitHub does),
the README stays short, every docs page is reachable from it, and the Markdown renders (fences
closed, tables with a header separator and rows as wide as the header)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def scan(path: Path) -> tuple[list[tuple[int, str]], int | None]:
    """The (line number, text) of the lines outside fenced code blocks, and the line of a fence
    left open at the end (None when every fence is closed)."""
    prose: list[tuple[int, str]] = []
    fence, opened = None, None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence, opened = match.group(1), number
        elif fence is not None:
            closing = match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence)
            if closing and not match.group(2).strip():
                fence, opened = None, None
        else:
            prose.append((number, line))
    return prose, opened


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (code spans and links reduced to their text),
    lower case, punctuation other than `-` and `_` removed, spaces turned into hyphens."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in scan(path)[0]:
        match = HEADING.match(line)
        if match:
            slug = github_slug(match.group(2))
            found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """Every link target written in the page's prose (code spans and fenced blocks hold none)."""
    found = []
    for number, line in scan(path)[0]:
        line = CODE_SPAN.sub(lambda m: "`" * len(m.group(1)), line)
        found += [(number, m.group(1)) for m in INLINE_LINK.finditer(line)]
        definition = REFERENCE_DEFINITION.match(line)
        if definition:
            found.append((number, definition.group(1)))
    return found


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)) or target.startswith("//")


def resolve(page: Path, target: str) -> tuple[Path, str]:
    path, _, anchor = target.partition("#")
    return ((page.parent / unquote(path)).resolve() if path else page.resolve()), unquote(anchor)


def broken_links(page: Path, root: Path) -> list[str]:
    broken = []
    for number, target in links(page):
        if is_external(target):
            continue
        path, anchor = resolve(page, target)
        where = f"{page.relative_to(root)}:{number}: {target}"
        if not path.is_relative_to(root):
            broken.append(f"{where}: points outside the repository")
        elif not path.exists():
            broken.append(f"{where}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{where}: {path.name} has no heading #{anchor}")
    return broken


def cells(row: str) -> list[str]:
    """A table row's cells: split on pipes that are not escaped, outer pipes dropped."""
    row = row.strip()
    parts = re.split(r"(?<!\\)\|", row)
    return parts[1 if row.startswith("|") else 0 : -1 if row.endswith("|") and len(row) > 1 else None]


def table_problems(page: Path, root: Path) -> list[str]:
    problems, table = [], []
    for number, line in [*scan(page)[0], (0, "")]:
        if line.lstrip().startswith("|"):
            table.append((number, line))
            continue
        if table:
            (first, header), *rest = table
            where = f"{page.relative_to(root)}:{first}"
            if not rest or not all(re.fullmatch(r"\s*:?-{3,}:?\s*", c) for c in cells(rest[0][1])):
                problems.append(f"{where}: table without a header separator")
            width = len(cells(header))
            problems += [
                f"{page.relative_to(root)}:{n}: {len(cells(row))} cells, the header has {width}"
                for n, row in rest
                if len(cells(row)) != width
            ]
            table = []
    return problems


# -- the project's pages ------------------------------------------------------------------------

PAGE_IDS = [str(p.relative_to(ROOT)) for p in PAGES]


def test_there_are_pages_and_links_to_check():
    assert README.is_file() and DOCS
    assert [t for _, t in links(README) if not is_external(t)]


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_relative_link_resolves(page):
    broken = broken_links(page, ROOT)
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_docs_page_is_linked_from_the_readme(doc):
    targets = {resolve(README, t)[0] for _, t in links(README) if not is_external(t)}
    assert doc.resolve() in targets, f"README.md does not link to docs/{doc.name}"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_code_fences_are_closed(page):
    opened = scan(page)[1]
    assert opened is None, f"{page.relative_to(ROOT)}:{opened}: code fence never closed"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_tables_have_a_header_separator_and_even_rows(page):
    problems = table_problems(page, ROOT)
    assert not problems, "\n".join(problems)


# -- the checks themselves catch what they are for -----------------------------------------------


def test_github_slugs():
    assert github_slug("Startup (`python scripts/startup_time.py`)") == "startup-python-scriptsstartup_timepy"
    assert github_slug("Upgrading from taskrun 0.1") == "upgrading-from-taskrun-01"
    assert github_slug("taskrun predict RUN_DIR [TEXT...]") == "taskrun-predict-run_dir-text"
    assert github_slug("Problems: single-label, regression") == "problems-single-label-regression"


def test_the_checks_find_broken_links_fences_and_tables(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## Same\n\n## Same\n\n```python\nx = 1\n```\n")
    page = tmp_path / "README.md"
    page.write_text(
        "# Title\n\n"
        "[ok](docs/a.md) [ok](docs/a.md#same-1) [ok](#title) [web](https://example.org/x.md#nothing)\n"
        "[gone](docs/b.md) [no heading](docs/a.md#other) [outside](../elsewhere.md) `[code](nope.md)`\n\n"
        "| a | b |\n| --- | --- |\n| 1 | 2 `x\\|y` |\n\n"
        "| no | separator |\n| 1 | 2 |\n\n"
        "| a | b |\n| --- | --- |\n| 1 |\n\n"
        "```\n[in a fence](nope.md)\n"
    )
    assert [b.split(": ", 1)[1] for b in broken_links(page, tmp_path)] == [
        "docs/b.md: no such file",
        "docs/a.md#other: a.md has no heading #other",
        "../elsewhere.md: points outside the repository",
    ]
    assert table_problems(page, tmp_path) == [
        "README.md:10: table without a header separator",
        "README.md:15: 1 cells, the header has 2",
    ]
    assert scan(page)[1] == 17
    assert scan(tmp_path / "docs" / "a.md")[1] is None
