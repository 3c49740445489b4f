"""Issue 23, item 18: faults found by reading the code. A sharded model in the Hub cache is used
offline; a checkpoint a resumed run cannot remove stops it, named; every hook sees one --max-length."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from taskrun import TaskSpec, hookimpl
from taskrun.errors import OutputWriteError


def cached_snapshot(cache: Path, repo: str, files: dict[str, str]) -> Path:
    """A Hub cache entry for model `repo` as huggingface_hub lays it out: refs/main names a
    snapshot folder holding `files`."""
    entry = cache / f"models--{repo.replace('/', '--')}"
    snapshot = entry / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("0" * 40)
    for name, text in files.items():
        (snapshot / name).write_text(text)
    return snapshot


SHARDED_INDEX = json.dumps(
    {"weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"}}
)


@pytest.mark.parametrize("shards", [2, 1])
def test_a_sharded_model_in_the_hub_cache_is_used_offline_when_every_shard_is_there(monkeypatch, tmp_path, shards):
    from taskrun.errors import HubUnavailableError
    from taskrun.models import resolve_model

    files = {"config.json": "{}", "model.safetensors.index.json": SHARDED_INDEX}
    files.update({f"model-0000{i}-of-00002.safetensors": "" for i in range(1, shards + 1)})
    snapshot = cached_snapshot(tmp_path / "hub", "org/big-model", files)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if shards == 2:
        assert resolve_model("org/big-model") == str(snapshot)
    else:  # a shard missing: the Hub is needed, and offline that is said at once
        with pytest.raises(HubUnavailableError):
            resolve_model("org/big-model")


def test_a_checkpoint_that_a_resumed_run_cannot_remove_stops_it_naming_the_folder(monkeypatch, tmp_path):
    from taskrun import checkpoints

    for step in (2, 4, 6):
        (tmp_path / f"checkpoint-{step}").mkdir()

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(shutil, "rmtree", refuse)
    with pytest.raises(OutputWriteError, match=r"cannot remove .*checkpoint-4, a checkpoint newer than step 2"):
        checkpoints.discard_after(tmp_path, 2)
    monkeypatch.undo()
    checkpoints.discard_after(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2"]


def test_every_hook_sees_the_max_length_cut_to_the_model(manager, cli, tiny_model, tmp_path):
    seen: dict[str, int] = {}

    class Watcher:
        @hookimpl
        def taskrun_register_tasks(self, register):
            register(TaskSpec(name="watched", labels=("a", "b")))

        @hookimpl
        def taskrun_load_dataset(self, task, config):
            import datasets

            seen["load_dataset"] = config.max_length
            features = datasets.Features(
                {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])}
            )
            split = datasets.Dataset.from_dict(
                {"text": ["the plot was good"] * 4, "label": [0, 1] * 2}, features=features
            )
            return datasets.DatasetDict(train=split, validation=split)

        @hookimpl
        def taskrun_data_collator(self, task, config, tokenizer):
            seen["data_collator"] = config.max_length

    manager.register(Watcher(), name="watcher")
    result = cli(
        "run",
        "watched",
        "--model",
        tiny_model,
        "--output-dir",
        tmp_path / "o",
        "--max-length",
        "128",
        "--epochs",
        "1",
        "--precision",
        "fp32",
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert seen == {"load_dataset": 64, "data_collator": 64}  # the tiny model takes 64 tokens


def test_a_read_only_output_folder_is_named_with_exit_7_before_any_work(cli, tiny_model, tmp_path, monkeypatch):
    """Issue 23, item 7: the lock file was the first write, and its OSError a traceback."""
    import os

    from taskrun import outputs

    parent = tmp_path / "read-only"
    parent.mkdir()
    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).startswith(str(parent)) and flags & os.O_CREAT:
            raise PermissionError(13, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(outputs.os, "open", read_only)
    train = tmp_path / "t.csv"
    train.write_text("text,label\n" + "the plot was good,pos\nthe plot was bad,neg\n" * 6)
    result = cli("run", "custom-csv", "--train", train, "--model", tiny_model, "--output-dir", parent / "run")
    assert result.exit_code == 7, result.output + result.stderr
    assert f"--output-dir {parent / 'run'}: cannot write in {parent} (Read-only file system)" in result.stderr
    assert "Traceback" not in result.stderr and list(parent.iterdir()) == []
