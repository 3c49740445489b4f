"""`taskrun compare`: finished runs side by side, from their JSON files alone.

One row per run: the settings that differ between the runs, every scalar validation metric (the
primary one first and its best value marked, the loss last), the time and the training speed; as
a table, JSON or CSV, and optionally a bar chart. A folder that is not a run but whose subfolders
are (`OUTPUT/seed-13/`, `OUTPUT/trial-0003/`, `OUTPUT/trial-0003/seed-13/`) stands for those runs,
in natural name order.

Reads run_config.json and metrics.json only (through taskrun.rundir): no model, no torch, and
nothing heavy at import, so that the CLI stays fast; its command is taskrun.cli.compare. Unknown
or missing entries of either file are tolerated (older and newer runs can be compared); a file
that is not JSON is refused by name.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .errors import OutputWriteError, UsageError
from .files import not_regular
from .rundir import (
    CHECKPOINTS,
    FORMAT_KEY,
    METRICS,
    RUN_CONFIG,
    MetricsRecord,
    NotAnObject,
    RunRecord,
    is_finished,
    read_json_object,
)
from .task import greater_is_better

log = logging.getLogger("taskrun")

# Recorded settings that never change a run's result, or that always differ: left out of the
# comparison (output_dir names the row).
NOT_SETTINGS = frozenset(
    {
        FORMAT_KEY,  # the record's format, not the run's
        "eval_batch_size",  # follows batch_size
        "output_dir",
        "files",
        "model_path",  # where `model` was found; `model` is compared
        "resume",
        "force_resume",  # a resumed run ends as an uninterrupted one would
        "overwrite",
        "cache",
        "pictures",
        "keep_checkpoints",
    }
)
MISSING = "-"  # a setting or metric that a run does not record
MAX_PICTURE_PANELS = 6  # the primary metric and up to 5 others ...
MAX_RUNS_FOR_ALL_PANELS = 20  # ... while the runs are few enough for every panel to stay readable
MAX_RUNS_IN_PICTURE = 50  # beyond this, the best ones by their primary metric: a bounded picture


@dataclass(frozen=True)
class Run:
    """A finished run folder's record, as read from its JSON files."""

    folder: Path  # absolute
    config: RunRecord  # run_config.json
    metrics: MetricsRecord  # metrics.json
    name: str = ""  # the shortest path suffix that tells it from the other runs compared

    @property
    def task(self) -> str | None:
        return self.metrics.task or self.config.task

    @property
    def primary(self) -> tuple[str, bool]:
        """The metric that picked the run's published model (`--metric-for-best`, else the task's
        primary metric) and whether higher is better: compared, starred and plotted first, by the
        rule `tune` scores trials with."""
        return self.metrics.deciding

    @property
    def scores(self) -> dict[str, float]:
        """The scalar validation metrics (loss included), in the order metrics.json holds them."""
        return self.metrics.scores

    @property
    def seconds(self) -> float | None:
        """The whole run's time (metrics.json `seconds`), else the training time."""
        return self.metrics.total_seconds

    def train_figure(self, key: str) -> float | None:
        return self.metrics.train_figure(key)

    @property
    def settings(self) -> dict[str, Any]:
        """Every recorded setting that can change the result, nested mappings flattened to dotted
        names (`task_options.train`, `versions.torch`). Of an `options` mapping ({option: {"value":
        ..., "source": ...}}), only the values of options recorded nowhere else."""
        flat: dict[str, Any] = {}

        def add(key: str, value: Any) -> None:
            if isinstance(value, dict) and value:
                for inner, item in value.items():
                    add(f"{key}.{inner}", item)
            else:
                flat[key] = value

        for key, value in self.config.to_dict().items():
            if key not in NOT_SETTINGS and key != "options":
                add(key, value)
        options = self.config.options
        if isinstance(options, dict):
            for option, entry in options.items():
                key = str(option).lstrip("-").replace("-", "_")
                if key not in flat and f"task_options.{key}" not in flat and key not in NOT_SETTINGS:
                    flat[key] = entry.get("value") if isinstance(entry, dict) else entry
        return flat


# -- finding and reading runs --------------------------------------------------------------------


def natural_key(name: str) -> list[Any]:
    """Sorts trial-2 before trial-10: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """The runs that `paths` name: run folders, and folders whose subfolders (or theirs) are runs
    (each expands into them in natural name order; an unfinished one among them is left out with
    a warning). Raises UsageError naming every path that is not a finished run, and why."""
    runs: list[Run] = []
    problems: list[str] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            problems.append(f"{path}: does not exist")
        elif kind := not_regular(path):
            problems.append(f"{path}: is {kind}, not a run folder")
        elif not path.is_dir():
            problems.append(f"{path}: is a file, not a run folder")
        elif is_finished(path):
            _read_run(path, runs, problems)
        elif (path / CHECKPOINTS).is_dir():
            problems.append(
                f"{path}: an unfinished run ({CHECKPOINTS}/ but no {RUN_CONFIG}): interrupted or still "
                "running; `taskrun run ... --resume auto` finishes it"
            )
        else:
            _expand(path, runs, problems)
    if problems:
        raise UsageError(
            f"cannot compare: {len(problems)} of the folders given "
            f"{'is not a finished run' if len(problems) == 1 else 'are not finished runs'}:\n  " + "\n  ".join(problems)
        )
    unique = list({run.folder: run for run in runs}.values())  # a folder given twice is compared once
    names = short_names([run.folder for run in unique])
    return [Run(run.folder, run.config, run.metrics, name) for run, name in zip(unique, names)]


def _expand(parent: Path, runs: list[Run], problems: list[str]) -> None:
    """The finished runs among `parent`'s subfolders (hidden staging folders aside), and one level
    further down for a subfolder that is itself a folder of runs (`tune --seeds`:
    OUTPUT/trial-0003/seed-13/)."""
    finished, unfinished = _runs_below(parent, levels=2)
    if not finished:
        names = ", ".join(str(c.relative_to(parent)) for c in unfinished)
        also = f" ({len(unfinished)} unfinished: {names})" if unfinished else ""
        problems.append(f"{parent}: not a run folder (no {RUN_CONFIG} in it or two levels below){also}")
        return
    for child in unfinished:
        log.warning("%s is an unfinished run (%s/ but no %s): left out", child, CHECKPOINTS, RUN_CONFIG)
    for child in finished:
        _read_run(child, runs, problems)


def _runs_below(parent: Path, levels: int) -> tuple[list[Path], list[Path]]:
    """The finished and the unfinished runs among `parent`'s subfolders, in natural name order,
    looking `levels` folders deep."""
    children = sorted(
        (child for child in parent.iterdir() if child.is_dir() and not child.name.startswith(".")),
        key=lambda child: natural_key(child.name),
    )
    finished: list[Path] = []
    unfinished: list[Path] = []
    for child in children:
        if is_finished(child):
            finished.append(child)
        elif (child / CHECKPOINTS).is_dir():
            unfinished.append(child)
        elif levels > 1:
            deeper = _runs_below(child, levels - 1)
            finished += deeper[0]
            unfinished += deeper[1]
    return finished, unfinished


def _read_run(folder: Path, runs: list[Run], problems: list[str]) -> None:
    config = _read_json(folder / RUN_CONFIG, problems)
    metrics = _read_json(folder / METRICS, problems)
    if config is not None and metrics is not None:
        runs.append(Run(folder.resolve(), RunRecord.from_dict(config), MetricsRecord.from_dict(metrics)))


def _read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """A JSON object from `path`, or None with the reason added to `problems`."""
    try:
        return read_json_object(path)
    except FileNotFoundError:
        problems.append(f"{path}: missing (the run folder is incomplete)")
        return None
    except json.JSONDecodeError as exc:
        problems.append(f"{path}: malformed JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
        return None
    except UnicodeDecodeError:
        problems.append(f"{path}: not UTF-8 text")
        return None
    except OSError as exc:
        problems.append(f"{path}: cannot be read ({exc.strerror or exc})")
        return None
    except NotAnObject as exc:
        problems.append(f"{path}: malformed: a JSON object is expected, not {exc.kind}")
        return None


def short_names(folders: Sequence[Path]) -> list[str]:
    """For each folder, the fewest trailing path parts that no other folder ends with."""
    parts = [folder.parts for folder in folders]
    names = []
    for i, own in enumerate(parts):
        for k in range(1, len(own) + 1):
            if all(other[-k:] != own[-k:] for j, other in enumerate(parts) if j != i):
                break
        names.append(str(Path(*own[-k:])))
    return names


# -- the comparison ------------------------------------------------------------------------------


@dataclass
class Comparison:
    """What `taskrun compare` shows, in every format."""

    runs: list[Run]
    settings: list[str]  # the settings whose values differ between the runs
    common: dict[str, Any]  # the settings every run shares, with their value
    metrics: list[str]  # every scalar validation metric of any run: primary first, loss last
    best: list[bool]  # per run: holds the best value of its primary metric (among 2 or more)
    warnings: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One entry per run: its differing settings, metrics, time, speed; None where not recorded."""
        return [self._row(run, best) for run, best in zip(self.runs, self.best)]

    def _row(self, run: Run, best: bool) -> dict[str, Any]:
        settings, scores = run.settings, run.scores
        return {
            "run": run.name,
            "folder": str(run.folder),
            "task": run.task,
            "settings": {key: settings.get(key) for key in self.settings},
            "metrics": {name: scores.get(name) for name in self.metrics},
            "primary_metric": dict(zip(("name", "greater_is_better"), run.primary)),
            "best": best,
            "seconds": run.seconds,
            "train_runtime": run.train_figure("runtime"),
            "samples_per_second": run.train_figure("samples_per_second"),
        }


def comparison_table(runs: Sequence[Run]) -> Comparison:
    """Compare `runs`: the settings that differ, the metrics in order, the best primary values,
    and a warning where the runs are of different tasks."""
    runs = list(runs)
    settings = [run.settings for run in runs]
    keys = list(dict.fromkeys(key for flat in settings for key in flat))
    differing = [key for key in keys if any(_differ(flat, settings[0], key) for flat in settings[1:])]
    common = {key: settings[0][key] for key in keys if key not in differing}
    primaries = list(dict.fromkeys(run.primary[0] for run in runs))
    others = [name for name in dict.fromkeys(m for run in runs for m in run.scores) if name not in primaries]
    metrics = primaries + [name for name in others if name != "loss"] + [name for name in others if name == "loss"]
    warnings = []
    tasks = list(dict.fromkeys(str(run.task) for run in runs))
    if len(tasks) > 1:
        warnings.append(f"runs of different tasks ({', '.join(tasks)}): their metrics are not comparable")
    return Comparison(runs, differing, common, metrics, best_runs(runs), warnings)


def _differ(flat: dict[str, Any], first: dict[str, Any], key: str) -> bool:
    return (key in flat) != (key in first) or flat.get(key) != first.get(key)


def best_runs(runs: Sequence[Run]) -> list[bool]:
    """Which runs hold the best value of their primary metric, by its direction, among the runs
    with the same primary metric; nothing is marked where fewer than two runs have a value, or
    where they all tie (a mark on every row tells nothing)."""
    best = [False] * len(runs)
    for name in dict.fromkeys(run.primary[0] for run in runs):
        scored = [(i, run.scores.get(name)) for i, run in enumerate(runs) if run.primary[0] == name]
        values = [(i, v) for i, v in scored if v is not None and not math.isnan(v)]
        if len(values) < 2:
            continue
        higher = next(run.primary[1] for run in runs if run.primary[0] == name)
        top = (max if higher else min)(v for _, v in values)
        if all(v == top for _, v in values):
            continue
        for i, v in values:
            best[i] = v == top
    return best


def to_json(comparison: Comparison) -> str:
    """The comparison as JSON: one entry per run, and the settings the runs share."""
    return json.dumps(
        {
            "runs": comparison.rows(),
            "differing_settings": comparison.settings,
            "common_settings": comparison.common,
            "metrics": comparison.metrics,
            "warnings": comparison.warnings,
        },
        indent=2,
        default=str,
    )


def to_csv(comparison: Comparison) -> str:
    """The comparison as CSV, one row per run; lists and mappings as JSON, missing values empty."""
    header = [
        "run",
        "folder",
        *comparison.settings,
        *comparison.metrics,
        "seconds",
        "train_runtime",
        "samples_per_second",
        "best",
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in comparison.rows():
        values = [
            row["run"],
            row["folder"],
            *row["settings"].values(),
            *row["metrics"].values(),
            row["seconds"],
            row["train_runtime"],
            row["samples_per_second"],
            row["best"],
        ]
        writer.writerow(["" if v is None else json.dumps(v) if isinstance(v, (list, dict)) else v for v in values])
    return out.getvalue()


def table_rows(comparison: Comparison) -> tuple[list[str], list[list[str]], list[str]]:
    """The header, rows and footnotes of the printed table: settings as `info` shows them,
    metrics to 4 decimals with `*` on the best primary value, time as minutes and seconds."""
    header = ["RUN", *(k.upper() for k in comparison.settings), *(m.upper() for m in comparison.metrics)]
    header += ["TIME", "SAMPLES/S"]
    rows = []
    for run, best in zip(comparison.runs, comparison.best):
        settings, scores, primary = run.settings, run.scores, run.primary[0]
        cells = [run.name, *(_setting_cell(settings, key) for key in comparison.settings)]
        for name in comparison.metrics:
            value = scores.get(name)
            cells.append(MISSING if value is None else f"{value:.4f}" + (" *" if best and name == primary else ""))
        seconds, speed = run.seconds, run.train_figure("samples_per_second")
        cells.append(MISSING if seconds is None else "{}m {:02d}s".format(*divmod(int(round(seconds)), 60)))
        cells.append(MISSING if speed is None else f"{speed:.1f}")
        rows.append(cells)
    notes = []
    for name in dict.fromkeys(run.primary[0] for run, best in zip(comparison.runs, comparison.best) if best):
        higher = next(run.primary[1] for run in comparison.runs if run.primary[0] == name)
        notes.append(f"* best {name} ({'higher' if higher else 'lower'} is better)")
    return header, rows, notes


def _setting_cell(settings: dict[str, Any], key: str) -> str:
    if key not in settings:
        return MISSING
    value = settings[key]
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "[]"
    return str(value) if value != {} else "{}"


# -- the picture ---------------------------------------------------------------------------------


def check_picture_path(path: Path) -> None:
    """Refuse a --picture that cannot be written, before any work."""
    if path.suffix.lower() != ".png":
        raise UsageError(f"--picture {path}: use a .png file name.")
    if path.is_dir():
        raise UsageError(f"--picture {path} is a folder; name a file.")
    if kind := not_regular(path):
        raise UsageError(f"--picture {path} is {kind}, not a regular file; name a .png file.")
    if not path.parent.is_dir():
        raise UsageError(f"--picture {path}: the folder {path.parent} does not exist.")


def top_runs(runs: Sequence[Run], limit: int) -> list[int]:
    """The indexes of the `limit` runs with the best primary values (all of them where there are
    no more), in their original order: a picture's size stays bounded however many runs."""
    if len(runs) <= limit:
        return list(range(len(runs)))

    def rank(i: int) -> float:
        name, higher = runs[i].primary
        value = runs[i].scores.get(name)
        return -math.inf if value is None or math.isnan(value) else value if higher else -value

    return sorted(sorted(range(len(runs)), key=rank, reverse=True)[:limit])


def comparison_png(comparison: Comparison, path: Path) -> list[str]:
    """A bar chart per metric, one bar per run (the best runs in green): the primary metric, and
    the others while the runs are few enough to stay readable. Written whole or not at all;
    returns the metrics drawn."""
    from .files import write_atomically
    from .plots import _pyplot

    kept = top_runs(comparison.runs, MAX_RUNS_IN_PICTURE)
    runs, marks = [comparison.runs[i] for i in kept], [comparison.best[i] for i in kept]
    shown = comparison.metrics[: MAX_PICTURE_PANELS if len(runs) <= MAX_RUNS_FOR_ALL_PANELS else 1]
    primaries = {run.primary[0]: run.primary[1] for run in runs}
    plt = _pyplot()
    columns = min(3, len(shown))
    rows = math.ceil(len(shown) / columns)
    width = 3.5 + 0.07 * max(len(run.name) for run in runs)
    height = 1.2 + 0.3 * len(runs)
    tasks = ", ".join(dict.fromkeys(str(run.task) for run in runs))
    best = ", ".join(dict.fromkeys(run.primary[0] for run, top in zip(runs, marks) if top))
    count = f"the {len(runs)} best of {len(comparison.runs)}" if len(runs) < len(comparison.runs) else len(runs)
    title = f"{tasks}: {count} runs on the validation split" + (f"; green: the best {best}" if best else "")
    figsize = (max(width * columns, 1 + 0.09 * len(title)), height * rows)  # the title fits
    figure, axes = plt.subplots(rows, columns, figsize=figsize, squeeze=False)
    names = [run.name for run in runs]
    for panel, name in zip(axes.flat, shown):
        values = [run.scores.get(name) for run in runs]
        colors = ["tab:green" if top else "tab:blue" for top in marks]
        bars = panel.barh(range(len(runs)), [v or 0.0 for v in values], color=colors)
        panel.set_yticks(range(len(runs)), names)
        panel.invert_yaxis()  # the first run on top, as in the table
        for bar, value in zip(bars, values):
            label = "n/a" if value is None else f"{value:.4f}"
            panel.annotate(label, (bar.get_width(), bar.get_y() + bar.get_height() / 2), xytext=(3, 0),
                           textcoords="offset points", va="center", fontsize=8)  # fmt: skip
        panel.margins(x=0.25)
        if not any(values):  # all zero or missing: a unit axis rather than matplotlib's tiny one
            panel.set_xlim(0, 1)
        panel.locator_params(axis="x", nbins=5)
        panel.tick_params(axis="x", labelsize=8)
        higher = primaries.get(name, greater_is_better(name))
        kind = "primary, " if name in primaries else ""
        panel.set_title(f"{name} ({kind}{'higher' if higher else 'lower'} is better)", fontsize=10)
    for panel in list(axes.flat)[len(shown) :]:
        panel.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    try:
        write_atomically(path, buffer.getvalue())
    except OSError as exc:
        raise OutputWriteError(f"cannot write --picture {path}: {exc.strerror or exc}.") from exc
    return shown
