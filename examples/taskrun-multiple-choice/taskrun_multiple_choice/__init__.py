"""An example third-party taskrun plugin that adds a whole task family: multiple choice.

The family (`taskrun_multiple_choice.family.MultipleChoice`, a `taskrun.Family` subclass) brings
`AutoModelForMultipleChoice`, a collator over the choices, the chosen answer in `taskrun
predict`, accuracy, and the card's `multiple-choice` tag; taskrun's core is not changed. The
task `multiple-choice` reads JSON Lines files:

    {"question": "Which one is good?", "choices": ["awful", "great", "dull"], "label": 1}

with an optional `context` field (read before the question). `label` is the position of the
right choice, from 0. Every question of a file has the same number of choices. Without
--validation, a seeded share of --train (--validation-fraction) is held out.
"""

from pathlib import Path

from taskrun import TaskOption, TaskSpec, hookimpl

from .family import MULTIPLE_CHOICE, MultipleChoice, read_examples, to_dataset

__all__ = ["MULTIPLE_CHOICE", "MultipleChoice", "TASK"]

TASK = "multiple-choice"
FILE_OPTIONS = {"train": "--train", "validation": "--validation", "test": "--test"}
OPTIONS = (
    TaskOption(
        "--train", "Training file: JSON Lines with question, choices, label (and context); required.", type="path"
    ),
    TaskOption("--validation", "Validation file; without it a share of --train is held out.", type="path"),
    TaskOption("--test", "Test file, for `taskrun eval --split test`.", type="path"),
    TaskOption(
        "--validation-fraction", "Share of --train held out when there is no --validation.", type=float, default=0.2
    ),
    TaskOption("--encoding", "Text encoding of the files.", default="utf-8"),
)


@hookimpl
def taskrun_register_tasks(register):
    register(
        TaskSpec(
            name=TASK,
            description="Pick the right answer among a question's choices (JSON Lines: question, choices, label).",
            family=MULTIPLE_CHOICE,
            text_columns=("question",),
            label_column="label",
            metrics=("accuracy",),
            hyperparameters={"max_length": 64},
            options=OPTIONS,
            data_source="Your JSON Lines files, named by --train, --validation and --test.",
        )
    )


@hookimpl
def taskrun_load_dataset(task, config):
    """The files, checked record by record (file and line in every error) before any model loads."""
    import datasets
    from taskrun.errors import UsageError

    opts = config.task_options
    if not opts.get("train"):
        raise UsageError(
            f"{TASK} needs data: --train FILE.jsonl (with --validation, --test).",
            hint=f"`taskrun run {TASK} --help` lists the options.",
        )
    encoding = opts.get("encoding") or "utf-8"
    files = {split: read_examples(Path(opts[split]), encoding) for split in FILE_OPTIONS if opts.get(split)}
    positions = max(len(columns["choices"][0]) for columns in files.values())  # the label names: "0", "1", ...
    splits = {split: to_dataset(columns, positions) for split, columns in files.items()}
    if "validation" not in splits:
        fraction, rows = opts.get("validation_fraction", 0.2), len(splits["train"])
        held = round(rows * fraction) if 0 < fraction < 1 else 0
        if not 1 <= held < rows:
            raise UsageError(
                f"--validation-fraction {fraction:g} of {rows} training rows leaves no validation or no training row.",
                hint="Pass --validation FILE, or a fraction between 0 and 1 that keeps a row on each side.",
            )
        parts = splits["train"].train_test_split(test_size=held, seed=0)  # the same rows whatever --seed
        splits["train"], splits["validation"] = parts["train"], parts["test"]
    return datasets.DatasetDict(splits)
