"""The `taskrun` command: one module per command, over the Python API and the experiments.

Imports only click and the light core modules, so that --help and list stay fast. Options are
declared in taskrun.options, shared with the Python API; what the commands share (errors, log
messages, tables) is in `common`.
"""

from __future__ import annotations

import click

from ..options import version_option
from .common import show_log_messages
from .compare import compare_command
from .evaluate import eval_group
from .export import export_command
from .new_plugin import new_plugin
from .predict import predict_command
from .run import run_group
from .tasks import info, list_tasks
from .tune import tune_group

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@version_option()
def main() -> None:
    """Fine-tune and evaluate a pretrained Hugging Face model on a task, in one command.

    \b
    taskrun list                      the tasks you can run
    taskrun run mrpc --model embedded --data-dir glue/MRPC
    taskrun run TASK --help           a task's options and defaults
    """
    show_log_messages()


for _command in (
    list_tasks,
    info,
    new_plugin,
    predict_command,
    eval_group,
    export_command,
    run_group,
    tune_group,
    compare_command,
):
    main.add_command(_command)
