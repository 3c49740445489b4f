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
            metrics=("accuracy", "f1"),
            uses_data_dir=True,
            data_source="The Hub's nyu-mll/glue (mrpc), or --data-dir with GLUE's train.tsv, dev.tsv and test.tsv.",
        )
    )


@hookimpl
def taskrun_load_dataset(task, config):
    if task.name != TASK:
        return None
    from taskrun.data import glue_folder_dataset, load_hub_dataset

    if config.data_dir is not None:
        return glue_folder_dataset(config.data_dir, FILE_COLUMNS, "Quality", list(LABELS))
    return load_hub_dataset(
        "nyu-mll/glue", "mrpc", instead="Pass --data-dir with a local GLUE MRPC folder (train.tsv, dev.tsv)."
    )


@hookimpl
def taskrun_metrics(task, predictions, references, label_names):
    """Accuracy and the F1 of the `equivalent` class, as GLUE reports MRPC."""
    if task.name != TASK:
        return None
    from taskrun.metrics import F1, Accuracy

    ids = predictions.label_ids
    return {
        **Accuracy().compute(predictions=ids, references=references),
        **F1().compute(predictions=ids, references=references, average="binary", pos_label=LABELS.index("equivalent")),
    }
