"""`taskrun tune TASK`: a hyperparameter search with Optuna, each trial a whole taskrun run.

OUTPUT/ holds the study (study.db, SQLite), one run folder per trial (trial-0000/ ...), tune.json
(every trial's settings, score and time, rewritten after each trial) and, at the end, best.toml:
the best trial's settings as a config file, so that `taskrun run TASK --config OUTPUT/best.toml`
trains it again. The tokenised data is shared between trials through taskrun's cache.

With --seeds, each trial trains once per seed (trial-0000/seed-13/ ...) and scores the mean over
them: on a dev set of a few hundred examples one seed's score moves as much as the settings do.

A search killed at any moment continues with `--resume auto`: the trials already finished stay in
the study, and the one that was running is run again with the same settings, from its newest
complete checkpoint. Trials are asked for and told one at a time (Optuna's ask-and-tell), so that
taskrun keeps its own checkpoints, resume and output folders.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import CheckpointError, OutputExistsError, TrainingError, UsageError
from .files import write_atomically, write_json
from .launch import is_main_process, world_size
from .manager import TaskrunPluginManager
from .outputs import output_dir_lock
from .rundir import finished_metrics, read_run_config
from .runner import run
from .scoring import best_metric, expected_metric_names, primary_metric
from .seeds import check_seeds, run_seeds, seed_folder
from .settings import read_file_mapping, settings_file_text
from .task import RunConfig, TaskSpec, TaskSpecError, check_search_space, greater_is_better

log = logging.getLogger("taskrun")

# The search when neither --space nor the task's registry entry says otherwise: the settings that
# matter most when fine-tuning a BERT-sized model (Devlin et al.'s grid, widened).
DEFAULT_SPACE: dict[str, dict[str, Any]] = {
    "learning_rate": {"low": 1e-5, "high": 2e-4, "log": True},
    "batch_size": {"choices": [16, 32]},
    "epochs": {"low": 2, "high": 5, "step": 1},
    "warmup_ratio": {"low": 0.0, "high": 0.2},
    "weight_decay": {"choices": [0.0, 0.01, 0.1]},
}
STUDY, SUMMARY, BEST = "study.db", "tune.json", "best.toml"
STUDY_NAME = "taskrun"


@dataclass
class TuneResult:
    """The search's folder, its summary (as in tune.json) and the best trial's folder (its run,
    or with --seeds its folder of one run per seed)."""

    output_dir: Path
    summary: dict[str, Any]
    best_run: Path | None


def search_space(task: TaskSpec, space_file: Path | None) -> dict[str, dict[str, Any]]:
    """--space FILE, else the task's (registry.toml can set it), else DEFAULT_SPACE."""
    if space_file is None:
        return dict(task.search_space) or DEFAULT_SPACE
    try:
        return check_search_space(read_file_mapping(space_file, "--space", tables=True), f"--space {space_file}")
    except TaskSpecError as exc:
        raise UsageError(str(exc)) from exc


def check_search_folder(folder: Path, overwrite: bool, resume: str | None) -> None:
    """A folder holding a search is continued with --resume auto or replaced with --overwrite;
    one holding anything else is refused."""
    if not folder.exists() or not any(folder.iterdir()):
        return
    if not (folder / STUDY).is_file():
        raise OutputExistsError(
            f"--output-dir {folder} holds files that are not a taskrun search.", hint="Choose another --output-dir."
        )
    if overwrite:
        for entry in folder.iterdir():
            if entry.name in (STUDY, SUMMARY, BEST) or entry.name.startswith("trial-"):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        return
    check_study_file(folder)
    if resume != "auto":
        raise OutputExistsError(
            f"--output-dir {folder} holds a search ({STUDY}).",
            hint="Pass --resume auto to continue it, --overwrite to start again, or choose another --output-dir.",
        )


def check_study_file(folder: Path) -> None:
    """The study of a search being continued must be one SQLite reads, holding taskrun's study.
    Otherwise the search cannot continue, and Optuna would either fail with a bare SQLite error
    or (an empty file) start a new search over the finished trials' folders. An empty study
    beside no trial folder is a search killed as it began: it simply begins again."""
    path = folder / STUDY
    trials = sorted(entry.name for entry in folder.glob("trial-*") if entry.is_dir())
    problem = None
    if path.stat().st_size == 0:
        if not trials:
            return
        problem = "is empty (0 bytes)"
    else:
        import sqlite3

        try:
            with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)) as db:
                (check,) = db.execute("PRAGMA quick_check").fetchone()
                if check != "ok":
                    problem = f"is damaged (SQLite: {check})"
                elif (
                    not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'studies'").fetchone()
                    or not db.execute("SELECT 1 FROM studies WHERE study_name = ?", (STUDY_NAME,)).fetchone()
                ):
                    problem = "holds no taskrun search"
        except sqlite3.Error as exc:
            problem = f"is damaged (SQLite: {exc})"
    if problem is None:
        return
    raise CheckpointError(
        f"--output-dir {folder}: its study, {path}, {problem}; the search cannot continue from it.",
        hint=trials_intact(folder, trials),
    )


def trials_intact(folder: Path, trials: list[str]) -> str:
    """What to do when a search's study cannot be continued: its trial folders are intact."""
    if not trials:
        return (
            "It holds no trial folder: start a new search with --overwrite (nothing finished is lost) "
            "or in another --output-dir."
        )
    shown = ", ".join(trials[:5]) + (f" ... ({len(trials)} in all)" if len(trials) > 5 else "")
    record = f"; {SUMMARY} lists their settings and scores" if (folder / SUMMARY).is_file() else ""
    return (
        f"The trial folders are intact ({shown}){record}: each finished trial is a run that "
        f"`taskrun compare {folder}`, predict and eval read. To continue the search, put back a copy of "
        f"{folder / STUDY}; or start a new search in another --output-dir."
    )


def check_trial_folders(study: Any, folder: Path) -> None:
    """Every trial folder is one the study knows: a study that does not (one made anew beside the
    trials of another) would start its first trial in a finished trial's folder."""
    known = {f"trial-{t.number:04d}" for t in study.get_trials(deepcopy=False)}
    known |= {t.user_attrs.get(key) for t in study.get_trials(deepcopy=False) for key in ("folder", "resumes")}
    unknown = sorted(entry.name for entry in folder.glob("trial-*") if entry.is_dir() and entry.name not in known)
    if unknown:
        raise CheckpointError(
            f"--output-dir {folder}: its study, {folder / STUDY}, does not know the trial folders "
            f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}: it is not the study they were trained in; "
            "the search cannot continue from it.",
            hint=trials_intact(folder, sorted(entry.name for entry in folder.glob("trial-*") if entry.is_dir())),
        )


def searched_metric(task: TaskSpec, chosen: str | None) -> tuple[str, bool]:
    """The metric a search optimises (--metric-for-best, else the primary: the one that picks each
    trial's published model, by the same rule as a run's) and whether higher is better; the name
    itself is checked by the first trial, before it trains."""
    name, higher = primary_metric(task, expected_metric_names(task, 2))
    if chosen is None or chosen.removeprefix("eval_") == name:
        return name, higher
    try:  # the label count decides between f1 and macro_f1: a name either count reports is good
        best_metric(task, chosen, 2)
    except UsageError:
        best_metric(task, chosen, 3)
    return chosen.removeprefix("eval_"), greater_is_better(chosen.removeprefix("eval_"))


def tune(
    manager: TaskrunPluginManager,
    config: RunConfig,
    trials: int,
    space_file: Path | None = None,
    seeds: Sequence[int] | None = None,
) -> TuneResult:
    """Run trials until `trials` have finished (those of an earlier, interrupted search count);
    with `seeds`, each trial is scored by its mean over them."""
    import optuna

    if world_size() > 1:
        raise UsageError(
            "taskrun tune runs its trials one after the other in one process; it cannot run under torchrun "
            "or accelerate launch (each process would ask for trials of its own)."
        )
    if config.resume not in (None, "auto"):
        raise UsageError("taskrun tune continues a search with --resume auto, not from a checkpoint.")
    seeds = searched_seeds(seeds)
    task = manager.task(config.task)
    space = search_space(task, space_file)
    space_source = (
        f"--space {space_file}"
        if space_file is not None
        else ("the task's search space" if task.search_space else "the default search space")
    )
    adapters = [name for name in space if name.startswith("lora_")]
    if adapters and not config.lora:
        raise UsageError(f"{space_source} searches {', '.join(adapters)}, the adapters' settings: add --lora.")
    metric, higher = searched_metric(task, config.metric_for_best)
    folder = Path(config.output_dir)
    # Locked as a run's folder is, before the study is touched: a second search into it (a second
    # --resume auto, say) would take the first's running trial for an interrupted one.
    with output_dir_lock(folder, "a search"):
        check_search_folder(folder, config.overwrite, config.resume)
        folder.mkdir(parents=True, exist_ok=True)
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            return _search(manager, task, config, trials, space, space_source, (metric, higher), folder, seeds)
        finally:
            optuna.logging.set_verbosity(verbosity)


def _search(
    manager: TaskrunPluginManager,
    task: TaskSpec,
    config: RunConfig,
    trials: int,
    space: dict[str, dict[str, Any]],
    space_source: str,
    searched: tuple[str, bool],
    folder: Path,
    seeds: list[int] | None,
) -> TuneResult:
    import optuna

    higher = searched[1]
    study = optuna.create_study(
        study_name=STUDY_NAME,
        storage=f"sqlite:///{folder.resolve() / STUDY}",
        direction="maximize" if higher else "minimize",
        load_if_exists=True,
    )
    check_trial_folders(study, folder)
    check_same_search(study, config.metric_for_best, higher, seeds, folder)
    check_same_space(study, space, space_source, folder)
    # Seeded by --seed and by how far the search got, so that a resumed search does not draw the
    # settings of its first trials again.
    study.sampler = optuna.samplers.TPESampler(seed=config.seed + len(study.trials))
    requeue_interrupted(study)
    distributions = {name: distribution(name, spec) for name, spec in space.items()}
    started = time.monotonic()
    while finished_trials(study) < trials:
        trial = study.ask(distributions)
        name = trial.user_attrs.get("resumes") or f"trial-{trial.number:04d}"
        trial.set_user_attr("folder", name)
        number = finished_trials(study) + 1
        shown = ", ".join(f"{key} {_shown(value)}" for key, value in trial.params.items())
        log.info("trial %d of %d (%s): %s", number, trials, name, shown)
        trial_started = time.monotonic()
        resumed = bool(trial.user_attrs.get("resumes"))
        trial_config = dataclasses.replace(
            config,
            **trial.params,
            output_dir=folder / name,
            resume="auto" if resumed else None,
            force_resume=config.force_resume and resumed,
            overwrite=False,
            sources={**config.sources, **dict.fromkeys(trial.params, f"tune ({name})")},
        )
        try:  # any other error ends the search, the trial left running: --resume auto retries it
            outcome = run_trial(manager, trial_config, seeds)
        except TrainingError as exc:  # a diverged trial is a result of the search, not its end
            outcome = exc.message
        trial.set_user_attr("seconds", round(time.monotonic() - trial_started, 1))
        if isinstance(outcome, str):
            log.warning("%s failed: %s", name, outcome)
            trial.set_user_attr("error", outcome)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            trial.set_user_attr("score", dataclasses.asdict(outcome))
            study.tell(trial, outcome.value)
        if is_main_process():
            write_json(folder / SUMMARY, summarise(study, task, searched, time.monotonic() - started))
    summary = summarise(study, task, searched, time.monotonic() - started)
    best = summary.get("best")
    best_run = folder / best["folder"] if best else None
    if is_main_process():
        write_json(folder / SUMMARY, summary)
        if best_run is not None:
            write_best_settings(best_run, folder / BEST, task.name, seeds, config.sources.get("seeds"))
    return TuneResult(folder, summary, best_run)


def searched_seeds(seeds: Sequence[int] | None) -> list[int] | None:
    """--seeds of a search: None (one run per trial, at --seed) or distinct seeds, checked before
    the search's folder is made."""
    if not seeds:
        return None
    check_seeds(seeds)
    return list(seeds)


@dataclass
class Score:
    """A finished trial's score: its value, and with --seeds the standard deviation and each seed's."""

    value: float
    std: float | None = None
    seeds: dict[str, float] | None = None


def run_trial(manager: TaskrunPluginManager, config: RunConfig, seeds: list[int] | None) -> Score | str:
    """Train one trial (once, or once per seed) and score it, or say why it has no score. A trial
    run again after the search was killed keeps what it had finished: its run, or its seeds."""
    if seeds is None:
        done = finished_metrics(Path(config.output_dir)) if config.resume else None
        if done is not None:  # finished before the search was killed, but not yet scored
            log.info("%s finished before the search stopped: its score is kept", config.output_dir)
        outcome = score_of(done.to_dict() if done is not None else run(manager, config).metrics)
        return outcome if isinstance(outcome, str) else Score(outcome)
    result = run_seeds(manager, config, seeds)
    scores = {str(seed): score_of(each.metrics) for seed, each in result.runs.items()}
    for seed, score in scores.items():
        if isinstance(score, str):
            return f"seed {seed}: {score}"
    values = [float(score) for score in scores.values()]
    return Score(
        statistics.fmean(values),
        statistics.stdev(values) if len(values) > 1 else 0.0,
        {seed: float(score) for seed, score in scores.items()},
    )


def distribution(name: str, spec: dict[str, Any]) -> Any:
    """The Optuna distribution of one search-space entry (integers for integer settings)."""
    import optuna.distributions as d

    from .task import HYPERPARAMETERS

    if "choices" in spec:
        return d.CategoricalDistribution(spec["choices"])
    if HYPERPARAMETERS[name][0] is int:
        return d.IntDistribution(
            int(spec["low"]), int(spec["high"]), log=spec.get("log", False), step=int(spec.get("step", 1))
        )
    return d.FloatDistribution(spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step"))


def score_of(metrics: dict[str, Any]) -> float | str:
    """A trial's score: the published model's value of the metric that picked it (metrics.json's
    `eval`), or why there is none (a metric that is not a finite number fails the trial)."""
    name = metrics["best"]["metric"]
    value = metrics["eval"].get(name)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"its {name} is {value!r}, not a number to compare"
    return float(value)


def check_same_search(study: Any, metric: str | None, higher: bool, seeds: list[int] | None, folder: Path) -> None:
    """A search continued with --resume auto optimises what it optimised before, over the same
    seeds: otherwise its trials' scores could not be compared."""
    if not study.trials:
        study.set_user_attr("seeds", seeds)
    if "metric_for_best" not in study.user_attrs:  # a new search, or one from before it was recorded
        study.set_user_attr("metric_for_best", metric)
        study.set_user_attr("greater_is_better", higher)
    recorded = study.user_attrs["metric_for_best"]
    if recorded != metric:
        raise UsageError(
            f"the search in {folder} optimises --metric-for-best {recorded or 'the primary metric'}, "
            f"not {metric or 'the primary metric'}.",
            hint="Continue it with the same --metric-for-best, or start again (--overwrite, another --output-dir).",
        )
    before = study.user_attrs.get("seeds")
    if sorted(before or []) != sorted(seeds or []):

        def shown(value: list[int] | None) -> str:
            return f"--seeds {','.join(map(str, value))}" if value else "one run per trial (no --seeds)"

        raise UsageError(
            f"the search in {folder} scores {shown(before)}, not {shown(seeds)}.",
            hint="Continue it with the same --seeds, or start again (--overwrite, another --output-dir).",
        )


def check_same_space(study: Any, space: dict[str, dict[str, Any]], source: str, folder: Path) -> None:
    """A search continued with --resume auto searches the space it started with (recorded in the
    study; for a search from before it was recorded, its first trial's): trials drawn from two
    spaces could not be compared, and an interrupted trial's settings may lie outside the new one."""
    recorded = study.user_attrs.get("space")
    before = study.user_attrs.get("space_source", "the space it was started with")
    if recorded is None:
        first = study.get_trials(deepcopy=False)[:1]
        if first and first[0].distributions:
            recorded = {name: _spec_of(d) for name, d in first[0].distributions.items()}
            before = "the search space its first trial was drawn from"
        else:
            study.set_user_attr("space", space)
            study.set_user_attr("space_source", source)
            return
    differ = []
    for name in dict.fromkeys([*recorded, *space]):
        there, now = recorded.get(name), space.get(name)
        if there is None or now is None or not _same_distribution(name, there, now):
            differ.append(
                f"{name}: {_shown_spec(there) if there else 'not searched'} there, "
                f"{_shown_spec(now) if now else 'not searched'} now"
            )
    if differ:
        raise UsageError(
            f"the search in {folder} was started with {before}; this command gives {source}. "
            f"They differ: {'; '.join(differ)}.",
            hint="Continue it with the space it was started with (a --space file with the entries shown "
            "there), or start a new search in another --output-dir.",
        )
    if "space" not in study.user_attrs:
        study.set_user_attr("space", recorded)
        study.set_user_attr("space_source", before)


def _same_distribution(name: str, a: dict[str, Any], b: dict[str, Any]) -> bool:
    try:
        return bool(distribution(name, a) == distribution(name, b))
    except (KeyError, TypeError, ValueError):
        return False


def _spec_of(dist: Any) -> dict[str, Any]:
    """A search-space entry (as --space writes it) for an Optuna distribution."""
    if hasattr(dist, "choices"):
        return {"choices": list(dist.choices)}
    spec = {"low": dist.low, "high": dist.high}
    if dist.log:
        spec["log"] = True
    if dist.step not in (None, 1):
        spec["step"] = dist.step
    return spec


def _shown_spec(spec: dict[str, Any]) -> str:
    """`{low = 1e-05, high = 0.0001, log = true}`: an entry as a --space TOML file writes it."""
    from .settings import toml_value

    return "{" + ", ".join(f"{key} = {toml_value(value)}" for key, value in spec.items()) + "}"


def requeue_interrupted(study: Any) -> None:
    """Trials still marked running come from a search that was killed: mark them failed (not
    counted) and queue their settings again, to continue in the same folder. A trial that was
    itself such a rerun continues the folder it reran, with the settings that folder's first
    trial drew (a rerun stopped before it took them all has only some)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    for stale in [t for t in trials if t.state == TrialState.RUNNING]:
        folder = stale.user_attrs.get("folder") or stale.user_attrs.get("resumes") or f"trial-{stale.number:04d}"
        params = next((t.params for t in trials if t.user_attrs.get("folder") == folder), stale.params)
        study.tell(stale.number, state=TrialState.FAIL)  # without an "error": interrupted
        study.enqueue_trial(params, user_attrs={"resumes": folder})
        log.info("%s was interrupted: it runs again with the same settings, from its newest checkpoint", folder)


def finished_trials(study: Any) -> int:
    """Trials that ran to an end: complete, or failed in training (a diverged loss, recorded as
    the trial's "error"); not those interrupted, which run again."""
    from optuna.trial import TrialState

    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
        if t.state == TrialState.COMPLETE or "error" in t.user_attrs
    )


def summarise(study: Any, task: TaskSpec, searched: tuple[str, bool], seconds: float) -> dict[str, Any]:
    """tune.json: the metric searched, every trial (settings, score, state, time, folder) and the
    best one."""
    metric, higher = searched
    rows = [
        {
            "number": t.number,
            "folder": t.user_attrs.get("folder"),
            "state": "interrupted" if t.state.name == "FAIL" and "error" not in t.user_attrs else t.state.name.lower(),
            "params": t.params,
            "value": t.value,
            **({"std": t.user_attrs["score"]["std"], "seeds": t.user_attrs["score"]["seeds"]} if seeded(t) else {}),
            "seconds": t.user_attrs.get("seconds"),
            **({"error": t.user_attrs["error"]} if "error" in t.user_attrs else {}),
        }
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished()
    ]
    complete = [row for row in rows if row["state"] == "complete"]
    best = (max if higher else min)(complete, key=lambda row: row["value"]) if complete else None
    return {
        "task": task.name,
        "metric": metric,  # each trial's score: its published model's validation value of it
        "greater_is_better": higher,
        "seeds": study.user_attrs.get("seeds"),
        "trials": rows,
        "best": best,
        "seconds": round(seconds, 1),
    }


def seeded(trial: Any) -> bool:
    """Whether a trial was scored over several seeds (--seeds)."""
    return (trial.user_attrs.get("score") or {}).get("seeds") is not None


def write_best_settings(
    trial_folder: Path, path: Path, task: str, seeds: list[int] | None = None, seeds_source: str | None = None
) -> None:
    """best.toml: the best trial's recorded settings, as a config file for `taskrun run`; with
    --seeds, those of its first seed's run, and the seeds instead of that run's seed."""
    run_folder = trial_folder if seeds is None else seed_folder(trial_folder, seeds[0])
    options = read_run_config(run_folder).options
    if seeds is not None:
        options = {name: entry for name, entry in options.items() if name != "seed"}
        options["seeds"] = {"value": seeds, "source": seeds_source or "command line"}
    write_atomically(path, settings_file_text(task, options))


def _shown(value: Any) -> str:
    """A searched value for the log and the table: numbers with :g, None and booleans as words."""
    if value is None or isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def summary_rows(summary: dict[str, Any]) -> list[list[str]]:
    """The table printed at the end: one row per trial, the best marked."""
    names = list(dict.fromkeys(name for row in summary["trials"] for name in row["params"]))
    best = (summary.get("best") or {}).get("number")
    rows = [["TRIAL", *(name.upper() for name in names), summary.get("metric", "score").upper(), "SECONDS", ""]]
    for row in summary["trials"]:
        rows.append(
            [
                row["folder"] or str(row["number"]),
                *(_shown(row["params"][n]) if n in row["params"] else "" for n in names),
                score_cell(row),
                f"{row['seconds']:.0f}" if row.get("seconds") is not None else "",
                "best" if row["number"] == best else "",
            ]
        )
    return rows


def score_cell(row: dict[str, Any]) -> str:
    """A trial's score in the table: the value, ± the spread over its seeds, or its state."""
    if row["value"] is None:
        return row["state"]
    return f"{row['value']:.4f} ± {row['std']:.4f}" if "std" in row else f"{row['value']:.4f}"
