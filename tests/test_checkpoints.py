"""Checkpoints you can trust, and a run folder that never mixes two runs.

The interrupted run these tests start from is made by a plugin whose metrics hook raises at the
third evaluation: the run stops there, leaving checkpoint-6 and checkpoint-12 sealed and nothing
after them (48 rows in batches of 8 make 6 steps per epoch; an evaluation, then a checkpoint, at
the end of each epoch).
"""

from __future__ import annotations

import json
import logging
import pickle
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from taskrun import hookimpl
from taskrun.checkpoints import MANIFEST, complete_checkpoints, find_resume_point, rotate, write_manifest
from taskrun.cli import main
from taskrun.testing import make_manager
from test_resume import write_reviews

RUN = (
    "run",
    "custom-csv",
    "--train",
    "train.csv",
    "--validation",
    "dev.csv",
    "--epochs",
    "3",
    "--batch-size",
    "8",
    "--precision",
    "fp32",
)


class MetricsFailAtThirdEvaluation:
    """A plugin with a bug that shows up mid-run."""

    TASKRUN_FOR_ALL_TASKS = ("taskrun_metrics",)

    def __init__(self):
        self.calls = 0

    @hookimpl
    def taskrun_metrics(self, task, predictions, references, label_names):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("the metric server went away")
        return {}


def invoke(folder: Path, model: Path, *args, plugins=(), monkeypatch=None):
    monkeypatch.chdir(folder)
    return CliRunner().invoke(main, [*RUN, "--model", str(model), *map(str, args)], obj=make_manager(list(plugins)))


@pytest.fixture(scope="module")
def interrupted_template(tmp_path_factory, taskrun_tiny_model) -> tuple[Path, int, str]:
    folder = tmp_path_factory.mktemp("interrupted")
    write_reviews(folder)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("TASKRUN_CACHE_DIR", str(folder / "cache"))
        result = invoke(
            folder,
            taskrun_tiny_model,
            "--output-dir",
            "out",
            plugins=[MetricsFailAtThirdEvaluation()],
            monkeypatch=monkeypatch,
        )
    return folder, result.exit_code, result.stderr


@pytest.fixture
def interrupted(interrupted_template, tmp_path, monkeypatch) -> Path:
    """A copy of the interrupted run's folder, the working directory of the test."""
    folder = tmp_path / "work"
    shutil.copytree(interrupted_template[0], folder)
    monkeypatch.chdir(folder)
    return folder


def steps(output: Path) -> list[int]:
    return [c.step for c in complete_checkpoints(output / "checkpoints")]


def test_a_failing_hook_stops_the_run_naming_it_and_seals_no_checkpoint_after(interrupted_template):
    folder, exit_code, stderr = interrupted_template
    assert exit_code == 4
    assert "failed in taskrun_metrics for task 'custom-csv': RuntimeError: the metric server went away" in stderr
    assert "plugin 'MetricsFailAtThirdEvaluation" in stderr
    output = folder / "out"
    assert steps(output) == [6, 12]
    assert not (output / "checkpoints" / "checkpoint-18").exists()
    assert not (output / "run_config.json").exists() and not (output / "model.safetensors").exists()


DAMAGE = {
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "corrupt": lambda path: path.write_bytes(bytes([path.read_bytes()[0] ^ 0xFF]) + path.read_bytes()[1:]),
    "deleted": lambda path: path.unlink(),
}


def test_resume_auto_skips_any_damaged_file_of_the_newest_checkpoint(interrupted, caplog):
    newest = interrupted / "out" / "checkpoints" / "checkpoint-12"
    names = sorted(p.name for p in newest.iterdir() if p.name != MANIFEST)
    assert {"model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"} <= set(names)
    pristine = interrupted.parent / "pristine"
    shutil.copytree(newest, pristine)
    for name in [*names, MANIFEST]:
        for kind, damage in DAMAGE.items():
            if name == MANIFEST and kind == "truncated":
                continue
            damage(newest / name)
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="taskrun"):
                chosen = find_resume_point(interrupted / "out", "auto")
            lines = [record.getMessage() for record in caplog.records]
            assert chosen.step == 6, (name, kind)
            assert len(lines) == 1 and "checkpoint-12" in lines[0], (name, kind)
            assert name in lines[0], lines[0]
            shutil.rmtree(newest)
            shutil.copytree(pristine, newest)


def test_resume_auto_end_to_end_uses_the_newest_good_checkpoint(interrupted, taskrun_tiny_model, monkeypatch):
    DAMAGE["corrupt"](interrupted / "out" / "checkpoints" / "checkpoint-12" / "model.safetensors")
    result = invoke(interrupted, taskrun_tiny_model, "--output-dir", "out", "--resume", "auto", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert "skipping checkpoint out/checkpoints/checkpoint-12" in result.stderr and "model.safetensors" in result.stderr
    assert "resuming from out/checkpoints/checkpoint-6 (step 6)" in result.stderr
    assert (interrupted / "out" / "run_config.json").is_file() and not (interrupted / "out" / "checkpoints").exists()


@pytest.mark.parametrize("kind", DAMAGE)
def test_resume_path_to_a_damaged_checkpoint_names_the_file(interrupted, taskrun_tiny_model, monkeypatch, kind):
    checkpoint = interrupted / "out" / "checkpoints" / "checkpoint-12"
    DAMAGE[kind](checkpoint / "optimizer.pt")
    result = invoke(
        interrupted, taskrun_tiny_model, "--output-dir", "out", "--resume", checkpoint, monkeypatch=monkeypatch
    )
    assert result.exit_code == 5, result.output
    assert "optimizer.pt" in result.stderr and "Traceback" not in result.output
    assert steps(interrupted / "out") == [6], result.stderr  # nothing was changed


class Planted:
    """Runs a command when unpickled, as a planted checkpoint file would."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name", ["optimizer.pt", "rng_state.pth", "training_args.bin"])
def test_a_planted_pickle_in_a_sealed_checkpoint_does_not_run(interrupted, taskrun_tiny_model, monkeypatch, name):
    checkpoint = interrupted / "out" / "checkpoints" / "checkpoint-12"
    marker = interrupted / "code-ran"
    (checkpoint / name).write_bytes(pickle.dumps(Planted(marker), protocol=2))
    seal_as_genuine(checkpoint)
    result = invoke(interrupted, taskrun_tiny_model, "--output-dir", "out", "--resume", "auto", monkeypatch=monkeypatch)
    assert result.exit_code == 5, result.output
    assert f"{name} cannot be loaded safely" in result.stderr
    assert not marker.exists()


def seal_as_genuine(checkpoint: Path) -> None:
    """Rewrite a checkpoint's manifest over its present files, as an attacker with write access could."""
    from taskrun.checkpoints import _sha256

    manifest = json.loads((checkpoint / MANIFEST).read_text())
    manifest["files"] = {
        p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in checkpoint.iterdir() if p.name != MANIFEST
    }
    (checkpoint / MANIFEST).write_text(json.dumps(manifest))


def test_resume_refuses_other_data_or_labels_showing_both_and_forces(interrupted, taskrun_tiny_model, monkeypatch):
    write_reviews(interrupted, train_rows=40)
    result = invoke(interrupted, taskrun_tiny_model, "--output-dir", "out", "--resume", "auto", monkeypatch=monkeypatch)
    assert result.exit_code == 5, result.output
    assert "data: checkpoint" in result.stderr and "this run" in result.stderr and "--force-resume" in result.stderr

    write_reviews(interrupted)
    for name in ("train.csv", "dev.csv"):
        (interrupted / name).write_text((interrupted / name).read_text().replace(",neg", ",negative"))
    result = invoke(interrupted, taskrun_tiny_model, "--output-dir", "out", "--resume", "auto", monkeypatch=monkeypatch)
    assert result.exit_code == 5
    assert 'labels: checkpoint ["neg", "pos"], this run ["negative", "pos"]' in result.stderr

    write_reviews(interrupted)
    result = invoke(
        interrupted,
        taskrun_tiny_model,
        "--output-dir",
        "out",
        "--resume",
        "auto",
        "--learning-rate",
        "1e-4",
        monkeypatch=monkeypatch,
    )
    assert result.exit_code == 0, result.output
    assert "resuming with changed settings: learning_rate 5e-05 -> 0.0001" in result.stderr


def test_resume_with_another_model_is_refused_unless_forced(interrupted, taskrun_tiny_model, monkeypatch):
    other = interrupted / "other-model"
    shutil.copytree(taskrun_tiny_model, other)
    result = invoke(interrupted, other, "--output-dir", "out", "--resume", "auto", monkeypatch=monkeypatch)
    assert result.exit_code == 5 and "model: checkpoint" in result.stderr
    result = invoke(
        interrupted, other, "--output-dir", "out", "--resume", "auto", "--force-resume", monkeypatch=monkeypatch
    )
    assert result.exit_code == 0, result.output
    assert "--force-resume: resuming" in result.stderr


def test_an_interrupted_run_is_not_resumed_or_replaced_without_being_asked(
    interrupted, taskrun_tiny_model, monkeypatch
):
    result = invoke(interrupted, taskrun_tiny_model, "--output-dir", "out", monkeypatch=monkeypatch)
    assert result.exit_code == 2 and "interrupted run" in result.stderr and "checkpoint-12" in result.stderr
    result = invoke(interrupted, taskrun_tiny_model, "--output-dir", "out", "--force-resume", monkeypatch=monkeypatch)
    assert result.exit_code == 2 and "--force-resume only applies with --resume" in result.stderr
    result = invoke(interrupted, taskrun_tiny_model, "--output-dir", "out", "--overwrite", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert "resuming" not in result.stderr and (interrupted / "out" / "run_config.json").is_file()


def test_a_failed_overwrite_leaves_the_finished_run_untouched(interrupted, taskrun_tiny_model, monkeypatch):
    result = invoke(interrupted, taskrun_tiny_model, "--output-dir", "done", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    done = interrupted / "done"
    before = {p.name: p.read_bytes() for p in done.iterdir() if p.is_file()}
    result = invoke(
        interrupted,
        taskrun_tiny_model,
        "--output-dir",
        "done",
        "--overwrite",
        "--learning-rate",
        "1e-4",
        plugins=[MetricsFailAtThirdEvaluation()],
        monkeypatch=monkeypatch,
    )
    assert result.exit_code == 4
    assert {p.name: p.read_bytes() for p in done.iterdir() if p.is_file()} == before


def test_rotation_keeps_the_newest_complete_and_the_best(tmp_path):
    root = tmp_path / "checkpoints"

    def checkpoint(step: int, score: float | None, sealed: bool = True) -> None:
        folder = root / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        for name in ("model.safetensors", "trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
            (folder / name).write_text(f"{name} {step}")
        if sealed:
            write_manifest(
                folder,
                {"step": step},
                None if score is None else {"name": "accuracy", "value": score, "greater_is_better": True},
            )

    checkpoint(1, 0.9)  # the best
    checkpoint(2, 0.5)
    checkpoint(3, None, sealed=False)  # killed mid-save
    checkpoint(4, 0.6)
    checkpoint(5, None, sealed=False)  # being written now: newer than every complete one
    rotate(root, keep=1)
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-1", "checkpoint-4", "checkpoint-5"]


def test_a_non_finite_loss_stops_the_run_naming_the_step(tmp_path, taskrun_tiny_model, monkeypatch):
    class NanModel:
        TASKRUN_FOR_ALL_TASKS = ("taskrun_model",)

        @hookimpl(tryfirst=True)
        def taskrun_model(self, task, config, label_names):
            import torch
            from taskrun.defaults import taskrun_model

            model = taskrun_model(task, config, label_names)
            with torch.no_grad():
                model.classifier.weight[0, 0] = float("nan")
            return model

    write_reviews(tmp_path)
    monkeypatch.setenv("TASKRUN_CACHE_DIR", str(tmp_path / "cache"))
    result = invoke(tmp_path, taskrun_tiny_model, "--output-dir", "out", plugins=[NanModel()], monkeypatch=monkeypatch)
    assert result.exit_code == 6, result.output
    assert "the training loss became nan at step 1" in result.stderr
    assert not (tmp_path / "out").exists()
    seeds = invoke(
        tmp_path,
        taskrun_tiny_model,
        "--output-dir",
        "seeds",
        "--seeds",
        "1,2",
        plugins=[NanModel()],
        monkeypatch=monkeypatch,
    )
    assert seeds.exit_code == 6 and "seed 1: the training loss became nan at step 1" in seeds.stderr, seeds.output


def test_a_model_with_non_finite_weights_is_never_saved_as_the_result(tmp_path, taskrun_tiny_model, monkeypatch):
    class UnusedNanWeight:
        TASKRUN_FOR_ALL_TASKS = ("taskrun_model",)

        @hookimpl(tryfirst=True)
        def taskrun_model(self, task, config, label_names):
            import torch
            from taskrun.defaults import taskrun_model

            model = taskrun_model(task, config, label_names)
            model.register_parameter("unused", torch.nn.Parameter(torch.tensor([float("inf")])))
            return model

    write_reviews(tmp_path)
    result = invoke(
        tmp_path, taskrun_tiny_model, "--output-dir", "out", plugins=[UnusedNanWeight()], monkeypatch=monkeypatch
    )
    assert result.exit_code == 6, result.output
    assert "weights unused hold NaN or infinite values; it was not saved" in result.stderr
    assert not (tmp_path / "out" / "model.safetensors").exists() and not (tmp_path / "out" / "run_config.json").exists()


def test_publishing_swaps_the_old_result_for_the_new_in_one_step(tmp_path):
    from taskrun.outputs import exchange as _exchange
    from taskrun.outputs import publish as _publish

    old, new = tmp_path / "run", tmp_path / ".run.partial"
    for folder, text in ((old, "old"), (new, "new")):
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "model.safetensors").write_text(text)
    assert _exchange(new, old)  # Linux: renameat2(RENAME_EXCHANGE), no moment without a result
    assert (old / "model.safetensors").read_text() == "new" and (new / "model.safetensors").read_text() == "old"
    _publish(new, old)
    assert (old / "model.safetensors").read_text() == "old" and not new.exists()


# The files of one checkpoint, as each way of training writes them (the shard files' contents are
# placeholders: sealing hashes bytes, whatever they are). FSDP's sharded state dict is a
# torch.distributed.checkpoint folder per state, its `.metadata` written last.
LAYOUTS = {
    "one process": ["model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json", "rng_state.pth"],
    "ddp": [
        "model.safetensors",
        "optimizer.pt",
        "scheduler.pt",
        "trainer_state.json",
        "rng_state_0.pth",
        "rng_state_1.pth",
    ],
    "fsdp sharded": [
        "pytorch_model_fsdp_0/.metadata",
        "pytorch_model_fsdp_0/__0_0.distcp",
        "pytorch_model_fsdp_0/__1_0.distcp",
        "optimizer_0/.metadata",
        "optimizer_0/__0_0.distcp",
        "optimizer_0/__1_0.distcp",
        "scheduler.pt",
        "trainer_state.json",
        "rng_state_0.pth",
        "rng_state_1.pth",
    ],
    "fsdp full": [
        "model.safetensors",
        "pytorch_model_fsdp.bin",
        "optimizer.bin",
        "scheduler.pt",
        "trainer_state.json",
        "rng_state_0.pth",
    ],
    "deepspeed": [
        "model.safetensors",
        "global_step6/mp_rank_00_model_states.pt",
        "global_step6/bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt",
        "global_step6/bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt",
        "latest",
        "scheduler.pt",
        "trainer_state.json",
        "rng_state_0.pth",
        "rng_state_1.pth",
    ],
}


def write_layout(folder: Path, names: list[str]) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"{name} bytes")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_way_of_training_writes_checkpoints_that_seal_and_resume(tmp_path, layout):
    folder = tmp_path / "checkpoints" / "checkpoint-6"
    folder.mkdir(parents=True)
    write_layout(folder, LAYOUTS[layout])
    (folder / ".trainer_state.json.x1y2.partial").write_text("an atomic write, still going")
    write_manifest(folder, {"step": 6}, None)
    files = json.loads((folder / MANIFEST).read_text())["files"]
    assert sorted(files) == sorted(LAYOUTS[layout])  # hidden shard metadata in, a write in progress out
    assert [c.step for c in complete_checkpoints(tmp_path / "checkpoints")] == [6]


@pytest.mark.parametrize(
    "layout, removed, named",
    [
        ("fsdp sharded", "pytorch_model_fsdp_0/.metadata", "model weights"),
        ("fsdp sharded", "optimizer_0/.metadata", "optimizer state"),
        ("deepspeed", "global_step6/bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt", None),
        ("ddp", "rng_state_1.pth", None),
        ("one process", "rng_state.pth", "random-number state"),
        ("one process", "optimizer.pt", "optimizer state"),
    ],
)
def test_a_checkpoint_missing_a_part_is_not_resumed_from(tmp_path, layout, removed, named):
    """Sealed whole and then a file lost: not resumed from, naming the file. Sealed without the only
    file of a part: not resumed from, naming the part. (One rank's file among several cannot be
    missing at sealing: every process has written its files before rank 0 seals.)"""
    from taskrun.checkpoints import problem_with

    written, lost = tmp_path / "written" / "checkpoint-6", tmp_path / "lost" / "checkpoint-6"
    for folder, names in ((written, [n for n in LAYOUTS[layout] if n != removed]), (lost, LAYOUTS[layout])):
        folder.mkdir(parents=True)
        write_layout(folder, names)
        write_manifest(folder, {"step": 6}, None)
    (lost / removed).unlink()
    assert problem_with(lost) == f"{lost / removed} is missing"
    if named:
        assert named in (problem_with(written) or ""), problem_with(written)
    else:
        assert problem_with(written) is None
    assert complete_checkpoints(tmp_path / "lost") == []
