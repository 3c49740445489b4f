"""Task `mrpc`: are two sentences paraphrases? (GLUE MRPC, sentence pairs encoded together.)"""

from taskrun import TaskSpec, hookimpl

TASK = "mrpc"
LABELS = ("not_equivalent", "equivalent")
FILE_COLUMNS = {"#1 String": "sentence1", "#2 String": "sentence2"}


@hookimpl
def taskrun_register_tasks(register):
    register(
        TaskSpec(
            name=TASK,
            text_columns=("sentence1", "sentence2"),
            labels=LABELS,
            metrics=("accuracy", "f1", "matthews_correlation"),
            primary_metric="f1",
            positive_label="equivalent",  # f1 is of `equivalent`, as GLUE reports MRPC
            metrics_help="f1 is the F1 of the `equivalent` class, as GLUE reports MRPC.",
            uses_data_dir=True,
            data_source="The Hub's nyu-mll/glue (mrpc), or --data-dir with GLUE's train.tsv, dev.tsv and test.tsv.",
        )
    )


@hookimpl
def taskrun_load_dataset(task, config):
    from taskrun.data import glue_folder_dataset, load_hub_dataset

    if config.data_dir is not None:
        return glue_folder_dataset(config.data_dir, FILE_COLUMNS, "Quality", list(LABELS))
    return load_hub_dataset(
        "nyu-mll/glue", "mrpc", instead="Pass --data-dir with a local GLUE MRPC folder (train.tsv, dev.tsv)."
    )
