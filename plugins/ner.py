"""Task `ner`: named-entity recognition, a tag for every word (the token-classification family).

Data: CoNLL-style files (a token a line, the token in the first column and its tag in the last,
a blank line between sentences, `-DOCSTART-` lines skipped), JSON Lines (one sentence a line:
`{"tokens": [...], "tags": [...]}`), or a dataset (`--dataset`: a Hub name or a local folder) with
a word-list column and a tag column (tag names, or a sequence of `ClassLabel` ids).
Tags are IOB2; files in IOB1 or BIOES (`--scheme`) are converted to IOB2 as they are read. The
tag names are "O", then "B-TYPE" and "I-TYPE" for each entity type of the training data, types
sorted by name; validation and test may only use those types. There is no hold-out: without
--validation (or a dataset's validation split) the task stops and asks for one.
Every check runs here, before any model is loaded; each problem is a DataError naming the file
and line (a dataset's split and row) and the value.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from taskrun import TaskOption, TaskSpec, hookimpl
from taskrun.errors import DataError

TASK = "ner"
TOKENS, TAGS = "tokens", "tags"  # the columns of the dataset this task returns
SCHEMES = ("iob2", "iob1", "bioes")
SCHEME_NAMES = {"iob2": "IOB2", "iob1": "IOB1", "bioes": "BIOES"}
PREFIXES = {"iob2": ("B", "I"), "iob1": ("B", "I"), "bioes": ("B", "I", "E", "S")}
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
DOCSTART = "-DOCSTART-"
BOM = "\ufeff"
LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as an editor counts lines (and taskrun.data's messages)
SEPARATOR = re.compile(r"[ \t]+")
SHOWN = 5
log = logging.getLogger(__name__)
OPTIONS = (
    TaskOption("--train", "Training file (CoNLL or .jsonl); this or --dataset is required.", type="path"),
    TaskOption(
        "--validation", "Validation file; required with --train (no share of --train is held out).", type="path"
    ),
    TaskOption("--test", "Test file, for `taskrun eval --split test`.", type="path"),
    TaskOption(
        "--format",
        "File format: conll (a token and its tag a line, blank lines between sentences) or jsonl "
        "(one sentence a line). Default: jsonl for .jsonl and .json files, conll for any other.",
        type=("conll", "jsonl"),
    ),
    TaskOption("--encoding", "Text encoding of the files.", default="utf-8"),
    TaskOption(
        "--scheme",
        "The tag scheme of the data: iob2 (B- starts every entity), iob1 (B- only between two entities "
        "of one type, as the original CoNLL-2003 files) or bioes (also S- and E-). iob1 and bioes are "
        "converted to IOB2 as they are read.",
        type=SCHEMES,
        default="iob2",
    ),
    TaskOption(
        "--dataset",
        "Instead of files: a Hugging Face Hub dataset name, or a local folder as datasets.load_dataset reads "
        "it, with a word-list column and a tag column (tag names, or a sequence of ClassLabel ids whose names "
        "are the tags). Offline (--offline, HF_HUB_OFFLINE=1) a name must be in the local cache.",
    ),
    TaskOption("--dataset-config", "--dataset's configuration (subset), where it has several."),
    TaskOption(
        "--split-map",
        "--dataset's splits for taskrun's, as train=NAME,validation=NAME,test=NAME (any of them). "
        "Default: train, and validation (required); a test split only where named.",
    ),
    TaskOption("--tokens-column", "JSON Lines and --dataset: the field holding the list of words.", default="tokens"),
    TaskOption(
        "--tags-column",
        "JSON Lines and --dataset: the field holding the list of tags. Default: tags, or ner_tags where "
        "the data has that instead.",
    ),
    TaskOption(
        "--label-all-subwords",
        "Label every sub-word of a word with the word's tag (I- for the continuation pieces), instead of "
        "only the first; the rest are ignored by the loss.",
        type=bool,
        default=False,
    ),
)
FILE_OPTIONS = {"train": "--train", "validation": "--validation", "test": "--test"}
IOB1_HINT = (
    "If the data is IOB1 (an entity may start with I-, as in the original CoNLL-2003 files), or to read such "
    "a tag as the start of an entity, pass --scheme iob1."
)
LAST_COLUMN_HINT = "A line holds a token first and its tag last; is the tag in the last column?"


@hookimpl
def taskrun_register_tasks(register):
    register(
        TaskSpec(
            name=TASK,
            description="Named-entity recognition: a tag for every word (IOB2), entities scored with seqeval",
            family="token-classification",
            text_columns=(TOKENS,),
            label_column=TAGS,
            metrics=("precision", "recall", "f1", "accuracy"),
            primary_metric="f1",
            options=OPTIONS,
            data_source="Your CoNLL or JSON Lines files (--train, --validation, --test), or a dataset named "
            "by --dataset.",
        )
    )


@hookimpl
def taskrun_load_dataset(task, config):
    import datasets

    opts = config.task_options
    scheme = opts.get("scheme") or "iob2"
    splits = _dataset_splits(opts) if opts.get("dataset") else _file_splits(opts)
    for sentences in splits.values():
        to_iob2(sentences, scheme)
    labels = label_names(splits["train"])
    if len(labels) == 1:
        raise DataError(
            f"{splits['train'][0].where}: no entity in the training data: every tag is 'O'.",
            hint=LAST_COLUMN_HINT if splits["train"][0].unit == "line" else None,
        )
    for split in ("validation", "test"):
        if split in splits:
            check_known_types(splits[split], labels)
    for split, sentences in splits.items():
        _warn_about_blank_words(sentences)
        words = sum(len(s.tokens) for s in sentences)
        log.info("%s: %s sentences, %s words (%s)", split, f"{len(sentences):,}", f"{words:,}", sentences[0].where)
    types = [name[2:] for name in labels[1::2]]
    converted = f", converted from {SCHEME_NAMES[scheme]}" if scheme != "iob2" else ""
    log.info("tags (IOB2%s): %d entity types: %s", converted, len(types), ", ".join(types))
    return datasets.DatasetDict({split: to_dataset(sentences, labels) for split, sentences in splits.items()})


# -- sentences --------------------------------------------------------------------------------------


@dataclass
class Sentence:
    """One sentence's words and tags, and where it came from, for messages: `where` is the file (or
    the dataset and split), `line` the line of its first word (CoNLL), of its record (JSON Lines),
    or its row, numbered from 0 as `dataset[i]`; `unit` is "line", "record" or "row" accordingly."""

    tokens: list[str]
    tags: list[str]
    where: str
    line: int
    unit: str = "line"

    def at(self, word: int | None = None) -> str:
        """Where the sentence, or its word (0-based), is: `train.conll:12`, `train.jsonl:3, word 4`,
        `dataset 'x', split 'train', row 7, word 2`."""
        if self.unit == "line":
            return f"{self.where}:{self.line + (word or 0)}"
        place = f"{self.where}:{self.line}" if self.unit == "record" else f"{self.where}, row {self.line}"
        return place if word is None else f"{place}, word {word + 1}"


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """`fmt` if given; else "jsonl" for a .jsonl, .json or .ndjson file (a .gz ending looked
    through), "conll" for any other."""
    if fmt:
        return fmt
    path = Path(path)
    suffix = Path(path.stem).suffix if path.suffix.lower() == ".gz" else path.suffix
    return "jsonl" if suffix.lower() in JSONL_SUFFIXES else "conll"


def read_file(
    path: str | Path,
    fmt: str | None = None,
    encoding: str = "utf-8",
    tokens_column: str = TOKENS,
    tags_column: str | None = None,
) -> list[Sentence]:
    """The sentences of a CoNLL or JSON Lines file (`fmt`, or as `detect_format` tells)."""
    if detect_format(path, fmt) == "jsonl":
        return read_jsonl(path, encoding, tokens_column, tags_column)
    return read_conll(path, encoding)


def read_conll(path: str | Path, encoding: str = "utf-8") -> list[Sentence]:
    """A CoNLL-style file: a token a line, columns separated by tabs or spaces, the token first and
    the tag last; a blank (or whitespace-only) line ends a sentence; `-DOCSTART-` lines are skipped.
    A byte-order mark anywhere is dropped (a line holding only one is blank). Tags are as written
    (`to_iob2` checks them)."""
    path = Path(path)
    text = _read_text(path, encoding, "CoNLL")
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    first = 0
    for number, raw in enumerate(LINE_BREAK.split(text), start=1):
        line = raw.replace(BOM, "")
        fields = SEPARATOR.split(line.strip(" \t")) if line.strip() else []
        if fields and fields[0] != DOCSTART and len(fields) < 2:
            raise DataError(
                f"{path}:{number}: {raw.replace(BOM, '')!r} has one column and no tag",
                hint="A line holds a token and its tag (the tag in the last column, separated by a tab or "
                "spaces); a blank line ends a sentence."
                + (" The line looks like JSON: pass --format jsonl." if line.strip().startswith("{") else ""),
            )
        if fields and fields[0] != DOCSTART:
            if not tokens:
                first = number
            tokens.append(fields[0])
            tags.append(fields[-1])
            continue
        if tokens:  # a blank line, or a -DOCSTART- line, ends the sentence
            sentences.append(Sentence(tokens, tags, str(path), first))
            tokens, tags = [], []
    if tokens:
        sentences.append(Sentence(tokens, tags, str(path), first))
    if not sentences:
        raise DataError(f"{path}: no sentences: the file holds no token lines")
    return sentences


def read_jsonl(
    path: str | Path, encoding: str = "utf-8", tokens_column: str = TOKENS, tags_column: str | None = None
) -> list[Sentence]:
    """A JSON Lines file: one object a line with a list of words (`tokens_column`) and a list of
    tags of the same length (`tags_column`; None: `tags`, or `ner_tags` where the first record
    has that instead). Blank lines are skipped."""
    import json

    path = Path(path)
    text = _read_text(path, encoding, "jsonl")
    sentences: list[Sentence] = []
    for number, raw in enumerate(LINE_BREAK.split(text), start=1):
        line = raw.strip(BOM + " \t")  # a BOM at either end is dropped; one inside a string is data
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            column = exc.colno + len(raw) - len(raw.lstrip(BOM + " \t"))
            raise DataError(
                f"{path}:{number}:{column}: not valid JSON: {exc.msg}",
                hint="Each line holds one JSON object, e.g. "
                '{"tokens": ["Paris", "is", "nice"], "tags": ["B-LOC", "O", "O"]}.'
                + (" Is the file CoNLL? Then pass --format conll." if not line.startswith(("{", "[")) else ""),
            ) from None
        if not isinstance(record, dict):
            hint = "Write one sentence's object a line (JSON Lines), not one JSON array." if line == "[" else None
            raise DataError(f"{path}:{number}: each line must be a JSON object, found {type(record).__name__}", hint)
        if tags_column is None:
            tags_column = TAGS if TAGS in record or "ner_tags" not in record else "ner_tags"
        place = f"{path}:{number}"
        tokens = _strings(record, tokens_column, "--tokens-column", place, names=None)
        tags = _strings(record, tags_column, "--tags-column", place, names=None)
        sentences.append(_sentence(tokens, tags, str(path), number, "record"))
    if not sentences:
        raise DataError(f"{path}: no sentences: the file holds no records")
    return sentences


def dataset_sentences(data, where: str, tokens_column: str = TOKENS, tags_column: str | None = None) -> list[Sentence]:
    """A dataset split's sentences: a column of word lists and a column of tag lists, either tag
    names or ids of a `ClassLabel` sequence (then its names are the tags). `where` names the split
    in messages; rows are numbered from 0, as `data[i]`."""
    from taskrun.data import Table, class_names, require_column

    columns = list(data.column_names)
    if tags_column is None:
        tags_column = TAGS if TAGS in columns or "ner_tags" not in columns else "ner_tags"
    table = Table(where, columns, [], [], unit="row")
    require_column(table, tokens_column, "--tokens-column")
    require_column(table, tags_column, "--tags-column")
    names = class_names(data.features[tags_column])
    values = data.select_columns([tokens_column, tags_column]).to_dict()
    sentences = []
    for row, record in enumerate(zip(values[tokens_column], values[tags_column])):
        place = f"{where}, row {row}"
        record = dict(zip((tokens_column, tags_column), record))
        tokens = _strings(record, tokens_column, "--tokens-column", place, names=None)
        tags = _strings(record, tags_column, "--tags-column", place, names=names)
        sentences.append(_sentence(tokens, tags, where, row, "row"))
    if not sentences:
        raise DataError(f"{where}: no sentences: the split has no rows")
    return sentences


def _strings(record: dict, key: str, option: str, place: str, names: list[str] | None) -> list[str]:
    """`record[key]` as a list of strings; with ClassLabel `names`, ids become their names."""
    if key not in record:
        fields = ", ".join(map(repr, record)) or "none"
        raise DataError(
            f"{place}: the record has no field {key!r} (named by {option}); its fields are: {fields}",
            hint=f"Name the field with {option}.",
        )
    values = record[key]
    if not isinstance(values, list):
        raise DataError(f"{place}: field {key!r} must be a list of strings, not {type(values).__name__} {values!r}")
    out = []
    for i, value in enumerate(values):
        if names and isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < len(names):
                raise DataError(
                    f"{place}, word {i + 1}: tag id {value} in {key!r} is not one of the {len(names)} "
                    f"tag names of its ClassLabel (ids 0 to {len(names) - 1}); a sentence needs every tag"
                )
            value = names[value]
        if not isinstance(value, str):
            ids = option == "--tags-column" and isinstance(value, int)
            raise DataError(
                f"{place}: field {key!r}, item {i + 1} is {value!r}, not a string",
                hint="Tags are names (B-PER, I-PER, O). Ids are read only from a dataset whose tag column is a "
                "sequence of ClassLabel, which names them."
                if ids
                else None,
            )
        out.append(value)
    return out


def _sentence(tokens: list[str], tags: list[str], where: str, line: int, unit: str) -> Sentence:
    sentence = Sentence(tokens, tags, where, line, unit)
    if not tokens:
        raise DataError(f"{sentence.at()}: a sentence with no tokens (an empty list)")
    if len(tokens) != len(tags):
        raise DataError(f"{sentence.at()}: {len(tokens)} tokens but {len(tags)} tags; each word needs one tag")
    return sentence


def _read_text(path: Path, encoding: str, fmt: str) -> str:
    from taskrun.data import read_text

    return read_text(path, encoding, fmt)


# -- tags ---------------------------------------------------------------------------------------------


def to_iob2(sentences: list[Sentence], scheme: str = "iob2") -> list[Sentence]:
    """Check every tag against `scheme` and rewrite the tags as IOB2, in place: IOB1's I-X that
    starts an entity becomes B-X; BIOES's S-X becomes B-X and E-X becomes I-X. An I-X that does
    not continue an entity of type X (after O, at the start, after another type) is an error in
    IOB2 and BIOES, naming the first and counting them all. Returns `sentences`."""
    if scheme not in PREFIXES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}")
    converted, breaks = [], []
    for sentence in sentences:
        tags, starts = _sentence_to_iob2(sentence, scheme)
        converted.append(tags)
        breaks.extend((sentence, i) for i in starts)
    if breaks and scheme != "iob1":
        sentence, i = breaks[0]
        tag, kind = sentence.tags[i], sentence.tags[i][2:]
        after = "at the start of the sentence" if i == 0 else f"after {sentence.tags[i - 1]!r}"
        more = f" ({len(breaks)} such tags in all)" if len(breaks) > 1 else " (the only one)"
        raise DataError(
            f"{sentence.at(i)}: tag {tag!r} {after}: in {SCHEME_NAMES[scheme]} an entity starts with "
            + ("B-" if scheme == "iob2" else "B- or S-")
            + f", so {tag!r} must follow a tag of type {kind!r}{more}",
            hint=IOB1_HINT if scheme == "iob2" else "Check the tags of this sentence.",
        )
    changed = sum(a != b for sentence, tags in zip(sentences, converted) for a, b in zip(sentence.tags, tags))
    if changed:
        log.info("%s: %d %s tag(s) rewritten as IOB2", sentences[0].where, changed, SCHEME_NAMES[scheme])
    for sentence, tags in zip(sentences, converted):
        sentence.tags = tags
    return sentences


def _sentence_to_iob2(sentence: Sentence, scheme: str) -> tuple[list[str], list[int]]:
    """The sentence's tags in IOB2, each I-X that starts an entity made B-X; and the positions of
    those I- tags."""
    out, starts = [], []
    previous = None  # the entity type of the previous word, None after O and at the start
    for i, tag in enumerate(sentence.tags):
        if tag == "O":
            out.append(tag)
            previous = None
            continue
        prefix, _, kind = tag.partition("-")
        if prefix not in PREFIXES[scheme] or not kind or any(c.isspace() for c in kind):
            raise _not_in_scheme(sentence, i, tag, scheme)
        prefix = {"S": "B", "E": "I"}.get(prefix, prefix)
        if prefix == "I" and previous != kind:
            starts.append(i)
            prefix = "B"
        out.append(f"{prefix}-{kind}")
        previous = kind
    return out, starts


def _not_in_scheme(sentence: Sentence, i: int, tag: str, scheme: str) -> DataError:
    allowed = "O, B-TYPE or I-TYPE" if scheme != "bioes" else "O, B-TYPE, I-TYPE, E-TYPE or S-TYPE"
    prefix, dash, kind = tag.partition("-")
    if scheme != "bioes" and dash and kind and prefix in ("S", "E"):
        hint = "S- and E- tags are BIOES: pass --scheme bioes."
    elif dash and kind and prefix in ("U", "L"):
        hint = "U- and L- tags are BILOU: write them as S- and E- and pass --scheme bioes."
    elif not dash:
        hint = "Every entity tag needs its prefix (B-, I-)." + (
            " " + LAST_COLUMN_HINT if sentence.unit == "line" else ""
        )
    else:
        hint = LAST_COLUMN_HINT if sentence.unit == "line" else None
    return DataError(
        f"{sentence.at(i)}: tag {tag!r} is not a {SCHEME_NAMES[scheme]} tag (those are {allowed})", hint=hint
    )


def label_names(sentences: list[Sentence]) -> list[str]:
    """The tag names of a model trained on `sentences` (IOB2): "O", then "B-TYPE" and "I-TYPE" for
    each entity type they hold, types sorted by name. Both tags of a type are there even if its
    I- never occurs, so that other splits may use it."""
    types = sorted({tag[2:] for sentence in sentences for tag in sentence.tags if tag != "O"})
    return ["O"] + [f"{prefix}-{kind}" for kind in types for prefix in ("B", "I")]


def check_known_types(sentences: list[Sentence], labels: list[str]) -> None:
    """A DataError for the first tag (IOB2) whose entity type is not among `labels`' (training's)."""
    known = {name[2:] for name in labels if name != "O"}
    for sentence in sentences:
        for i, tag in enumerate(sentence.tags):
            if tag != "O" and tag[2:] not in known:
                raise DataError(
                    f"{sentence.at(i)}: tag {tag!r}: entity type {tag[2:]!r} does not occur in the training "
                    f"data, whose types are: {', '.join(sorted(known)) or 'none'}",
                    hint="A model can only predict the types it was trained on: add examples of this type to "
                    "the training data, or tag these words O.",
                )


def to_dataset(sentences: list[Sentence], labels: list[str]):
    """A `datasets.Dataset` of `tokens` (lists of strings) and `tags` (a sequence of ClassLabel of
    `labels`); every tag must be one of `labels`."""
    import datasets

    ids = {name: i for i, name in enumerate(labels)}
    features = datasets.Features(
        {
            TOKENS: datasets.Sequence(datasets.Value("string")),
            TAGS: datasets.Sequence(datasets.ClassLabel(names=labels)),
        }
    )
    columns = {TOKENS: [s.tokens for s in sentences], TAGS: [[ids[t] for t in s.tags] for s in sentences]}
    return datasets.Dataset.from_dict(columns, features=features)


def _warn_about_blank_words(sentences: list[Sentence]) -> None:
    """Words that are empty or only white space may give no sub-word at all, so their tags are neither
    trained nor scored: say where."""
    blank = [s.at(i) for s in sentences for i, token in enumerate(s.tokens) if not token.strip()]
    if blank:
        shown = "; ".join(blank[:SHOWN]) + (f" ... ({len(blank)} in all)" if len(blank) > SHOWN else "")
        log.warning("%d word(s) empty or white space only, which the model may not see: %s", len(blank), shown)


# -- the splits -----------------------------------------------------------------------------------


def _file_splits(opts) -> dict[str, list[Sentence]]:
    """The --train, --validation and --test files, read."""
    from taskrun.errors import UsageError

    if not opts.get("train"):
        raise UsageError(
            "ner needs data: --train FILE --validation FILE (and --test FILE), or --dataset NAME_OR_FOLDER.",
            hint="`taskrun run ner --help` lists the options.",
        )
    for option in ("dataset_config", "split_map"):
        if opts.get(option):
            name = "--" + option.replace("_", "-")
            raise UsageError(f"{name} applies to --dataset only; files are named by --train, --validation, --test.")
    if not opts.get("validation"):
        raise UsageError(
            "ner needs a validation file: --validation FILE (NER data sets ship one: dev.conll, valid.txt, ...).",
            hint="taskrun does not hold out part of --train for it: sentences of one document would land on "
            "both sides. Split off a file yourself if you have none.",
        )
    fmt, encoding = opts.get("format"), opts.get("encoding") or "utf-8"
    tokens_column, tags_column = opts.get("tokens_column") or TOKENS, opts.get("tags_column")
    return {
        split: read_file(Path(opts[split]), fmt, encoding, tokens_column, tags_column)
        for split in FILE_OPTIONS
        if opts.get(split)
    }


def _dataset_splits(opts) -> dict[str, list[Sentence]]:
    """--dataset's splits picked by --split-map (as custom-csv picks them), read."""
    from taskrun.data import load_dataset_source
    from taskrun.errors import UsageError
    from taskrun.plugins.custom_csv import _choose_splits, _parse_split_map

    given = [option for split, option in FILE_OPTIONS.items() if opts.get(split)]
    if given:
        raise UsageError(
            f"--dataset and {', '.join(given)} are mutually exclusive: --dataset reads every split from the dataset.",
            hint="Choose its splits with --split-map (train=NAME,validation=NAME,test=NAME), or pass files only.",
        )
    wanted = _parse_split_map(opts.get("split_map"))
    source, config_name = str(opts["dataset"]), opts.get("dataset_config")
    data = load_dataset_source(
        source,
        config_name,
        "--dataset",
        instead="Pass a local dataset folder to --dataset, or files with --train and --validation.",
    )
    chosen = _choose_splits(wanted, list(data), source)
    if "validation" not in chosen:
        raise UsageError(
            f"dataset {source!r} has no 'validation' split; its splits are {', '.join(map(repr, data))}.",
            hint="Name the split to validate on with --split-map validation=NAME "
            "(taskrun does not hold out part of train).",
        )
    named = f"dataset {source!r}" + (f" ({config_name})" if config_name else "")
    tokens_column, tags_column = opts.get("tokens_column") or TOKENS, opts.get("tags_column")
    unused = [name for name in data if name not in chosen.values()]
    also = f" (not used: {', '.join(map(repr, unused))}; --split-map names them)" if unused else ""
    log.info("%s: %s%s", named, ", ".join(f"{s} from split {n!r}" for s, n in chosen.items()), also)
    return {
        split: dataset_sentences(data[name], f"{named}, split {name!r}", tokens_column, tags_column)
        for split, name in chosen.items()
    }
