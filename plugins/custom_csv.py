"""Task `custom-csv`: text classification on the user's own CSV, TSV or JSON Lines files.

Labels are read as the exact text in the file and numbered in a stable order: numerically when
every label is an integer (`2` before `10`), otherwise alphabetically. With no --validation file,
a seeded share of the training file (--validation-fraction) is held out.
"""

import random

from taskrun import TaskOption, TaskSpec, hookimpl

TASK = "custom-csv"
OPTIONS = (
    TaskOption("--train", "Training file (.csv, .tsv, .jsonl).", type="path", required=True),
    TaskOption("--validation", "Validation file; without it a share of --train is held out.", type="path"),
    TaskOption("--text-column", "Column holding the text.", default="text"),
    TaskOption("--text-pair-column", "Second text column, for sentence-pair tasks."),
    TaskOption("--label-column", "Column holding the label.", default="label"),
    TaskOption("--validation-fraction", "Share of --train held out when there is no --validation.", type=float, default=0.1),
    TaskOption("--format", "File format, if the extension does not tell.", type=("csv", "tsv", "jsonl")),
    TaskOption("--encoding", "Text encoding of the files.", default="utf-8"),
)


@hookimpl
def taskrun_register_tasks(register):
    register(TaskSpec(
        name=TASK,
        text_columns=("text", "text_pair"),
        metrics=("accuracy", "macro_f1"),
        options=OPTIONS,
        data_source="Your files, named by --train and --validation.",
    ))


@hookimpl
def taskrun_load_dataset(task, config):
    if task.name != TASK:
        return None
    import datasets

    from taskrun.data import labelled_dataset, read_table, sorted_label_names

    opts = config.task_options
    text_column, pair_column, label_column = opts["text_column"], opts.get("text_pair_column"), opts["label_column"]
    tables = {"train": _read(opts["train"], "--train", opts)}
    if opts.get("validation"):
        tables["validation"] = _read(opts["validation"], "--validation", opts)

    names = sorted_label_names(tables["train"].column(label_column))
    ids = {name: i for i, name in enumerate(names)}
    for split, table in tables.items():
        unknown = [(line, row[label_column]) for row, line in zip(table.rows, table.lines) if row[label_column] not in ids]
        if unknown:
            from taskrun.errors import DataError

            shown = ", ".join(f"line {line}: {value!r}" for line, value in unknown[:5])
            raise DataError(
                f"{table.path}: {len(unknown)} label(s) that the training file does not have ({shown}). "
                f"Training labels: {', '.join(names)}"
            )

    splits = {}
    for split, table in tables.items():
        columns = {"text": table.column(text_column)}
        if pair_column:
            columns["text_pair"] = table.column(pair_column)
        splits[split] = labelled_dataset(columns, [ids[v] for v in table.column(label_column)], names)
    if "validation" not in splits:
        splits["train"], splits["validation"] = _hold_out(splits["train"], opts["validation_fraction"], config.seed)
    return datasets.DatasetDict(splits)


def _read(path, option, opts):
    """Read one file and check that every named column is there and no label is empty."""
    from taskrun.data import read_table, require_column
    from taskrun.errors import DataError

    table = read_table(path, opts.get("format"), opts["encoding"])
    require_column(table, opts["text_column"], "--text-column")
    if opts.get("text_pair_column"):
        require_column(table, opts["text_pair_column"], "--text-pair-column")
    require_column(table, opts["label_column"], "--label-column")
    if not table.rows:
        raise DataError(f"{path} ({option}): no data rows below the header")
    empty = [line for row, line in zip(table.rows, table.lines) if not row[opts["label_column"]].strip()]
    if empty:
        raise DataError(f"{path}: {len(empty)} empty label(s) in column {opts['label_column']!r}, lines "
                        + ", ".join(map(str, empty[:5])) + (" ..." if len(empty) > 5 else ""))
    return table


def _hold_out(train, fraction, seed):
    """Split a seeded random share off the training rows (at least one row on each side)."""
    from taskrun.errors import DataError, UsageError

    if not 0 < fraction < 1:
        raise UsageError(f"--validation-fraction must be between 0 and 1, not {fraction}")
    if len(train) < 2:
        raise DataError("the training file needs at least 2 rows to hold out a validation share")
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    held = min(len(train) - 1, max(1, round(len(train) * fraction)))
    return train.select(sorted(order[held:])), train.select(sorted(order[:held]))


@hookimpl
def taskrun_metrics(task, predictions, references, label_names):
    """Accuracy and macro-F1 (every class counts the same, whatever its size)."""
    if task.name != TASK:
        return None
    from taskrun.metrics import F1, Accuracy

    ids = predictions.label_ids
    return {
        **Accuracy().compute(predictions=ids, references=references),
        "macro_f1": F1().compute(predictions=ids, references=references, average="macro")["f1"],
    }
