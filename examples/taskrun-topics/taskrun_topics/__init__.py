"""An example third-party taskrun plugin: task `topics`, the topic of a news headline.

It ships its own small data set (120 headlines, four topics), so `taskrun run topics --model
embedded` works with no other argument; `--data-file` takes a JSON Lines file of your own with
`headline` and `topic` fields. A fixed fifth of the rows, stratified by topic, is held out for
validation. The core reports accuracy, macro-F1 and Matthews correlation; macro-F1 picks the
best checkpoint.
"""

from importlib import resources

from taskrun import TaskOption, TaskSpec, hookimpl

TASK = "topics"
TOPICS = ("business", "science", "sports", "world")


@hookimpl
def taskrun_register_tasks(register):
    register(
        TaskSpec(
            name=TASK,
            description="Topic of a news headline: business, science, sports or world.",
            text_columns=("headline",),
            label_column="topic",
            labels=TOPICS,
            default_model="embedded",
            hyperparameters={"epochs": 4, "learning_rate": 1e-4, "batch_size": 16, "max_length": 32},
            metrics=("accuracy", "macro_f1"),
            primary_metric="macro_f1",
            options=(TaskOption("--data-file", "A JSON Lines file with headline and topic fields.", type="path"),),
            data_source="120 headlines shipped with the plugin, or --data-file.",
        )
    )


@hookimpl
def taskrun_load_dataset(task, config):
    import datasets
    from taskrun.data import labelled_dataset, read_table, require_column
    from taskrun.errors import DataError

    path = config.task_options.get("data_file") or resources.files(__name__).joinpath("headlines.jsonl")
    table = read_table(path, "jsonl")
    for column in ("headline", "topic"):
        require_column(table, column, "--data-file")
    for row, line in zip(table.rows, table.lines):
        if row["topic"] not in TOPICS:
            raise DataError(f"{table.path}:{line}: topic {row['topic']!r} is not one of {', '.join(TOPICS)}")
    data = labelled_dataset(
        {"headline": table.column("headline")},
        [TOPICS.index(t) for t in table.column("topic")],
        list(TOPICS),
        label_column="topic",
    )
    split = data.train_test_split(test_size=0.2, seed=0, stratify_by_column="topic")  # the same rows whatever --seed
    return datasets.DatasetDict(train=split["train"], validation=split["test"])
