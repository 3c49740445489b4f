"""Reading the user's files and the Hub's datasets, for the core and for plugins.

Plugins that read files should use `read_table`: every value comes back as the exact string in
the file (no type is guessed), every row keeps its line number, and every problem becomes a
`DataError` naming the file, line and column. Nothing here imports datasets at module level.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DataError, HubUnavailableError
from .hub import offline_mode, require_hub

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}
SHOWN_ROWS = 5


@dataclass
class Table:
    """A file's rows as dicts of strings, each with the line it starts on (1-based)."""

    path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    lines: list[int]

    def column(self, name: str) -> list[str]:
        return [row[name] for row in self.rows]


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        return fmt
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise DataError(
            f"{path}: cannot tell the format from the extension {path.suffix!r}",
            hint=f"Use one of {', '.join(sorted(FORMATS))}, or name the format with --format.",
        ) from None


def _decode(path: Path, encoding: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"{path}:{line}:{column}: not valid {encoding} (byte 0x{raw[exc.start]:02x})",
            hint="Pass --encoding with the file's encoding (for example latin-1 or cp1252).",
        ) from None
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r}") from None


def read_table(path: str | Path, fmt: str | None = None, encoding: str = "utf-8") -> Table:
    """Read a CSV, TSV (quoting off: a `"` is text) or JSON Lines file. A byte-order mark is dropped."""
    path = Path(path)
    fmt = detect_format(path, fmt)
    text = _decode(path, encoding)
    if fmt == "jsonl":
        return _read_jsonl(path, text)
    if fmt == "tsv":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines, bad = [], [], []
    header: list[str] | None = None
    next_line = 1
    try:
        for fields in reader:
            line, next_line = next_line, reader.line_num + 1
            if not fields:
                continue
            if header is None:
                header = [name.strip() for name in fields]
                continue
            if len(fields) != len(header):
                bad.append(f"line {line}: {len(fields)} fields, expected {len(header)}")
                continue
            rows.append(dict(zip(header, fields)))
            lines.append(line)
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: {exc}") from None
    if header is None:
        raise DataError(f"{path}: the file is empty (no header line)")
    if bad:
        raise DataError(
            f"{path}: {len(bad)} malformed row(s) (header has {len(header)} fields: {', '.join(header)})\n  "
            + "\n  ".join(bad[:SHOWN_ROWS])
            + ("\n  ..." if len(bad) > SHOWN_ROWS else "")
        )
    return Table(path, header, rows, lines)


def _read_jsonl(path: Path, text: str) -> Table:
    rows, lines, columns = [], [], {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}:{exc.colno}: not valid JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: each line must be a JSON object, found {type(record).__name__}")
        rows.append({key: _as_text(value) for key, value in record.items()})
        lines.append(number)
        columns.update(dict.fromkeys(record))
    if not rows:
        raise DataError(f"{path}: the file holds no records")
    for row, number in zip(rows, lines):
        missing = [c for c in columns if c not in row]
        if missing:
            raise DataError(f"{path}:{number}: record has no field {missing[0]!r}")
    return Table(path, list(columns), rows, lines)


def _as_text(value: Any) -> str:
    """JSON values as the text they were written as: strings as is, numbers in JSON form."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value)


def require_column(table: Table, column: str, option: str) -> None:
    """A DataError listing the columns that exist (and the nearest name) if `column` is missing."""
    if column in table.columns:
        return
    close = difflib.get_close_matches(column, table.columns, n=1, cutoff=0.5)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    raise DataError(
        f"{table.path}: no column {column!r} (named by {option}). "
        f"The columns are: {', '.join(repr(c) for c in table.columns)}",
        hint=f"{hint}Name the column with {option}.",
    )


def class_names(feature: Any) -> list[str]:
    """The label names of a `ClassLabel` feature, or of a `Sequence` of one (multi-label); [] otherwise."""
    names = getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)
    return list(names or [])


def sorted_label_names(values: list[str]) -> list[str]:
    """The stable order of class ids: numerically if every label is an integer, else by text."""
    unique = set(values)
    try:
        return sorted(unique, key=int)
    except ValueError:
        return sorted(unique)


def load_hub_dataset(path: str, name: str | None, instead: str):
    """`datasets.load_dataset(path, name)` that fails fast and clearly when the Hub is out of reach."""
    import datasets

    what = f"dataset {path!r}" + (f" ({name})" if name else "")
    if not offline_mode():
        require_hub(what, f"{instead} (A copy in the Hugging Face cache is used with HF_HUB_OFFLINE=1.)")
    try:
        return datasets.load_dataset(path, name)
    except Exception as exc:
        if offline_mode():
            raise HubUnavailableError(
                f"{what} is not in the local cache and HF_HUB_OFFLINE is set.", hint=instead
            ) from exc
        raise DataError(
            f"cannot load {what} from the Hugging Face Hub: {type(exc).__name__}: {exc}", hint=instead
        ) from exc


def labelled_dataset(
    columns: dict[str, list[str]], label_ids: list[int], label_names: list[str], label_column: str = "label"
):
    """A `datasets.Dataset` of string columns plus a `ClassLabel` label column (-1: no label)."""
    import datasets

    features = {name: datasets.Value("string") for name in columns}
    features[label_column] = datasets.ClassLabel(names=list(label_names))
    return datasets.Dataset.from_dict({**columns, label_column: label_ids}, features=datasets.Features(features))


GLUE_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}


def glue_folder_dataset(data_dir: Path, text_columns: dict[str, str], label_column: str, label_names: list[str]):
    """A local GLUE task folder (train.tsv, dev.tsv, optional test.tsv) as a `DatasetDict`.

    `text_columns` maps the file's column names to the dataset's; `label_column` is the file's
    integer label column, absent from GLUE's unlabelled test.tsv (labels there become -1).
    """
    import datasets

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir}: no such folder")
    splits = {}
    for split, filename in GLUE_FILES.items():
        path = data_dir / filename
        if not path.exists():
            if split == "test":
                continue
            raise DataError(
                f"--data-dir {data_dir}: no {filename} (a GLUE folder holds {', '.join(GLUE_FILES.values())})"
            )
        table = read_table(path, "tsv")
        for column in text_columns:
            require_column(table, column, "--data-dir")
        labelled = label_column in table.columns
        if split != "test" and not labelled:
            require_column(table, label_column, "--data-dir")
        ids = (
            [_glue_label(table, i, label_column, label_names) for i in range(len(table.rows))]
            if labelled
            else [-1] * len(table.rows)
        )
        splits[split] = labelled_dataset(
            {new: table.column(old) for old, new in text_columns.items()}, ids, label_names
        )
    return datasets.DatasetDict(splits)


def _glue_label(table: Table, index: int, column: str, label_names: list[str]) -> int:
    value = table.rows[index][column].strip()
    if value.isdigit() and int(value) < len(label_names):
        return int(value)
    allowed = ", ".join(f"{i} ({name})" for i, name in enumerate(label_names))
    raise DataError(f"{table.path}:{table.lines[index]}: column {column!r}: label {value!r} is not one of {allowed}")
