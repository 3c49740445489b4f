"""taskrun from Python: `taskrun.run`, `taskrun.run_seeds`, `taskrun.predict`, `taskrun.evaluate`.

The same options as the command line, as keyword arguments in snake_case (`learning_rate=3e-5`,
`text_column="review"`), checked the same way; a `config=` file supplies defaults as `--config`
does. Errors are taskrun's exceptions (`taskrun.errors`), never an exit. Each call builds what it
needs and leaves nothing behind, so calls can follow each other in one process; calls from
several threads run one after the other (the second waits, and says so).

    import taskrun
    result = taskrun.run("mrpc", model="embedded", data_dir="glue/MRPC", epochs=3)
    taskrun.predict(result.output_dir, [("The cat sat.", "A cat was sitting.")])
    taskrun.evaluate(result.output_dir, "mrpc", data_dir="glue/MRPC")
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Sequence, TypeVar

from .errors import UsageError
from .manager import TaskrunPluginManager, build_manager
from .onnx_export import ExportResult
from .options import eval_options, given_options, resolve_options, run_options, sources, tune_options
from .runner import RunResult
from .search import TuneResult
from .seeds import SeedsResult
from .settings import config_from_values, default_output_dir
from .task import RunConfig, TaskSpec

log = logging.getLogger("taskrun")
_Call = TypeVar("_Call", bound=Callable[..., Any])
_ONE_AT_A_TIME = threading.RLock()


def one_at_a_time(function: _Call) -> _Call:
    """Calls from several threads of one process run one after the other: a run changes
    process-wide state (the seed, library log levels, lazily imported modules), so two at once
    could break each other. A call that has to wait says so."""

    @functools.wraps(function)
    def serialised(*args: Any, **kwargs: Any) -> Any:
        if not _ONE_AT_A_TIME.acquire(blocking=False):
            log.info("taskrun.%s waits for another taskrun call of this process to finish", function.__name__)
            _ONE_AT_A_TIME.acquire()
        try:
            return function(*args, **kwargs)
        finally:
            _ONE_AT_A_TIME.release()

    return serialised  # type: ignore[return-value]


@one_at_a_time
def run(
    task: str,
    *,
    config: str | Path | None = None,
    plugins: Sequence[Any] | None = None,
    **options: Any,
) -> RunResult:
    """Fine-tune and evaluate `task` with `options` (the long options of `taskrun run TASK`, in
    snake_case); returns where the model is and its metrics. `config` is a settings file whose
    values the keyword arguments override. Raises a `taskrun.errors.TaskrunError` subclass."""
    from .runner import run as run_task

    manager = plugin_manager(plugins)
    settings, seeds = run_config(manager, task, config, options)
    if seeds:
        given = "seeds=" if options.get("seeds") else f"{config} holds seeds:"
        raise UsageError(
            f"taskrun.run() trains one model, and {given} {list(seeds)} asks for several: "
            "call taskrun.run_seeds(task, seeds, ...)."
        )
    return run_task(manager, settings)


@one_at_a_time
def run_seeds(
    task: str,
    seeds: Sequence[int],
    *,
    config: str | Path | None = None,
    plugins: Sequence[Any] | None = None,
    **options: Any,
) -> SeedsResult:
    """`run` once per seed into OUTPUT/seed-N/, and the summary (mean, standard deviation) that
    OUTPUT/summary.json holds."""
    from .seeds import run_seeds as run_each

    manager = plugin_manager(plugins)
    given = list(seeds) if isinstance(seeds, Iterable) and not isinstance(seeds, (str, list, tuple)) else seeds
    settings, checked = run_config(manager, task, config, {**options, "seeds": given})  # checked as --seeds
    return run_each(manager, settings, checked or [])


@one_at_a_time
def tune(
    task: str,
    *,
    trials: int = 10,
    space: str | Path | None = None,
    config: str | Path | None = None,
    plugins: Sequence[Any] | None = None,
    **options: Any,
) -> TuneResult:
    """Search hyperparameters with Optuna: `trials` runs of `task` into OUTPUT/trial-NNNN/, the
    study in OUTPUT/study.db (resume=\"auto\" continues a killed search), the best trial's
    settings in OUTPUT/best.toml. `options` are fixed for every trial; `space` is a search-space file;
    `seeds=[13, 42, 87]` scores each trial by its mean over those seeds."""
    from .search import tune as search

    manager = plugin_manager(plugins)
    spec = manager.task(task)
    given = {**options, "trials": trials, **({"space": space} if space is not None else {})}
    values, ctx = resolve_options(spec.name, tune_options(spec), given, config, f"taskrun.tune({task!r})")
    run_settings = config_from_values(spec, tune_output(spec, values), sources(ctx, spec))
    return search(manager, run_settings, values["trials"], values["space"], values["seeds"])


def plugin_manager(plugins: Sequence[Any] | None) -> TaskrunPluginManager:
    """The plugins a call uses: by default every installed one, as the command line loads them;
    `plugins=[module, ...]`: the built-ins and these only (a test's own plugin, uninstalled)."""
    manager = build_manager(load_installed=plugins is None)
    for plugin in plugins or ():
        manager.register(plugin)
    return manager


def tune_output(task: TaskSpec, values: dict[str, Any]) -> dict[str, Any]:
    """The search's folder: --output-dir, else runs/tune-TASK-DATE."""
    return {**values, "output_dir": values.get("output_dir") or default_output_dir(f"tune-{task.name}")}


def run_config(
    manager: TaskrunPluginManager, task: str, config: str | Path | None, options: dict[str, Any]
) -> tuple[RunConfig, list[int] | None]:
    """The RunConfig of keyword options over a settings file over the task's and core defaults,
    checked as the command line checks them, with the source of each value; and the seeds that
    either asks for (a search's best.toml holds them)."""
    spec = manager.task(task)
    values, ctx = resolve_options(spec.name, run_options(spec), options, config, f"taskrun.run({task!r})")
    seeds = values.get("seeds")
    return config_from_values(spec, values, sources(ctx, spec)), list(seeds) if seeds else None


@one_at_a_time
def predict(
    run_dir: str | Path,
    texts: str | Sequence[str] | Sequence[tuple[str, str]],
    *,
    batch_size: int = 32,
    all_scores: bool = False,
    precision: Literal["run", "fp32", "bf16"] = "run",
    plugins: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """Answer `texts` with a finished run's model: one dict per text. A classification run gives
    `label` and `score` (the label's probability; `score_LABEL` for every label with
    `all_scores`), or `value` for a regression model; a token run gives `entities` (dicts with
    `type`, `score`, `start`, `end`, `text`); a plugin's family gives its own answer. A pair model
    takes (text, text_pair) tuples. An empty text gets no answer. One string is one text."""
    from . import inference

    manager = plugin_manager(plugins)
    loaded = inference.load_run(Path(run_dir), manager=manager)
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        return []
    if loaded.pair:
        if not all(isinstance(t, (tuple, list)) and len(t) == 2 for t in items):
            raise UsageError(f"{run_dir} is a pair model: give (text, text_pair) tuples.")
        separator = pair_separator()
        if any(separator in str(part) for pair in items for part in pair):
            raise UsageError("a text of a pair holds a tab, which separates the two texts; replace it with a space.")
        lines = [f"{pair[0]}{separator}{pair[1]}" for pair in items]
    else:
        if not all(isinstance(t, str) for t in items):
            raise UsageError(f"{run_dir} takes single texts: give a string or a list of strings.")
        lines = [str(t) for t in items]
    inputs = loaded.family.predict_texts(lines, loaded, "text")
    outcome = inference.predict(
        manager, loaded, inputs, batch_size, all_scores, None if precision == "run" else precision
    )
    return outcome.rows


def pair_separator() -> str:
    """What separates the two texts of a pair on one line."""
    from .sequence_classification import PAIR_SEPARATOR

    return PAIR_SEPARATOR


@one_at_a_time
def evaluate(
    run_dir: str | Path,
    task: str,
    *,
    config: str | Path | None = None,
    plugins: Sequence[Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Score a finished run's model on `task`'s validation split (labels matched by name); returns
    the metrics `taskrun eval` prints. `options` are those of `taskrun eval RUN_DIR TASK`:
    split="test", batch_size, max_eval_samples, precision="fp32", data_dir, output, and the task's own
    (custom-csv's validation=..., text_column=...)."""
    manager = plugin_manager(plugins)
    spec = manager.task(task)
    values, ctx = resolve_options(spec.name, eval_options(spec), options, config, f"taskrun.evaluate({task!r})")
    return evaluation(manager, Path(run_dir), spec, values, given_options(ctx, spec))


@one_at_a_time
def export(
    run_dir: str | Path,
    output: str | Path,
    *,
    format: Literal["onnx"] = "onnx",
    quantize: Literal["int8"] | None = None,
    data_dir: str | Path | None = None,
    max_eval_samples: int | None = None,
    overwrite: bool = False,
    plugins: Sequence[Any] | None = None,
) -> ExportResult:
    """Export a finished run's model (ONNX), checked for parity with the run on its validation
    split (its data where the run read it, or `data_dir`); `predict` and `evaluate` take the
    exported folder. Raises ParityError, writing nothing, where the export answers differently."""
    from .onnx_export import export_run

    options: dict[str, Any] = {} if data_dir is None else {"data_dir": Path(data_dir)}
    if max_eval_samples is not None:
        options["max_eval_samples"] = max_eval_samples
    manager = plugin_manager(plugins)
    return export_run(manager, Path(run_dir), Path(output), format, quantize, options, overwrite)


def evaluation(
    manager: TaskrunPluginManager, run_dir: Path, task: TaskSpec, values: dict[str, Any], given: set[str]
) -> dict[str, Any]:
    """`taskrun eval`'s work, for the command and the API: score, and write --output if asked.
    On the run's own task, the task's options the caller did not give (`given`) are the run's
    (`--label-all-subwords`, `--scheme`, its data files): the figures are the run's."""
    import json

    from . import inference

    values = dict(values)
    split, batch_size, output = values.pop("split"), values.pop("batch_size"), values.pop("output")
    precision = values.pop("precision", "run")
    run = inference.load_run(run_dir, manager=manager)
    task_options = {option.key: values.pop(option.key) for option in task.options}
    if run.task.name == task.name:
        recorded = run.config().task_options
        task_options = {key: value if key in given else recorded.get(key, value) for key, value in task_options.items()}
    options = {"task_options": task_options, **values}
    metrics = inference.evaluate_run(
        manager, run, task.name, split, options, batch_size, None if precision == "run" else precision
    )
    if output:
        inference.write_output(output, json.dumps(metrics, indent=2) + "\n")
    return metrics
