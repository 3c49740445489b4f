"""taskrun: fine-tune a pretrained Hugging Face model on a registered task, in one command.

Plugin authors need `hookimpl`, `TaskSpec` and `TaskOption` from here.
"""

from .hookspecs import hookimpl
from .task import Predictions, RunConfig, TaskOption, TaskSpec

__version__ = "0.2.0"
__all__ = ["hookimpl", "Predictions", "RunConfig", "TaskOption", "TaskSpec", "__version__"]
