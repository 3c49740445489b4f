"""Reading the user's files and the Hub's datasets, for the core and for plugins.

Plugins that read files should use `read_table`: every value comes back as the exact string in
the file (no type is guessed), every row keeps its line number, and every problem becomes a
`DataError` naming the file, line and column. A dataset (a Hub name or a local folder,
`load_dataset_source`) becomes such a table split by split (`dataset_table`), so that one set of
checks serves both. Nothing here imports datasets at module level.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import gzip
import io
import json
import logging
import math
import os
import stat
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DataError, HubUnavailableError
from .files import file_kind
from .hub import is_hub_id, offline_constants, offline_mode, require_hub

__all__ = [
    "Table",
    "read_table",
    "require_column",
    "number_column",
    "class_names",
    "sorted_label_names",
    "load_hub_dataset",
    "load_dataset_source",
    "dataset_table",
    "labelled_dataset",
    "regression_dataset",
    "glue_folder_dataset",
    "read_text",
]

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}
FORMAT_NAMES = {"csv": "CSV", "tsv": "TSV", "jsonl": "JSON Lines"}
SHOWN_ROWS = 5
log = logging.getLogger("taskrun")
# The csv module's default field limit is 131,072 characters; long documents need more. Bounded
# (an unclosed quote otherwise makes the rest of a huge file one field) and within a C long everywhere.
FIELD_SIZE_LIMIT = 64 * 1024 * 1024
UNCLOSED_QUOTE_HINT = "An unclosed quote makes the rest of the file one field: check the quotes from that line on."
BINARY_PROBE = 8192  # bytes searched for NUL, the mark of a binary file
UTF8_BOM = codecs.BOM_UTF8
# Longest first: the UTF-32-LE mark begins with the UTF-16-LE one.
UNICODE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32", "utf-32"),
    (codecs.BOM_UTF32_BE, "UTF-32", "utf-32"),
    (codecs.BOM_UTF16_LE, "UTF-16", "utf-16"),
    (codecs.BOM_UTF16_BE, "UTF-16", "utf-16"),
)
SPREADSHEET_HINT = "Save the sheet as CSV (UTF-8) and pass that file."
# Extensions of files that are never text; `detect_format` says what to do with them.
BINARY_EXTENSIONS = {
    ".xlsx": SPREADSHEET_HINT,
    ".xlsm": SPREADSHEET_HINT,
    ".xls": SPREADSHEET_HINT,
    ".ods": SPREADSHEET_HINT,
    ".parquet": "Convert it to CSV or JSON Lines, e.g. pandas.read_parquet(path).to_csv('data.csv', index=False).",
    ".zip": "Unzip it and pass the CSV, TSV or JSON Lines file inside.",
}
# Leading bytes of binary formats a user may hand over by mistake: (magic, what it is, what to do).
DECOMPRESS_HINT = "Decompress it first: of the compressed formats only gzip (a name ending in .gz) is read directly."
MAGIC_NUMBERS = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Office file (.xls or .doc)", SPREADSHEET_HINT),
    (b"ARROW1", "an Arrow/Feather file", "Convert it to CSV or JSON Lines."),
    (b"BZh", "a bzip2-compressed file", DECOMPRESS_HINT),
    (b"\xfd7zXZ\x00", "an xz-compressed file", DECOMPRESS_HINT),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file", DECOMPRESS_HINT),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "Unpack it and pass the CSV, TSV or JSON Lines file inside."),
    (b"SQLite format 3\x00", "an SQLite database", "Export the table as CSV."),
    (b"%PDF-", "a PDF document", "Export the data as CSV."),
)


@dataclass
class Table:
    """A file's rows as dicts of strings, each with the line it starts on (1-based); or a dataset
    split's (`dataset_table`), `path` then naming the dataset and split, `lines` holding row
    indexes (0-based, as `dataset[i]`) and `unit` "row"."""

    path: Path | str
    columns: list[str]
    rows: list[dict[str, str]]
    lines: list[int]
    unit: str = "line"

    def column(self, name: str) -> list[str]:
        return [row[name] for row in self.rows]

    def at(self, line: int) -> str:
        """Where one row is, for a message: `train.csv:12` or `dataset 'x', split 'train', row 11`."""
        return f"{self.path}:{line}" if self.unit == "line" else f"{self.path}, {self.unit} {line}"


def detect_format(path: Path, fmt: str | None = None) -> str:
    """`fmt` if given, else the format its extension names; a `.gz` ending is looked through
    (`train.csv.gz` is CSV)."""
    if fmt:
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".gz":
        suffix = Path(path.stem).suffix.lower()
        if suffix in FORMATS:
            return FORMATS[suffix]
        raise DataError(
            f"{path}: cannot tell the format from the extension {suffix!r} before '.gz'",
            hint=f"Use one of {', '.join(sorted(FORMATS))} (then .gz), or name the format with --format.",
        )
    try:
        return FORMATS[suffix]
    except KeyError:
        hint = BINARY_EXTENSIONS.get(suffix, "")
        raise DataError(
            f"{path}: cannot tell the format from the extension {path.suffix!r}",
            hint=hint or f"Use one of {', '.join(sorted(FORMATS))}, or name the format with --format.",
        ) from None


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped if its name ends in .gz; anything but a regular file is refused
    before it is opened (reading a FIFO would wait for a writer forever)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{path}: not a regular file but {file_kind(mode)}; pass a CSV, TSV or JSON Lines file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    if path.suffix.lower() != ".gz":
        return raw
    if not raw.startswith(b"\x1f\x8b"):
        raise DataError(
            f"{path}: not gzip-compressed, though its name ends in .gz",
            hint="Rename it without the .gz ending, or compress it with gzip.",
        )
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError(f"{path}: the gzip data is truncated (it ends before the end of the stream)") from None
    except (OSError, zlib.error) as exc:
        raise DataError(f"{path}: the gzip data is corrupt ({exc})") from None


def _check_not_binary(path: Path, raw: bytes, fmt: str, wide: bool) -> None:
    """A DataError for a file that is not text at all (no --encoding can help with it)."""
    kind, hint = _binary_kind(raw, wide)
    if kind:
        what = FORMAT_NAMES.get(fmt, fmt)
        raise DataError(f"{path}: a binary file, not {what} text: it looks like {kind}", hint=hint)


def _binary_kind(raw: bytes, wide: bool) -> tuple[str, str]:
    if raw.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_kind(raw)
    if raw.startswith(b"PAR1") and raw.endswith(b"PAR1"):
        return "a Parquet file", BINARY_EXTENSIONS[".parquet"]
    if raw.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file", "Name it with a .gz ending (for example data.csv.gz) to read it as is."
    for magic, kind, hint in MAGIC_NUMBERS:
        if raw.startswith(magic) and (magic != b"BZh" or raw[4:10] == b"\x31\x41\x59\x26\x53\x59"):
            return kind, hint
    nul = -1 if wide else raw.find(b"\x00", 0, BINARY_PROBE)
    if nul >= 0:
        return (
            f"binary data (a NUL byte at byte offset {nul})",
            "Pass a CSV, TSV or JSON Lines text file. (UTF-16 text without a byte-order mark "
            "also holds NUL bytes: then pass --encoding utf-16-le or utf-16-be.)",
        )
    return "", ""


def _zip_kind(raw: bytes) -> tuple[str, str]:
    """Zip archives: Office and OpenDocument files are zips too; say which."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = archive.namelist()
            mimetype = archive.read("mimetype").decode("ascii", "replace") if "mimetype" in names else ""
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, NotImplementedError):
        names, mimetype = [], ""
    if any(name.startswith("xl/") for name in names):
        return "an Excel workbook (.xlsx)", SPREADSHEET_HINT
    if "spreadsheet" in mimetype:
        return "an OpenDocument spreadsheet (.ods)", SPREADSHEET_HINT
    if any(name.startswith(("word/", "ppt/")) for name in names) or mimetype.startswith("application/vnd.oasis"):
        return "an Office document", "Export the data as CSV."
    inside = f" holding {', '.join(names[:3])}" + (", ..." if len(names) > 3 else "") if names else ""
    return f"a zip archive{inside}", BINARY_EXTENSIONS[".zip"]


def _decode(path: Path, raw: bytes, encoding: str, fmt: str = "csv") -> str:
    """The file's text. A byte-order mark is dropped whatever the encoding; a decoding error names
    the line and column of the bad byte as an editor shows them: lines end at \\n, \\r\\n or \\r,
    and the column counts characters (not bytes) from 1, the BOM not counted."""
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise DataError(
            f"{path}: unknown encoding {encoding!r}", hint="Name a Python codec, e.g. utf-8, cp1252 or latin-1."
        ) from None
    wide = codec.startswith(("utf-16", "utf-32"))
    if not wide:
        for mark, name, suggestion in UNICODE_BOMS:
            if raw.startswith(mark):
                raise DataError(
                    f"{path}: starts with a {name} byte-order mark, so it is {name} text, not {encoding}",
                    hint=f"Pass --encoding {suggestion}, or save the file as UTF-8.",
                )
    elif raw.startswith(UTF8_BOM):
        raise DataError(
            f"{path}: starts with a UTF-8 byte-order mark, so it is UTF-8 text, not {encoding}",
            hint="Pass --encoding utf-8.",
        )
    _check_not_binary(path, raw, fmt, wide)
    if raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM) :]  # a UTF-8 BOM under cp1252 would decode to 'ï»¿', glued to a column name
    if codec == "utf-8-sig":
        codec = "utf-8"  # the BOM is gone; positions below must count from the bytes decoded
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        line, column = _position(raw[: exc.start].decode(codec, errors="replace").removeprefix("\ufeff"))
        raise DataError(
            f"{path}:{line}:{column}: not valid {encoding} (byte 0x{raw[exc.start]:02x})",
            hint="Pass --encoding with the file's encoding (for example latin-1 or cp1252).",
        ) from None
    return text[1:] if text.startswith("\ufeff") else text  # e.g. utf-16-le keeps its BOM as text


def _position(before: str) -> tuple[int, int]:
    """The 1-based line and character column just after the text `before`."""
    line = before.count("\n") + before.count("\r") - before.count("\r\n") + 1
    return line, len(before) - max(before.rfind("\n"), before.rfind("\r"))


def _column_names(columns: Sequence[str]) -> list[str]:
    if isinstance(columns, (str, bytes)):
        raise TypeError(f"columns must be a sequence of names, not the string {columns!r}")
    names = list(columns)
    if not names:
        raise ValueError("columns must name at least one column")
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"columns must be strings: {names!r}")
    duplicate = _first_duplicate(names)
    if duplicate:
        name, positions = duplicate
        raise ValueError(f"columns: {name!r} appears {_times(positions)} (positions {_and(positions)})")
    return names


def _first_duplicate(names: list[str]) -> tuple[str, list[int]] | None:
    """The first name that appears more than once, with its 1-based positions."""
    positions: dict[str, list[int]] = {}
    for number, name in enumerate(names, start=1):
        positions.setdefault(name, []).append(number)
    return next(((name, where) for name, where in positions.items() if len(where) > 1), None)


def _times(positions: list[int]) -> str:
    return "twice" if len(positions) == 2 else f"{len(positions)} times"


def _and(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def read_table(
    path: str | Path, fmt: str | None = None, encoding: str = "utf-8", columns: Sequence[str] | None = None
) -> Table:
    """Read a CSV, TSV or JSON Lines file, optionally gzip-compressed, into a `Table` of strings.

    - `fmt` ("csv", "tsv" or "jsonl") defaults to the one the extension names; a `.gz` ending is
      looked through (`train.csv.gz` is CSV) and the file is gunzipped.
    - CSV uses standard quoting; TSV is read with quoting off (a `"` is text). A field may hold up
      to `FIELD_SIZE_LIMIT` (64 Mi) characters, not the csv module's 131,072.
    - `columns`: the file has no header line. For CSV/TSV the first line is data, every row must
      have exactly `len(columns)` fields, and these are the Table's column names. For JSON Lines,
      only these keys are kept and every record must have them. Duplicate names are a ValueError.
      Without `columns`, the first non-blank CSV/TSV line is the header and its names must be unique;
      JSON Lines columns are the union of the records' keys, and every record must have them all.
    - A byte-order mark is dropped whatever the encoding (a UTF-8 BOM's bytes go before decoding,
      so cp1252 does not turn them into 'ï»¿'); a UTF-16/32 BOM under another encoding is an error
      that says the file is UTF-16/32.
    - Errors are `DataError`s naming the file and, where there is one, line and column: 1-based,
      lines as an editor counts them, columns in characters (not bytes), the BOM not counted.
      Binary files (NUL bytes, or a zip/xlsx/Parquet/... header) and anything but a regular file
      (a folder, a FIFO, a device) are refused before decoding.
    """
    path = Path(path)
    names = _column_names(columns) if columns is not None else None
    fmt = detect_format(path, fmt)
    text = _decode(path, _read_bytes(path), encoding, fmt)
    if fmt == "jsonl":
        return _read_jsonl(path, text, names)
    return _read_delimited(path, text, fmt, names)


def _read_delimited(path: Path, text: str, fmt: str, names: list[str] | None) -> Table:
    if fmt == "tsv":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines, bad = [], [], []
    header = names
    next_line = 1
    # The limit is the csv module's, for the whole process: raised while reading, then put back.
    previous_limit = csv.field_size_limit(FIELD_SIZE_LIMIT)
    try:
        for fields in reader:
            line, next_line = next_line, reader.line_num + 1
            if not fields:
                continue
            if header is None:
                header = [name.strip() for name in fields]
                _check_header(path, line, header)
                continue
            if len(fields) != len(header):
                bad.append(f"line {line}: {len(fields)} fields, expected {len(header)}")
                continue
            rows.append(dict(zip(header, fields)))
            lines.append(line)
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise DataError(
                f"{path}:{next_line}: a field longer than {FIELD_SIZE_LIMIT:,} characters",
                hint=UNCLOSED_QUOTE_HINT if fmt == "csv" else None,
            ) from None
        raise DataError(f"{path}:{reader.line_num}: {exc}") from None
    finally:
        csv.field_size_limit(previous_limit)
    if header is None:
        raise DataError(f"{path}: the file is empty (no header line)")
    if names is not None and not rows and not bad:
        raise DataError(f"{path}: the file is empty (no rows)")
    if bad:
        shape = (
            f"{len(header)} columns given: {', '.join(header)}"
            if names is not None
            else f"header has {len(header)} fields: {', '.join(header)}"
        )
        raise DataError(
            f"{path}: {len(bad)} malformed row(s) ({shape})\n  "
            + "\n  ".join(bad[:SHOWN_ROWS])
            + ("\n  ..." if len(bad) > SHOWN_ROWS else "")
        )
    return Table(path, header, rows, lines)


def _check_header(path: Path, line: int, header: list[str]) -> None:
    duplicate = _first_duplicate(header)
    if duplicate:
        name, positions = duplicate
        raise DataError(
            f"{path}:{line}: column {name!r} appears {_times(positions)} (columns {_and(positions)})",
            hint="Give each column its own name in the header line"
            + (" (empty names come from delimiters at the end of the line)." if not name else "."),
        )


def _read_jsonl(path: Path, text: str, names: list[str] | None = None) -> Table:
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
        if names is not None:
            missing = next((name for name in names if name not in record), None)
            if missing is not None:
                raise DataError(f"{path}:{number}: record has no field {missing!r}")
            record = {name: record[name] for name in names}
        rows.append({key: _as_text(value) for key, value in record.items()})
        lines.append(number)
        columns.update(dict.fromkeys(record))
    if not rows:
        raise DataError(f"{path}: the file holds no records")
    for row, number in zip(rows, lines):
        missing_keys = [c for c in columns if c not in row]
        if missing_keys:
            raise DataError(f"{path}:{number}: record has no field {missing_keys[0]!r}")
    return Table(path, names if names is not None else list(columns), rows, lines)


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


def number_column(table: Table, column: str, option: str) -> list[float]:
    """A column's values as numbers (a regression label, say); a DataError names every line whose
    value is not a finite number, and the option that named the column."""
    require_column(table, column, option)
    numbers, bad = [], []
    for value, line in zip(table.column(column), table.lines):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            bad.append(f"{table.unit} {line}: {value!r}")
        numbers.append(number)
    if bad:
        shown = ", ".join(bad[:SHOWN_ROWS]) + (f" ... ({len(bad)} in all)" if len(bad) > SHOWN_ROWS else "")
        raise DataError(
            f"{table.path}: column {column!r} (named by {option}): {len(bad)} value(s) that are not numbers: {shown}"
        )
    return numbers


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
    if offline_mode():
        offline_constants()  # else an HF_HUB_OFFLINE set after datasets was imported means 20 s of retries
    else:
        require_hub(what, f"{instead} (A copy in the Hugging Face cache is used with HF_HUB_OFFLINE=1.)")
    try:
        return datasets.load_dataset(path, name)
    except Exception as exc:
        # Offline, datasets answers an uncached name at once with a ConnectionError; anything else
        # (a cached dataset without the config asked for, say) is the library's own message.
        if offline_mode() and isinstance(exc, ConnectionError):
            raise HubUnavailableError(
                f"{what} is not in the local cache and HF_HUB_OFFLINE is set.", hint=instead
            ) from exc
        raise DataError(
            f"cannot load {what} from the Hugging Face Hub: {type(exc).__name__}: {exc}", hint=instead
        ) from exc


def load_dataset_source(source: str, name: str | None, option: str, instead: str):
    """A `DatasetDict` for `source`: a local folder as `datasets.load_dataset(folder)` reads it
    (data files such as `data/train-00000-of-00001.parquet` or `train.csv`, a README.md with
    their configs), never touching the network; otherwise a Hub dataset name, through
    `load_hub_dataset` (fast failure offline or without network). `name` is the config;
    `option` the option that named `source`, for the messages."""
    import datasets

    path = Path(source).expanduser()
    if not path.exists():
        if not is_hub_id(source):
            raise DataError(f"{option} {source}: no such folder, and not a Hugging Face Hub dataset name.")
        return load_hub_dataset(source, name, instead)
    if not path.is_dir():
        raise DataError(
            f"{option} {source}: a file, not a dataset folder or a Hub dataset name.",
            hint="Pass a single data file with --train; a folder holds a dataset's files.",
        )
    what = f"dataset folder {source}" + (f" ({name})" if name else "")
    try:
        data = datasets.load_dataset(str(path), name)
        files = datasets.load_dataset_builder(str(path), name).config.data_files or {}
    except Exception as exc:  # no data files, an unknown config, an unreadable file: the library says which
        raise DataError(f"{option}: cannot load {what}: {type(exc).__name__}: {exc}") from exc
    return labels_by_name_in_every_file(data, files, what)


def labels_by_name_in_every_file(data: Any, files: Any, what: str) -> Any:
    """Each data file's `ClassLabel` ids read with that file's own names. `datasets.load_dataset`
    reads every file of every split with the names of the first file it opens (the training
    split's, usually): a validation file that writes `pos, neg` where training writes `neg, pos`
    would have its labels swapped, silently. Parquet and Arrow files carry their own names (in the
    schema, as datasets writes them); a file whose names differ has its ids mapped by name to its
    split's, and a name the split lacks is added after them (the plugin then says whether the
    model has that label). `files`: the loader's data files, split -> files in reading order."""
    for split, paths in dict(files).items():
        if split not in data:
            continue
        columns = {column: class_names(feature) for column, feature in data[split].features.items()}
        columns = {column: names for column, names in columns.items() if names}
        if not columns:
            continue
        own = [_file_features(str(file)) for file in paths]
        known = [entry for entry in own if entry is not None]
        if len(known) != len(own) or sum(rows for _, rows in known) != len(data[split]):
            continue  # CSV or JSON files (no names of their own), or rows not as the files hold them
        plans: dict[str, list[tuple[int, int, dict[int, int]]]] = {}
        features = data[split].features.copy()
        start = 0
        for file, (file_features, rows) in zip(paths, known):
            for column, names in columns.items():
                written = class_names((file_features or {}).get(column))
                if not written or written == names:
                    continue
                log.info(
                    "%s, split %r: %s numbers the labels of column %r %s, where the split reads them as %s: "
                    "each row's label is matched by name",
                    what,
                    split,
                    Path(file).name,
                    column,
                    ", ".join(written),
                    ", ".join(names),
                )
                added = [label for label in written if label not in names]
                if added:
                    names = columns[column] = names + added
                    features[column] = _with_names(features[column], names)
                plans.setdefault(column, []).append(
                    (start, start + rows, {i: names.index(label) for i, label in enumerate(written)})
                )
            start += rows
        if plans:
            data[split] = data[split].map(
                _relabel, batched=True, with_indices=True, features=features, fn_kwargs={"plans": plans}
            )
    return data


def _file_features(path: str) -> tuple[Any, int] | None:
    """A Parquet or Arrow data file's own features (None where it records none) and its row
    count; None for any other kind of file."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".parquet":
            metadata = pq.ParquetFile(path).metadata
            schema, rows = metadata.schema.to_arrow_schema(), metadata.num_rows
        elif suffix == ".arrow":
            with pa.memory_map(path) as source:
                try:
                    stream = pa.ipc.open_stream(source)
                    schema, rows = stream.schema, sum(batch.num_rows for batch in stream)
                except (OSError, pa.ArrowInvalid):
                    reader = pa.ipc.open_file(source)
                    schema = reader.schema
                    rows = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
        else:
            return None
    except (OSError, pa.ArrowException):
        return None
    if not schema.metadata or b"huggingface" not in schema.metadata:
        return None, rows
    try:
        return datasets.Features.from_arrow_schema(schema), rows
    except Exception:  # metadata datasets cannot read: the file is read as the loader read it
        return None, rows


def _with_names(feature: Any, names: list[str]) -> Any:
    """`feature` (a ClassLabel, or a list of one) with these names."""
    import dataclasses

    import datasets

    if isinstance(feature, datasets.ClassLabel):
        return datasets.ClassLabel(names=names)
    return dataclasses.replace(feature, feature=datasets.ClassLabel(names=names))


def _relabel(batch: dict[str, list[Any]], indices: list[int], plans: dict[str, list[tuple[int, int, dict[int, int]]]]):
    """Map the ids of rows `indices` by each file's plan: (first row, end row, file id -> split id)."""

    def mapped(value: Any, to: dict[int, int]) -> Any:
        if isinstance(value, list):
            return [mapped(item, to) for item in value]
        return to.get(value, value) if isinstance(value, int) else value

    for column, ranges in plans.items():
        values = batch[column]
        for position, index in enumerate(indices):
            to = next((to for first, end, to in ranges if first <= index < end), None)
            if to is not None:
                values[position] = mapped(values[position], to)
    return {column: batch[column] for column in plans}


def dataset_table(data: Any, where: str, columns: Sequence[str], list_delimiter: str = ";") -> Table:
    """A dataset split as a `Table` of strings, so that it goes through the same checks as a file.

    `where` names the split in messages (`dataset 'x', split 'train'`); rows are numbered from 0,
    as `data[i]`. Only the `columns` that exist are read (`Table.columns` lists every column, so
    `require_column` names them). Values become text as in JSON Lines: a `ClassLabel` id becomes
    its name (-1, no label, becomes empty), a list (a `Sequence`, multi-label) its items joined by
    `list_delimiter`, None empty, a number its JSON form."""
    read = [c for c in dict.fromkeys(columns) if c in data.column_names]
    values = data.select_columns(read).to_dict() if read else {}
    for column in read:
        names = class_names(data.features[column])
        values[column] = [_cell_text(v, names, where, column, list_delimiter) for v in values[column]]
    rows = [dict(zip(read, cells)) for cells in zip(*(values[c] for c in read))]
    if not read:  # no column asked for exists: `require_column` says so
        rows = [{} for _ in range(len(data))]
    return Table(where, list(data.column_names), rows, list(range(len(data))), unit="row")


def _cell_text(value: Any, names: list[str], where: str, column: str, delimiter: str) -> str:
    if isinstance(value, list):
        items = [_cell_text(v, names, where, column, delimiter) for v in value]
        clash = next((item for item in items if delimiter in item), None)
        if clash is not None:
            raise DataError(
                f"{where}: column {column!r} holds the label {clash!r}, which contains the delimiter {delimiter!r}.",
                hint="Choose another delimiter with --label-delimiter.",
            )
        return delimiter.join(items)
    if names and isinstance(value, int) and not isinstance(value, bool):
        return names[value] if 0 <= value < len(names) else ""
    try:
        return _as_text(value)
    except TypeError:  # dates, bytes: their own text
        return str(value)


def labelled_dataset(
    columns: dict[str, list[str]], label_ids: list[int], label_names: list[str], label_column: str = "label"
):
    """A `datasets.Dataset` of string columns plus a `ClassLabel` label column (-1: no label)."""
    import datasets

    features = {name: datasets.Value("string") for name in columns}
    features[label_column] = datasets.ClassLabel(names=list(label_names))
    return datasets.Dataset.from_dict({**columns, label_column: label_ids}, features=datasets.Features(features))


GLUE_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}


def regression_dataset(columns: dict[str, list[str]], values: list[float], label_column: str = "label"):
    """A `datasets.Dataset` of string columns plus a float label column: a regression task's data."""
    import datasets

    features = {name: datasets.Value("string") for name in columns}
    features[label_column] = datasets.Value("float32")
    return datasets.Dataset.from_dict({**columns, label_column: values}, features=datasets.Features(features))


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


def read_text(path: str | Path, encoding: str = "utf-8", what: str = "text") -> str:
    """A text file's contents with `read_table`'s checks (a regular file, gunzipped if .gz, not
    binary, the byte-order mark dropped, a decoding error naming line and column); `what` names
    the format in messages. For plugins that read a format of their own (CoNLL, plain text)."""
    path = Path(path)
    return _decode(path, _read_bytes(path), encoding, what)
