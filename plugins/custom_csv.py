"""Task `custom-csv`: text classification or regression on the user's own CSV, TSV or JSON Lines,
or on a dataset (`--dataset`: a Hugging Face Hub name or a local folder in the Hub's layout).

Labels are read as the exact text in the file and numbered in a stable order: numerically when
every label is an integer (`2` before `10`), otherwise alphabetically. `--problem` declares the
problem (single-label, multi-label with `--label-delimiter`, or regression); it is never guessed.
With no --validation file, a seeded share of the training file (--validation-fraction) is held out.
A dataset's splits become tables of text (`taskrun.data.dataset_table`, a ClassLabel's ids its
names) and go through the very checks a file does; --split-map picks them.
Every check runs here, before any model or tokenizer is loaded.
"""

import logging

from taskrun import TaskOption, TaskSpec, hookimpl

TASK = "custom-csv"
SHOWN = 5
log = logging.getLogger(__name__)
OPTIONS = (
    TaskOption("--train", "Training file (.csv, .tsv, .jsonl); this or --dataset is required.", type="path"),
    TaskOption("--validation", "Validation file; without it a share of --train is held out.", type="path"),
    TaskOption("--test", "Test file, for `taskrun eval --split test`.", type="path"),
    TaskOption("--text-column", "Column holding the text.", default="text"),
    TaskOption("--text-pair-column", "Second text column, for sentence-pair tasks."),
    TaskOption("--label-column", "Column holding the label.", default="label"),
    TaskOption("--label-delimiter", "multi-label: what separates the labels in a cell.", default=";"),
    TaskOption(
        "--validation-fraction", "Share of --train held out when there is no --validation.", type=float, default=0.1
    ),
    TaskOption(
        "--drop-empty",
        "Drop rows whose text is empty (and say how many) instead of stopping.",
        type=bool,
        default=False,
    ),
    TaskOption(
        "--allow-unseen-labels",
        "Keep validation/test rows whose label training never saw: the model cannot predict "
        "that label, so those rows count as errors.",
        type=bool,
        default=False,
    ),
    TaskOption("--format", "File format, if the extension does not tell.", type=("csv", "tsv", "jsonl")),
    TaskOption("--encoding", "Text encoding of the files.", default="utf-8"),
    TaskOption(
        "--dataset",
        "Instead of files: a Hugging Face Hub dataset name, or a local folder as datasets.load_dataset reads "
        "it (data files like train.csv or data/train-00000-of-00001.parquet). A ClassLabel column's names "
        "are the labels. Offline (--offline, HF_HUB_OFFLINE=1) a name must be in the local cache.",
    ),
    TaskOption("--dataset-config", "--dataset's configuration (subset), where it has several."),
    TaskOption(
        "--split-map",
        "--dataset's splits for taskrun's, as train=NAME,validation=NAME,test=NAME (any of them). "
        "Default: train, and validation where there is one (else a share of train is held out); "
        "a test split only where named.",
    ),
)
FILE_OPTIONS = {"train": "--train", "validation": "--validation", "test": "--test"}
SPLIT_MAP_FORM = "SPLIT=NAME[,SPLIT=NAME...] with SPLIT one of train, validation, test (e.g. validation=dev)"


@hookimpl
def taskrun_register_tasks(register):
    register(
        TaskSpec(
            name=TASK,
            text_columns=("text", "text_pair"),
            metrics_help="single-label also reports macro_f1, whatever the number of labels",
            options=OPTIONS,
            problem_types=("single-label", "multi-label", "regression"),
            data_source="Your files, named by --train, --validation and --test; or a Hub dataset or local "
            "dataset folder, named by --dataset.",
        )
    )


@hookimpl
def taskrun_load_dataset(task, config):
    import datasets

    opts = config.task_options
    tables, order = _dataset_tables(opts) if opts.get("dataset") else (_file_tables(opts), [])
    labels = {split: _labels(table, config.problem_type, opts) for split, table in tables.items()}
    names, unseen = _label_names(tables, labels, config.problem_type, opts, order)
    splits = {}
    for split, table in tables.items():
        columns = {"text": table.column(opts["text_column"])}
        if opts.get("text_pair_column"):
            columns["text_pair"] = table.column(opts["text_pair_column"])
        # Only the training labels are the model's; other splits name any others after them, and
        # the core counts their rows as errors (labels travel by name).
        split_names = names if split == "train" else names + unseen
        splits[split] = _dataset(columns, labels[split], split_names, config.problem_type)
    if "validation" not in splits:
        splits["train"], splits["validation"] = _hold_out(splits["train"], opts["validation_fraction"])
    return datasets.DatasetDict(splits)


def _lines(lines):
    return ", ".join(map(str, lines[:SHOWN])) + (f" ... ({len(lines)} in all)" if len(lines) > SHOWN else "")


def _where(table, lines):
    """`lines 2, 3` for a file, `rows 1, 2` for a dataset split."""
    return f"{table.unit}s {_lines(lines)}"


def _file_tables(opts):
    """The --train, --validation and --test files, read and checked."""
    from taskrun.data import read_table
    from taskrun.errors import UsageError

    if not opts.get("train"):
        raise UsageError(
            "custom-csv needs data: --train FILE (with --validation, --test) or --dataset NAME_OR_FOLDER.",
            hint="`taskrun run custom-csv --help` lists the options.",
        )
    for option in ("dataset_config", "split_map"):
        if opts.get(option):
            name = "--" + option.replace("_", "-")
            raise UsageError(f"{name} applies to --dataset only; files are named by --train, --validation, --test.")
    return {
        split: _check(read_table(opts[split], opts.get("format"), opts["encoding"]), option, opts)
        for split, option in FILE_OPTIONS.items()
        if opts.get(split)
    }


def _dataset_tables(opts):
    """--dataset's splits picked by --split-map, as checked tables; and the label order of a
    ClassLabel label column (its names, in its order; [] otherwise)."""
    from taskrun.data import class_names, dataset_table, load_dataset_source
    from taskrun.errors import UsageError

    given = [option for split, option in FILE_OPTIONS.items() if opts.get(split)]
    if given:
        raise UsageError(
            f"--dataset and {', '.join(given)} are mutually exclusive: --dataset reads every split from the dataset.",
            hint="Choose its splits with --split-map (train=NAME,validation=NAME,test=NAME), or pass files only.",
        )
    wanted = _parse_split_map(opts.get("split_map"))
    source, config_name = opts["dataset"], opts.get("dataset_config")
    data = load_dataset_source(
        source, config_name, "--dataset", instead="Pass a local dataset folder to --dataset, or files with --train."
    )
    chosen = _choose_splits(wanted, list(data), source)
    label = opts["label_column"]
    columns = [opts["text_column"], opts.get("text_pair_column"), label]
    named = f"dataset {source!r}" + (f" ({config_name})" if config_name else "")
    tables = {
        split: _check(
            dataset_table(data[name], f"{named}, split {name!r}", [c for c in columns if c], opts["label_delimiter"]),
            "--dataset",
            opts,
        )
        for split, name in chosen.items()
    }
    held = "" if "validation" in chosen else f"; validation: {opts['validation_fraction']:g} of train held out"
    unused = [name for name in data if name not in chosen.values()]
    also = f" (not used: {', '.join(map(repr, unused))}; --split-map names them)" if unused else ""
    used = ", ".join(f"{split} from split {name!r}" for split, name in chosen.items())
    log.info("%s: %s%s%s", named, used, held, also)
    return tables, class_names(data[chosen["train"]].features.get(label))


def _parse_split_map(value):
    """`train=a,validation=b` as {"train": "a", "validation": "b"}; a UsageError shows the form."""
    from taskrun.errors import UsageError

    if value is None:
        return {}
    wanted = {}
    for item in value.split(","):
        split, equals, name = (part.strip() for part in item.partition("="))
        if not equals or not split or not name:
            raise UsageError(
                f"--split-map {value!r}: {item.strip()!r} is not SPLIT=NAME.", hint=f"Write {SPLIT_MAP_FORM}."
            )
        if split not in FILE_OPTIONS:
            raise UsageError(
                f"--split-map {value!r}: {split!r} is not one of taskrun's splits (train, validation, test).",
                hint=f"Write {SPLIT_MAP_FORM}.",
            )
        if split in wanted:
            raise UsageError(f"--split-map {value!r}: {split} is named twice.", hint=f"Write {SPLIT_MAP_FORM}.")
        wanted[split] = name
    return wanted


def _choose_splits(wanted, available, source):
    """taskrun's split -> the dataset's: --split-map's, else train, and validation where there is one."""
    from taskrun.errors import UsageError

    have = ", ".join(map(repr, available))
    for split, name in wanted.items():
        if name not in available:
            raise UsageError(
                f"--split-map {split}={name}: dataset {source!r} has no split {name!r}; its splits are {have}."
            )
    chosen = dict(wanted)
    if "train" not in chosen:
        if "train" not in available:
            raise UsageError(
                f"dataset {source!r} has no 'train' split; its splits are {have}.",
                hint="Name the training split with --split-map train=NAME.",
            )
        chosen["train"] = "train"
    if "validation" not in chosen and "validation" in available and "validation" not in chosen.values():
        chosen["validation"] = "validation"
    twice = {name for name in chosen.values() if list(chosen.values()).count(name) > 1}
    if twice:
        both = " and ".join(split for split, name in chosen.items() if name in twice)
        raise UsageError(
            f"--split-map: {both} are all split {sorted(twice)[0]!r}: the model would be scored on its training data.",
            hint="Map each of train, validation and test to its own split.",
        )
    return {split: chosen[split] for split in FILE_OPTIONS if split in chosen}


def _check(table, option, opts):
    """Check one table's columns and its text cells (dropping empty ones with --drop-empty)."""
    from taskrun.data import require_column
    from taskrun.errors import DataError

    path = table.path
    text_columns = [opts["text_column"]] + ([opts["text_pair_column"]] if opts.get("text_pair_column") else [])
    if opts["label_column"] in text_columns:
        from taskrun.errors import UsageError

        raise UsageError(
            f"--label-column {opts['label_column']} is also a text column: the model would be shown the answer.",
            hint="Name the label column with --label-column.",
        )
    for column, name in zip(text_columns, ("--text-column", "--text-pair-column")):
        require_column(table, column, name)
    require_column(table, opts["label_column"], "--label-column")
    empty = [i for i, row in enumerate(table.rows) if any(not row[c].strip() for c in text_columns)]
    if empty and not opts.get("drop_empty"):
        raise DataError(
            f"{path}: {len(empty)} row(s) with empty text in {', '.join(map(repr, text_columns))}, "
            f"{_where(table, [table.lines[i] for i in empty])}",
            hint="Fix the rows, or pass --drop-empty to leave them out.",
        )
    if empty:
        dropped = _where(table, [table.lines[i] for i in empty])
        log.warning("%s: dropped %d row(s) with empty text (%s)", path, len(empty), dropped)
        keep = sorted(set(range(len(table.rows))) - set(empty))
        table.rows, table.lines = [table.rows[i] for i in keep], [table.lines[i] for i in keep]
    if not table.rows:
        raise DataError(f"{path} ({option}): no usable rows" + (" after dropping empty texts" if empty else ""))
    return table


def _labels(table, problem_type, opts):
    """Each row's label as text (single-label), a list of texts (multi-label) or a number (regression)."""
    from taskrun.data import number_column
    from taskrun.errors import DataError

    column = opts["label_column"]
    values = table.column(column)
    empty = [line for value, line in zip(values, table.lines) if not value.strip()]
    if empty:
        raise DataError(f"{table.path}: {len(empty)} empty label(s) in column {column!r}, {_where(table, empty)}")
    if problem_type == "regression":
        return number_column(table, column, "--label-column (--problem regression)")
    if problem_type == "multi-label":
        return [
            sorted({part.strip() for part in value.split(opts["label_delimiter"]) if part.strip()}) for value in values
        ]
    _refuse_number_spellings(table, column, values)
    _warn_about_suspicious_labels(table, column, values)
    return [value.strip() for value in values]


MISSING_VALUES = {"nan", "null", "none", "n/a", "na", "-", "?"}


def _warn_about_suspicious_labels(table, column, values):
    """Labels that are probably one label, or no label at all: said with their lines, since the
    file may mean them (a class called "None"); a column with a different label in every row is
    refused: it is no label column."""
    from taskrun.errors import DataError

    lines = {}
    for value, line in zip(values, table.lines):
        lines.setdefault(value, []).append(line)
    stripped = [v for v in lines if v != v.strip() and v.strip() in lines]
    if stripped:
        shown = "; ".join(f"{v!r} ({_where(table, lines[v])}) as {v.strip()!r}" for v in stripped[:SHOWN])
        log.warning(
            "%s: column %r: labels with spaces around them were read as the same label: %s", table.path, column, shown
        )
    by_case = {}
    for value in lines:
        by_case.setdefault(value.strip().casefold(), set()).add(value.strip())
    for spellings in by_case.values():
        if len(spellings) > 1:
            shown = ", ".join(
                f"{v!r} ({_where(table, sorted(n for k in lines if k.strip() == v for n in lines[k]))})"
                for v in sorted(spellings)
            )
            log.warning(
                "%s: column %r: labels that differ only in case are different classes: %s", table.path, column, shown
            )
    missing = sorted(v for v in lines if v.strip().casefold() in MISSING_VALUES)
    if missing:
        shown = ", ".join(f"{v!r} ({_where(table, lines[v])})" for v in missing)
        log.warning(
            "%s: column %r: labels that look like missing values are used as classes: %s", table.path, column, shown
        )
    if len(values) >= 10 and len(lines) == len(values):
        raise DataError(
            f"{table.path}: column {column!r} holds a different label in every one of its "
            f"{len(values)} rows: it looks like text, not labels.",
            hint="Name the label column with --label-column (and the text with --text-column).",
        )


def _refuse_number_spellings(table, column, values):
    """`1` and `1.0` in one label column are one number written two ways: refuse to guess."""
    from taskrun.errors import DataError

    spellings = {}
    for value, line in zip(values, table.lines):
        number = _number(value)
        if number is not None:
            spellings.setdefault(number, {}).setdefault(value.strip(), line)
    for number, seen in spellings.items():
        if len(seen) > 1:
            shown = ", ".join(f"{text!r} ({table.unit} {line})" for text, line in seen.items())
            raise DataError(
                f"{table.path}: column {column!r} writes the label {number:g} in {len(seen)} ways: {shown}",
                hint="Labels are compared as text; write each one the same way.",
            )


def _label_names(tables, labels, problem_type, opts, order=()):
    """The model's labels (those of the training data) and, where --allow-unseen-labels keeps
    them, the other splits' labels that training never saw; unseen labels are otherwise an
    error, and so is a label that another file writes as a different number (`1` and `1.0`).
    The labels are numbered in `order` (a ClassLabel's names), else as `sorted_label_names` does."""
    from taskrun.errors import DataError

    if problem_type == "regression":
        return [], []
    flat = lambda values: [v for value in values for v in (value if isinstance(value, list) else [value])]  # noqa: E731
    known = set(flat(labels["train"]))
    training = "training file" if tables["train"].unit == "line" else "training split"
    numbers = {_number(v): v for v in known if _number(v) is not None}
    unseen_all = set()
    for split in ("validation", "test"):
        if split not in tables:
            continue
        table = tables[split]
        unseen = [
            (line, v)
            for value, line in zip(labels[split], table.lines)
            for v in (value if isinstance(value, list) else [value])
            if v not in known
        ]
        for line, value in unseen:
            if _number(value) in numbers:
                raise DataError(
                    f"{table.at(line)}: label {value!r} is the {training}'s label "
                    f"{numbers[_number(value)]!r} written another way.",
                    hint="Labels are compared as text; write each one the same way in every file.",
                )
        if unseen and not opts.get("allow_unseen_labels"):
            shown = ", ".join(f"{table.unit} {line}: {value!r}" for line, value in unseen[:SHOWN])
            raise DataError(
                f"{table.path}: {len(unseen)} label(s) that the {training} does not have ({shown}). "
                f"Training labels: {', '.join(_in_order(known, order))}",
                hint="Pass --allow-unseen-labels to keep those rows; the model cannot predict their labels, "
                "so they count as errors.",
            )
        unseen_all.update(v for _, v in unseen)
    if unseen_all:
        log.warning(
            "labels not in the %s: %s; the model never predicts them, and their rows count as errors",
            training,
            ", ".join(sorted(unseen_all)),
        )
    return _in_order(known, order), sorted(unseen_all)


def _in_order(labels, order):
    """`labels` in `order` (a ClassLabel's: the dataset's own ids), any others after them as
    `sorted_label_names` numbers them."""
    from taskrun.data import sorted_label_names

    return [name for name in order if name in labels] + sorted_label_names([v for v in labels if v not in order])


def _number(value):
    try:
        return float(value)
    except ValueError:
        return None


def _dataset(columns, labels, names, problem_type):
    import datasets
    from taskrun.data import labelled_dataset

    if problem_type == "regression":
        features = datasets.Features(
            {**{c: datasets.Value("string") for c in columns}, "label": datasets.Value("float32")}
        )
        return datasets.Dataset.from_dict({**columns, "label": labels}, features=features)
    ids = {name: i for i, name in enumerate(names)}
    if problem_type == "multi-label":
        features = datasets.Features(
            {
                **{c: datasets.Value("string") for c in columns},
                "label": datasets.Sequence(datasets.ClassLabel(names=names)),
            }
        )
        return datasets.Dataset.from_dict(
            {**columns, "label": [[ids[v] for v in value] for value in labels]}, features=features
        )
    return labelled_dataset(columns, [ids[v] for v in labels], names)


HOLD_OUT_SEED = 0  # the held-out rows depend on the data alone: runs with other --seed values score alike


def _hold_out(train, fraction):
    """Hold out a share of the training rows as validation (at least one row on each side), the
    same rows for the same data whatever --seed is; stratified by label where every class has two
    rows or more, so that the held-out share has the training file's class balance."""
    from taskrun.errors import DataError, UsageError

    if not 0 < fraction < 1:
        raise UsageError(f"--validation-fraction must be between 0 and 1, not {fraction}")
    if len(train) < 2:
        raise DataError("the training file needs at least 2 rows to hold out a validation share")
    held = min(len(train) - 1, max(1, round(len(train) * fraction)))
    try:
        parts = train.train_test_split(test_size=held, seed=HOLD_OUT_SEED, stratify_by_column="label")
    except ValueError:  # regression or multi-label labels, a class with one row, fewer rows than classes
        parts = train.train_test_split(test_size=held, seed=HOLD_OUT_SEED)
    return parts["train"], parts["test"]


@hookimpl
def taskrun_metrics(task, predictions, references, label_names):
    """Macro-F1 for single-label tasks, binary ones included (the defaults give binary F1 there)."""
    if task.problem_type != "single-label":
        return None
    from taskrun.metrics import f1

    return {"macro_f1": f1(predictions.label_ids, references, average="macro")}
