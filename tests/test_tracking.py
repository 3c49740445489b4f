"""--report-to: the checks that run before anything is loaded (names, offline mode, packages,
MLflow's store), and real runs whose TensorBoard event files and MLflow store are read back.

Every test runs with HF_HUB_OFFLINE=1 (conftest), as `taskrun run --offline` does. A tracker's
package is shown missing (or present) by answering importlib's find_spec for its module, as
transformers and taskrun both look it up.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from taskrun.errors import UsageError
from taskrun.tracking import TRACKERS, check_report_to, tracking_setup

ROOT = Path(__file__).resolve().parents[1]
KILLED_TASKRUN = Path(__file__).parent / "helpers" / "killed_taskrun.py"
real_find_spec = importlib.util.find_spec
# Each tracker's environment variables, cleared for every test so the machine's own settings do not count.
TRACKER_VARIABLES = (
    "WANDB_MODE",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_ALLOW_FILE_STORE",
    "DISABLE_MLFLOW_INTEGRATION",
    "TRACKIO_SPACE_ID",
    "TRACKIO_SERVER_URL",
    "KUBEFLOW_TRAINER_SERVER_URL",
    "COMET_START_ONLINE",
)


@pytest.fixture(autouse=True)
def _no_tracker_settings(monkeypatch):
    for name in TRACKER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def pretend(monkeypatch, installed=(), missing=()):
    """importlib.util.find_spec answers that these top-level modules are installed, or not."""

    def find_spec(name, *args, **kwargs):
        if name in missing:
            return None
        if name in installed:
            return importlib.machinery.ModuleSpec(name, None)
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def refusal(names) -> str:
    with pytest.raises(UsageError) as caught:
        check_report_to(names)
    assert caught.value.exit_code == 2
    return str(caught.value)


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("names", [(), ("none",), ("None",), ("none,",), ""])
def test_none_or_nothing_is_no_tracker(names):
    assert check_report_to(names) == ()


def test_names_are_split_on_commas_and_kept_once_in_order(monkeypatch):
    pretend(monkeypatch, installed=("tensorboard", "dvclive"))
    assert check_report_to(["tensorboard,dvclive", " TensorBoard "]) == ("tensorboard", "dvclive")
    assert check_report_to("dvclive,tensorboard") == ("dvclive", "tensorboard")  # one string, as from Python


def test_none_cannot_go_with_a_tracker():
    assert "'none' turns tracking off" in refusal(["none", "tensorboard"])


@pytest.mark.parametrize("name, close", [("tensorbord", "tensorboard"), ("comet", "comet_ml"), ("mlfow", "mlflow")])
def test_an_unknown_name_gets_the_closest_one(name, close):
    message = refusal([name])
    assert f"--report-to {name}: not a tracker that transformers supports (did you mean {close!r}?)" in message
    assert "the choices are none, azure_ml," in message


def test_all_is_refused_with_what_is_installed(monkeypatch):
    pretend(monkeypatch, installed=("dvclive",), missing=("tensorboard", "mlflow"))
    message = refusal(["all"])
    assert "name the trackers instead" in message and "installed here: dvclive" in message


def test_the_names_are_exactly_the_integrations_of_transformers():
    """The checks know every tracker without importing transformers; this keeps the two lists equal."""
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    assert set(TRACKERS) == set(INTEGRATION_TO_CALLBACK)


@pytest.mark.slow
def test_checking_imports_neither_torch_nor_transformers():
    code = (
        "import sys; from taskrun.tracking import check_report_to; check_report_to(['tensorboard']); "
        "print(sorted(m for m in ('torch', 'transformers', 'tensorboard', 'mlflow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- offline mode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, env, why, hint",
    [
        ("wandb", {}, "unless WANDB_MODE is offline, dryrun or disabled, and it is not set", "WANDB_MODE=offline"),
        ("wandb", {"WANDB_MODE": "online"}, "and it is 'online'", "WANDB_MODE=offline"),
        (
            "mlflow",
            {"MLFLOW_TRACKING_URI": "https://mlflow.example.com"},
            "MLFLOW_TRACKING_URI is https://mlflow.example.com, a tracking server",
            "Unset MLFLOW_TRACKING_URI",
        ),
        ("mlflow", {"MLFLOW_TRACKING_URI": "databricks"}, "MLFLOW_TRACKING_URI is databricks, a tracking server", ""),
        (
            "trackio",
            {"TRACKIO_SPACE_ID": "someone/runs"},
            "TRACKIO_SPACE_ID is set: it logs to a Hugging Face Space",
            "Unset TRACKIO_SPACE_ID",
        ),
        (
            "trackio",
            {"TRACKIO_SERVER_URL": "https://trackio.example.com"},
            "TRACKIO_SERVER_URL is set",
            "Unset TRACKIO_SPACE_ID",
        ),
        ("azure_ml", {}, "it logs to an Azure ML workspace", "Leave azure_ml out of --report-to"),
    ],
)
def test_an_online_tracker_is_refused_in_offline_mode(monkeypatch, name, env, why, hint):
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    pretend(monkeypatch, installed=TRACKERS[name].modules)
    message = refusal(["tensorboard", name])
    assert f"--report-to {name} needs the network, and offline mode is on (HF_HUB_OFFLINE" in message
    assert why in message and hint in message


def test_offline_mode_is_refused_before_a_missing_package_is_asked_for(monkeypatch):
    """Installing wandb would not help: the message says what would."""
    pretend(monkeypatch, missing=("wandb",))
    message = refusal(["wandb"])
    assert "needs the network" in message and "pip install" not in message


@pytest.mark.parametrize(
    "name, env",
    [
        ("wandb", {"WANDB_MODE": "offline"}),
        ("wandb", {"WANDB_MODE": "disabled"}),
        ("mlflow", {"MLFLOW_TRACKING_URI": "sqlite:///runs/mlflow.db"}),
        ("trackio", {}),  # its local database
        ("tensorboard", {}),
    ],
)
def test_a_tracker_kept_local_is_accepted_in_offline_mode(monkeypatch, name, env):
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    pretend(monkeypatch, installed=(*TRACKERS[name].modules, "sqlalchemy"))
    assert check_report_to([name]) == (name,)


def test_online_trackers_are_accepted_with_the_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    pretend(monkeypatch, installed=("wandb", "mlflow"), missing=("sqlalchemy",))
    for server in ("https://mlflow.example.com", "databricks"):  # not taken for a file store or a database
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
        assert check_report_to(["wandb", "mlflow"]) == ("wandb", "mlflow")


# --- packages --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tensorboard", "mlflow", "wandb", "trackio"])
def test_a_missing_package_names_pip_and_taskruns_extra(monkeypatch, name):
    pretend(monkeypatch, missing=TRACKERS[name].modules)
    monkeypatch.setenv("WANDB_MODE", "offline")
    message = refusal([name])
    assert f"--report-to {name}: the {name} package is not installed." in message
    assert f'pip install "taskrun[{name}]" (or pip install {name})' in message


def test_a_tracker_without_an_extra_gets_the_plain_pip_command(monkeypatch):
    pretend(monkeypatch, missing=("dvclive",))
    message = refusal(["dvclive"])
    assert "the dvclive package is not installed" in message and "Install: pip install dvclive." in message


def test_every_extra_named_exists_and_installs_its_tracker():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    named = {name: tracker for name, tracker in TRACKERS.items() if tracker.extra}
    assert set(named) == {"tensorboard", "mlflow", "wandb", "trackio"}
    for tracker in named.values():
        requirements = extras[tracker.extra]
        assert any(r.startswith(f"{tracker.packages[0]}>=") and ",<" in r for r in requirements), requirements


# --- MLflow's store ----------------------------------------------------------------------------


def test_mlflow_turned_off_by_its_variable_is_refused(monkeypatch):
    monkeypatch.setenv("DISABLE_MLFLOW_INTEGRATION", "TRUE")
    pretend(monkeypatch, installed=("mlflow",))
    assert "DISABLE_MLFLOW_INTEGRATION is TRUE" in refusal(["mlflow"])


def test_mlflows_default_database_store_needs_sqlalchemy_and_alembic(monkeypatch, tmp_path):
    """mlflow-skinny installs neither sqlalchemy nor alembic, which a database store needs: MLflow
    would fail only once training starts. With both beside mlflow-skinny, it works."""
    monkeypatch.chdir(tmp_path)
    pretend(monkeypatch, installed=("mlflow",), missing=("sqlalchemy",))
    message = refusal(["mlflow"])
    assert "MLflow's database store (sqlite:///mlflow.db, its default) needs sqlalchemy, which mlflow-skinny" in message
    assert 'pip install "taskrun[mlflow]" (the full mlflow), or pip install sqlalchemy alembic' in message
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql+psycopg2://db/mlflow")
    assert "(postgresql+psycopg2://db/mlflow) needs sqlalchemy, which" in refusal(["mlflow"])
    pretend(monkeypatch, installed=("mlflow",), missing=("alembic",))
    assert "needs alembic, which mlflow-skinny does not install" in refusal(["mlflow"])


def test_mlflows_file_store_needs_its_opt_in(monkeypatch, tmp_path):
    """MLflow 3.13+ refuses a file store unless MLFLOW_ALLOW_FILE_STORE is true (the test extra has 3.17+)."""
    pretend(monkeypatch, installed=("mlflow",))
    for uri in (tmp_path.as_uri(), str(tmp_path)):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        assert f"MLFLOW_TRACKING_URI {uri} is a file store" in refusal(["mlflow"])
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert check_report_to(["mlflow"]) == ("mlflow",)


def test_kubeflow_needs_its_server(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert "KUBEFLOW_TRAINER_SERVER_URL, which is not set" in refusal(["kubeflow"])


# --- the callbacks ---------------------------------------------------------------------------


def test_tensorboard_is_taskruns_callback_and_the_others_go_to_trainer(tmp_path):
    from transformers.integrations import TensorBoardCallback

    log_dir = tmp_path / "checkpoints" / "logs"
    report_to, callbacks = tracking_setup(("tensorboard", "mlflow"), log_dir)
    assert report_to == ["mlflow"]  # "tensorboard" there too would make Trainer add a second one
    (callback,) = callbacks
    assert isinstance(callback, TensorBoardCallback) and callback.logging_dir == str(log_dir)
    assert not log_dir.exists()  # written when training begins, by rank 0 only
    assert tracking_setup(("mlflow",), log_dir) == (["mlflow"], [])
    assert tracking_setup((), log_dir) == ([], [])


# --- real runs -------------------------------------------------------------------------------


def scalars(log_dir: Path, tag: str, purge: bool = True) -> list[tuple[int, float]]:
    """(step, value) of a scalar in TensorBoard's event files, read as TensorBoard reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), purge_orphaned_data=purge)
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def test_a_run_logs_to_tensorboard_and_mlflow_for_real(run_reviews, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    store = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow-skinny: the file store (full mlflow: sqlite too)
    out = tmp_path / "reviews-run"
    result = run_reviews(out, "--report-to", "tensorboard,mlflow")
    assert result.exit_code == 0, result.output

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    steps = metrics["train"]["steps"]
    every = max(1, steps // 10)  # taskrun logs the training loss ten times a run
    logged = list(range(every, steps + 1, every))
    primary = metrics["primary_metric"]["name"]

    # TensorBoard: the event files were written to the checkpoints folder, then published with the run.
    assert not (out / "checkpoints").exists()
    assert len(list((out / "logs").glob("events.out.tfevents.*"))) == 1
    assert [step for step, _ in scalars(out / "logs", "train/loss")] == logged
    assert [step for step, _ in scalars(out / "logs", "eval/loss")] == [steps]  # one epoch, one evaluation
    ((step, value),) = scalars(out / "logs", f"eval/{primary}")
    assert step == steps and value == pytest.approx(metrics["eval"][primary], rel=1e-5)

    # MLflow: one run, its settings as params, the same metrics at the same steps.
    client = MlflowClient(store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    settings = json.loads((out / "run_config.json").read_text(encoding="utf-8"))
    assert run.data.params["learning_rate"] == str(settings["learning_rate"])
    assert run.data.params["per_device_train_batch_size"] == "8"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == logged
    (evaluation,) = client.get_metric_history(run.info.run_id, f"eval_{primary}")
    assert evaluation.step == steps and evaluation.value == pytest.approx(metrics["eval"][primary], rel=1e-5)
    assert run.info.run_name == out.name  # TrainingArguments.run_name: the output folder's name

    # The logs are the run's own files: a later --overwrite replaces them instead of refusing.
    assert "logs" in settings["files"]


@pytest.mark.parametrize(
    "options, message",
    [
        (("--offline", "--report-to", "wandb"), "--report-to wandb needs the network, and offline mode is on"),
        (("--report-to", "tensorbord"), "(did you mean 'tensorboard'?)"),
    ],
)
def test_the_run_command_refuses_before_loading_anything(cli, tiny_model, reviews_csv, tmp_path, options, message):
    """The text column does not exist: had the data been read first, that would be the error."""
    out = tmp_path / "out"
    result = cli(
        "run", "custom-csv", "--model", tiny_model, "--train", reviews_csv, "--text-column", "nope",
        "--label-column", "stars", "--output-dir", out, *options,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output and "nope" not in result.output
    assert not out.exists()


@pytest.mark.slow
def test_a_resumed_run_adds_to_its_tensorboard_logs_and_each_step_appears_once(tiny_model, reviews_csv, tmp_path):
    """Killed (SIGKILL) at step 4 after a checkpoint at step 2, then resumed: the interrupted run's
    event file is kept with the checkpoints and published with the run, beside the resumed run's,
    whose purge mark makes TensorBoard drop the interrupted run's step 3."""
    out = tmp_path / "resumed"
    args = [
        "run", "custom-csv", "--model", str(tiny_model), "--train", str(reviews_csv), "--text-column", "review",
        "--label-column", "stars", "--epochs", "1", "--batch-size", "8", "--precision", "fp32",
        "--save-every", "2", "--output-dir", str(out), "--report-to", "tensorboard",
    ]  # fmt: skip
    killed = subprocess.run(
        [sys.executable, str(KILLED_TASKRUN), "step", "4", *args], capture_output=True, text=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [step for step, _ in scalars(out / "checkpoints" / "logs", "train/loss")] == [1, 2, 3]

    resumed = subprocess.run(
        [sys.executable, "-m", "taskrun", *args, "--resume", "auto"], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "(step 2)" in resumed.stderr
    steps = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["train"]["steps"]
    assert len(list((out / "logs").glob("events.out.tfevents.*"))) == 2
    assert [step for step, _ in scalars(out / "logs", "train/loss")] == list(range(1, steps + 1))
    unpurged = [step for step, _ in scalars(out / "logs", "train/loss", purge=False)]
    assert unpurged == [1, 2, 3, *range(3, steps + 1)]  # what TensorBoard would show without the mark
