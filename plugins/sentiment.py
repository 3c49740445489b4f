"""Task `sentiment`: is a sentence negative or positive? (GLUE SST-2, single sentences.)"""

from taskrun import TaskSpec, hookimpl

TASK = "sentiment"
LABELS = ("negative", "positive")


@hookimpl
def taskrun_register_tasks(register):
    register(
        TaskSpec(
            name=TASK,
            text_columns=("sentence",),
            labels=LABELS,
            metrics=("accuracy", "f1", "matthews_correlation"),
            primary_metric="accuracy",  # as GLUE reports SST-2 (balanced: a one-class model scores 0.5)
            uses_data_dir=True,
            data_source="The Hub's nyu-mll/glue (sst2), or --data-dir with GLUE's SST-2 train.tsv, dev.tsv "
            "and test.tsv.",
        )
    )


@hookimpl
def taskrun_load_dataset(task, config):
    from taskrun.data import glue_folder_dataset, load_hub_dataset

    if config.data_dir is not None:
        return glue_folder_dataset(config.data_dir, {"sentence": "sentence"}, "label", list(LABELS))
    return load_hub_dataset(
        "nyu-mll/glue", "sst2", instead="Pass --data-dir with a local GLUE SST-2 folder (train.tsv, dev.tsv)."
    )
