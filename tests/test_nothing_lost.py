"""Nothing lost, round three (issue 23): a search resumed with another space, two searches in one
folder, a damaged study, a settings file that expands without end, and a --seeds run rerun after
a kill. No test here trains: a trial's training is replaced by a stand-in that records what it
was asked (the search around it is the real one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from taskrun import search

SPACE = "learning_rate = { low = 1e-4, high = 1e-2, log = true }\nbatch_size = { choices = [8, 16] }\n"
OTHER_SPACE = "learning_rate = { low = 1e-4, high = 1e-2, log = true }\nbatch_size = { choices = [32, 64] }\n"


@pytest.fixture
def trials(monkeypatch):
    """Each trial's stand-in: records (folder, batch size, learning rate, resume) and scores 0.5;
    `trials.interrupt = True` makes the next trial leave a checkpoint folder and be interrupted (as Ctrl-C)."""

    class Trials(list):
        interrupt = False

    calls = Trials()

    def run_trial(manager, config, seeds):
        calls.append((Path(config.output_dir).name, config.batch_size, config.learning_rate, config.resume))
        if calls.interrupt:
            calls.interrupt = False
            (Path(config.output_dir) / "checkpoints" / "checkpoint-6").mkdir(parents=True)
            raise KeyboardInterrupt
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(config.output_dir) / "run_config.json").write_text('{"options": {}}', encoding="utf-8")  # for best.toml
        return search.Score(0.5)

    monkeypatch.setattr(search, "run_trial", run_trial)
    return calls


@pytest.fixture
def tune(cli, tiny_model, tmp_path):
    """`tune(space_text, *options)`: `taskrun tune custom-csv` into tmp_path/search over that space."""
    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(20)), encoding="utf-8")

    def run(space_text: str, *options: str):
        space = tmp_path / f"space-{abs(hash(space_text))}.toml"
        space.write_text(space_text, encoding="utf-8")
        return cli(
            "tune", "custom-csv", "--model", tiny_model, "--train", data, "--space", space,
            "--output-dir", tmp_path / "search", *options,
        )  # fmt: skip

    return run


def study_of(folder: Path):
    import optuna

    return optuna.load_study(study_name=search.STUDY_NAME, storage=f"sqlite:///{folder.resolve() / search.STUDY}")


# -- 2. a search resumed with another --space ---------------------------------------------------


def test_a_search_resumed_with_another_space_is_refused_and_the_interrupted_trial_keeps_its_folder(
    tune, trials, tmp_path
):
    from optuna.trial import TrialState

    trials.interrupt = True
    assert tune(SPACE, "--trials", "2").exit_code == 130
    (first,) = trials
    other = tune(OTHER_SPACE, "--trials", "2", "--resume", "auto")
    assert other.exit_code == 2, other.output
    assert "Traceback" not in other.output and "ValueError" not in other.output
    assert "was started with --space" in other.stderr and "this command gives --space" in other.stderr
    assert "batch_size: {choices = [8, 16]} there, {choices = [32, 64]} now" in other.stderr
    assert "--overwrite" not in other.stderr
    # The study is untouched: the interrupted trial is still the running one, in its folder.
    (running,) = study_of(tmp_path / "search").get_trials(states=(TrialState.RUNNING,))
    assert running.user_attrs["folder"] == "trial-0000" and len(trials) == 1
    again = tune(SPACE, "--trials", "2", "--resume", "auto")
    assert again.exit_code == 0, again.output
    assert trials[1] == ("trial-0000", first[1], first[2], "auto")  # the same folder and settings, resumed
    assert [call[0] for call in trials[2:]] == ["trial-0002"]


def test_a_rerun_left_running_by_an_earlier_version_continues_its_trials_folder(tune, trials, tmp_path):
    """The state an earlier taskrun left when a resume with another space failed in Optuna's ask:
    trial 0 interrupted, trial 1 its rerun, running, with only some of its settings and no folder."""
    import optuna
    from taskrun.search import distribution

    folder = tmp_path / "search"
    folder.mkdir()
    study = optuna.create_study(
        study_name=search.STUDY_NAME, storage=f"sqlite:///{folder.resolve() / search.STUDY}", direction="maximize"
    )
    for name, value in (("seeds", None), ("metric_for_best", None), ("greater_is_better", True)):
        study.set_user_attr(name, value)
    space = {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "batch_size": {"choices": [8, 16]}}
    trial = study.ask({name: distribution(name, spec) for name, spec in space.items()})
    trial.set_user_attr("folder", "trial-0000")
    (folder / "trial-0000" / "checkpoints" / "checkpoint-6").mkdir(parents=True)
    study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    study.enqueue_trial(trial.params, user_attrs={"resumes": "trial-0000"})
    study.ask({"learning_rate": distribution("learning_rate", space["learning_rate"])})  # failed on batch_size
    result = tune(SPACE, "--trials", "1", "--resume", "auto")
    assert result.exit_code == 0, result.output
    assert trials == [("trial-0000", trial.params["batch_size"], trial.params["learning_rate"], "auto")]
    assert not (folder / "trial-0001").exists()


# -- 3. two searches in one folder --------------------------------------------------------------


def test_a_second_search_into_a_running_searchs_folder_stops_before_touching_its_study(tune, trials, tmp_path):
    """The folder is locked as a run's is (the kernel's lock: here held by this process, as the
    first search would hold it); the second `--resume auto` stops at once, its study untouched."""
    from optuna.trial import TrialState
    from taskrun.outputs import output_dir_lock

    trials.interrupt = True
    assert tune(SPACE, "--trials", "2").exit_code == 130
    folder = tmp_path / "search"
    before = [(t.number, t.state) for t in study_of(folder).get_trials()]
    assert before == [(0, TrialState.RUNNING)]
    with output_dir_lock(folder, "a search"):
        second = tune(SPACE, "--trials", "2", "--resume", "auto")
        overwrite = tune(SPACE, "--trials", "2", "--overwrite")
    for result in (second, overwrite):
        assert result.exit_code == 2, result.output
        assert f"--output-dir {folder} is in use by a search that is still going (process " in result.stderr
    assert [(t.number, t.state) for t in study_of(folder).get_trials()] == before and len(trials) == 1
    assert (folder / "trial-0000" / "checkpoints").is_dir()


# -- 4. a YAML alias bomb in a settings file ----------------------------------------------------


def alias_bomb(key: str, item: str = "lol", levels: str = "abcdefgh") -> str:
    """`KEY: [&a [lol x9], &b [*a x9], ...]`: 9**8 items once expanded, in under 300 bytes."""
    parts = [f"&{levels[0]} [{', '.join([item] * 9)}]"]
    parts += [f"&{name} [{', '.join(['*' + before] * 9)}]" for before, name in zip(levels, levels[1:])]
    return f"{key}: [{', '.join(parts)}]\n"


THREE_KEYS = (  # the shape: each key's value built from the one before
    "model: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    "report_to: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" + alias_bomb("seeds", "*b", "cdefgh")
)


@pytest.mark.slow  # a taskrun process each
@pytest.mark.parametrize(
    "name, text, command, expected",
    [
        (
            "model.yaml",
            alias_bomb("model"),
            "run",
            "line 1: model: item 1 is a list (anchored &a), where a value is meant",
        ),
        ("report.yaml", alias_bomb("report_to"), "run", "line 1: report_to: item 1 is a list (anchored &a)"),
        (
            "seeds.yaml",
            "epochs: 1\n" + alias_bomb("seeds", "13"),
            "run",
            "line 2: seeds: item 1 is a list (anchored &a)",
        ),
        ("three.yaml", THREE_KEYS, "run", "line 2: report_to: item 1 is a list (the alias *a, to a list on line 1)"),
        (
            "space.yaml",
            alias_bomb("batch_size: {choices", "8") + "}\n",
            "tune",
            "line 1: batch_size: choices: item 1 is a list",
        ),
    ],
    ids=["model", "report_to", "seeds", "three-keys", "space"],
)
def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path, name, text, command, expected):
    """In a process of its own, bounded: before the fix each of these ran until memory ran out."""
    import subprocess
    import sys

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert len(text.encode()) < 460
    option = ["--space", path, "--output-dir", tmp_path / "search"] if command == "tune" else ["--config", path]
    args = [sys.executable, "-m", "taskrun", command, "custom-csv", "--train", tmp_path / "t.csv", *option]
    args += ["--print-config"] if command == "run" else []
    done = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{path}: {expected}" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "search").exists()


@pytest.mark.parametrize(
    "text, expected",
    [
        ('model = ["a", "b"]\n', "model: expected one value, not a list."),
        ("epochs = [1]\n", "epochs: expected one value, not a list."),
        ('report_to = [["tensorboard"], "mlflow"]\n', "report_to: item 1 is a list, where a value is meant"),
        ("seeds = [1, {a = 2}]\n", "seeds: item 2 is a table of keys, where a value is meant"),
        ("model: [a, b]\n", "model: expected one value, not a list."),
        ("<<: {epochs: 1}\n", "line 1: a merge key (<<), which is not read here"),
        ("seeds: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ],
    ids=["toml-model", "toml-epochs", "toml-report-to", "toml-seeds", "yaml-model", "yaml-merge", "yaml-deep"],
)
def test_a_list_where_a_value_is_meant_is_refused_naming_the_file_and_key(cli, tmp_path, text, expected):
    path = tmp_path / ("settings.toml" if " = " in text else "settings.yaml")
    path.write_text(text, encoding="utf-8")
    result = cli("run", "custom-csv", "--train", tmp_path / "t.csv", "--config", path, "--print-config")
    assert result.exit_code == 2, result.output
    assert str(path) in result.stderr and expected in result.stderr and "Traceback" not in result.output


# -- 5. a damaged or emptied study.db -----------------------------------------------------------


def damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:16] = b"not SQLite at al"
    path.write_bytes(bytes(data))


def another_study(path: Path) -> None:
    """A study made anew where the search's was (as an earlier taskrun did over an emptied one)."""
    import optuna

    path.unlink()
    optuna.create_study(study_name=search.STUDY_NAME, storage=f"sqlite:///{path.resolve()}")


@pytest.mark.parametrize(
    "spoil, problem",
    [
        (lambda path: path.write_bytes(b""), "is empty (0 bytes)"),
        (damage, "is damaged (SQLite: file is not a database)"),
        (another_study, "does not know the trial folders trial-0000, trial-0001"),
    ],
    ids=["emptied", "damaged", "replaced"],
)
def test_a_damaged_or_emptied_study_names_the_file_and_keeps_every_trial(tune, trials, tmp_path, spoil, problem):
    assert tune(SPACE, "--trials", "2").exit_code == 0
    folder, study = tmp_path / "search", tmp_path / "search" / "study.db"
    spoil(study)
    kept = study.read_bytes()
    # Said with --resume auto, and without it for a file SQLite cannot read (before "holds a search").
    for options in (("--resume", "auto"), ()) if "does not know" not in problem else (("--resume", "auto"),):
        result = tune(SPACE, "--trials", "3", *options)
        assert result.exit_code == 5, result.output
        assert f"--output-dir {folder}: its study, {study}, {problem}" in result.stderr
        assert "The trial folders are intact (trial-0000, trial-0001); tune.json lists" in result.stderr
        assert "--overwrite" not in result.stderr and "Traceback" not in result.output
    assert len(trials) == 2 and study.read_bytes() == kept
    assert all((folder / name / "run_config.json").is_file() for name in ("trial-0000", "trial-0001"))


def test_an_empty_study_beside_no_trial_is_a_search_killed_as_it_began(tune, trials, tmp_path):
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "study.db").write_bytes(b"")
    result = tune(SPACE, "--trials", "1", "--resume", "auto")
    assert result.exit_code == 0, result.output
    assert [call[0] for call in trials] == ["trial-0000"]


# -- 6. --seeds rerun without --resume after a kill ---------------------------------------------


def test_a_seeds_run_rerun_after_a_kill_names_the_interrupted_seed_and_offers_resume(cli, tiny_model, tmp_path):
    """seed 1 finished, seed 2 killed mid-run (its checkpoints only): the same command again says
    which seed was interrupted and that --resume auto continues it; it never offers --overwrite,
    which would delete seed 1. Nothing is touched."""
    out = tmp_path / "seeds"
    (out / "seed-1").mkdir(parents=True)
    (out / "seed-1" / "run_config.json").write_text('{"options": {}, "files": []}', encoding="utf-8")
    (out / "seed-1" / "metrics.json").write_text('{"eval": {}}', encoding="utf-8")
    (out / "seed-2" / "checkpoints").mkdir(parents=True)
    args = ("run", "custom-csv", "--model", tiny_model, "--train", tmp_path / "t.csv", "--output-dir", out)
    result = cli(*args, "--seeds", "1,2")
    assert result.exit_code == 2, result.output
    assert (
        f"--output-dir {out} holds this --seeds run from before, interrupted: seed 2 ({out / 'seed-2'}) was "
        "interrupted: it has no complete checkpoint; seed 1 finished." in result.stderr
    )
    assert "Pass --resume auto to continue it: the finished seeds are kept" in result.stderr
    assert "--overwrite" not in result.stderr
    # Every seed finished (or some of them, none interrupted): --resume auto keeps them.
    (out / "seed-2" / "checkpoints").rmdir()
    (out / "seed-2").rmdir()
    result = cli(*args, "--seeds", "1,2")
    assert result.exit_code == 2, result.output
    assert f"holds this --seeds run from before: seed 1 finished ({out / 'seed-1'})." in result.stderr
    assert "Pass --resume auto to keep them" in result.stderr and "--overwrite" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["seed-1"]
