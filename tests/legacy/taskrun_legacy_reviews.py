# What `taskrun new-plugin legacy-reviews` wrote in taskrun 0.1, kept verbatim: a test shows that
# plugins written against the 0.1 contract still load and run.
"""taskrun plugin: task `legacy-reviews`, text classification from a folder with train.csv and dev.csv.

Each file has a `text` and a `label` column; labels are any strings. Change the task's
description, defaults and data loading below; the core does tokenising, batching, the model
head, training, evaluation and saving. Import heavy libraries inside the hooks, as here, so that
`taskrun list` stays fast.
"""

from taskrun import TaskSpec, hookimpl

TASK = "legacy-reviews"


@hookimpl
def taskrun_register_tasks(register):
    register(TaskSpec(
        name=TASK,
        description="Text classification from a folder with train.csv and dev.csv.",
        text_columns=("text",),
        default_model="embedded",
        hyperparameters={"epochs": 3, "learning_rate": 5e-5, "batch_size": 16},
        metrics=("accuracy",),
        uses_data_dir=True,
        data_source="--data-dir: a folder with train.csv and dev.csv (columns text, label).",
    ))


@hookimpl
def taskrun_load_dataset(task, config):
    if task.name != TASK:
        return None  # not our task: let its own plugin answer
    import datasets

    from taskrun.data import labelled_dataset, read_table, require_column, sorted_label_names
    from taskrun.errors import DataError

    if config.data_dir is None:
        raise DataError(f"task {TASK} needs --data-dir: a folder with train.csv and dev.csv")
    tables = {"train": read_table(config.data_dir / "train.csv"), "validation": read_table(config.data_dir / "dev.csv")}
    for table in tables.values():
        require_column(table, "text", "--data-dir")
        require_column(table, "label", "--data-dir")
    names = sorted_label_names(tables["train"].column("label"))
    splits = {}
    for split, table in tables.items():
        for row, line in zip(table.rows, table.lines):
            if row["label"] not in names:
                raise DataError(f"{table.path}:{line}: label {row['label']!r} is not among the training labels {names}")
        ids = [names.index(label) for label in table.column("label")]
        splits[split] = labelled_dataset({"text": table.column("text")}, ids, names)
    return datasets.DatasetDict(splits)


@hookimpl
def taskrun_metrics(task, predictions, references, label_names):
    if task.name != TASK:
        return None
    from taskrun.metrics import Accuracy

    return Accuracy().compute(predictions=predictions.label_ids, references=references)
