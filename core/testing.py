"""Testing help for plugin authors (and taskrun's own tests): a tiny model and a one-call run.

Installed as a pytest plugin (entry point `pytest11`), so in any project where taskrun is
installed these fixtures are there without an import:

    def test_my_task_runs(taskrun_run):
        result = taskrun_run("my-task", "--data-dir", "tests/data", plugins=[my_plugin_module])
        assert result.exit_code == 0, result.output
        assert result.labels == ["negative", "positive"]

`taskrun_run` fine-tunes for one epoch, in fp32, with a 2-layer BERT of hidden size 32 whose
tokenizer is made on the spot (no network), into a temporary folder. Importing this module is
cheap: torch and transformers load only when a model is built or a run starts.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pytest

__all__ = ["build_tiny_model", "run_task", "RunOutcome", "taskrun_tiny_model", "taskrun_run"]

COMMON_WORDS = (
    "the a an and or but not no is are was were be been it this that these those he she they we you i "
    "of to in on at for with by from as about into over after before than then very really quite so "
    "good great fine nice lovely best bad awful poor worst boring dull movie film plot actor story "
    "company shares market year percent said reported rose fell today"
).split()
FAST_OPTIONS = ("--epochs", "1", "--batch-size", "8", "--precision", "fp32")


def build_tiny_model(folder: str | Path, extra_words: Iterable[str] = ()) -> Path:
    """Save a 2-layer BERT (hidden size 32, random weights, the same each time) and a WordPiece
    tokenizer to `folder`.

    The vocabulary holds common English words, `extra_words`, and every letter and digit as a
    word start and a continuation (`##x`), so any lowercase text tokenises without [UNK].
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = Path(folder)
    pieces = list(string.ascii_lowercase + string.digits)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for token in [*COMMON_WORDS, *extra_words, *pieces, *string.punctuation, *(f"##{p}" for p in pieces)]:
        if token not in vocab:
            vocab.append(token)
    BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, model_max_length=64).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    with torch.random.fork_rng():  # the same weights in every session, whatever ran before
        torch.manual_seed(0)
        model = BertModel(config)
    model.save_pretrained(folder)
    return folder


@dataclass
class RunOutcome:
    """What `run_task` gives back: the exit code, what was printed, and the run folder's contents."""

    exit_code: int
    output: str
    stderr: str
    output_dir: Path
    exception: BaseException | None = None
    metrics: dict[str, Any] | None = field(default=None)

    @property
    def error(self) -> str | None:
        """The error taskrun reported (its `Error: ...` line and the hint after it), or None:
        for a plugin's failure it names the plugin, the hook and the task."""
        if self.exit_code == 0:
            return None
        lines = self.stderr.splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("Error: ")]
        if starts:
            return "\n".join(lines[starts[-1] :]).removeprefix("Error: ")
        if self.exception is not None:  # an unexpected crash: the exception itself
            return f"{type(self.exception).__name__}: {self.exception}"
        return "\n".join(lines[-5:]) or f"exit code {self.exit_code}, nothing on stderr"

    @property
    def labels(self) -> list[str]:
        """The label names saved in the model's config (`id2label`), in id order."""
        config = json.loads((self.output_dir / "config.json").read_text())
        return [config["id2label"][str(i)] for i in range(len(config["id2label"]))]

    def predict(self, texts: list[Any], plugins: Iterable[Any] | None = None) -> list[dict[str, Any]]:
        """The saved model's answers through `transformers.pipeline`, of the task the run folder
        records (`text-classification` for sequence classification, `token-classification`'s
        entities for a token task, ...); through `taskrun.predict` (with `plugins`) for a family
        that transformers has no pipeline for."""
        from transformers import pipeline
        from transformers.pipelines import SUPPORTED_TASKS

        from .rundir import read_run_config

        # transformers types a pipeline's task as one of its literal names; runs from before families
        # record none: text-classification
        tag: Any = read_run_config(self.output_dir).pipeline_tag
        if tag not in SUPPORTED_TASKS:
            from .api import predict

            return predict(self.output_dir, texts, plugins=list(plugins) if plugins is not None else None)
        return pipeline(tag, model=str(self.output_dir), device="cpu")(texts)


def make_manager(plugins: Iterable[Any] | None = None):
    """A plugin manager with the built-ins plus `plugins` (modules or objects); with
    `plugins=None`, the built-ins plus every installed plugin, as the CLI loads them."""
    from .api import plugin_manager

    return plugin_manager(list(plugins) if plugins is not None else None)


def run_task(
    task: str,
    *args: Any,
    model: str | Path,
    output_dir: str | Path,
    plugins: Iterable[Any] | None = None,
    fast: bool = True,
) -> RunOutcome:
    """Run `taskrun run TASK ARGS...` in this process and return the outcome (never raises)."""
    from click.testing import CliRunner

    from .cli import main
    from .rundir import finished_metrics

    output_dir = Path(output_dir)
    argv = [
        "run",
        task,
        "--model",
        str(model),
        "--output-dir",
        str(output_dir),
        *(FAST_OPTIONS if fast else ()),
        *map(str, args),
    ]
    result = CliRunner().invoke(main, argv, obj=make_manager(plugins))
    finished = finished_metrics(output_dir) if result.exit_code == 0 else None
    return RunOutcome(
        exit_code=result.exit_code,
        output=result.stdout,
        stderr=result.stderr,
        output_dir=output_dir,
        exception=result.exception if not isinstance(result.exception, SystemExit) else None,
        metrics=finished.to_dict() if finished is not None else None,
    )


@pytest.fixture(scope="session")
def taskrun_tiny_model(tmp_path_factory) -> Path:
    """A tiny BERT folder, built once per test session."""
    return build_tiny_model(tmp_path_factory.mktemp("taskrun-tiny-bert"))


@pytest.fixture
def taskrun_run(taskrun_tiny_model, tmp_path, monkeypatch):
    """`taskrun_run(TASK, *options, plugins=None, model=None)`: a fast run into a temporary folder,
    with a tokenised-data cache of its own (never the user's)."""
    monkeypatch.setenv("TASKRUN_CACHE_DIR", str(tmp_path / "taskrun-cache"))

    def run(
        task: str,
        *args: Any,
        plugins: Iterable[Any] | None = None,
        model: str | Path | None = None,
        output_dir: str | Path | None = None,
    ) -> RunOutcome:
        return run_task(
            task,
            *args,
            model=model or taskrun_tiny_model,
            plugins=plugins,
            output_dir=output_dir or tmp_path / f"run-{task}",
        )

    return run
