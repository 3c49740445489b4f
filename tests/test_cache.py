"""The tokenised-data cache: a second run of the same task skips tokenising; a changed file or
option tokenises again; a broken entry is never trusted.

Only the first test trains (a run from the cache trains the same). The others ask what a run
tokenises and stores, so their runs stop where training would begin (`StopAtTheFirstBatch`):
loading, tokenising and the cache are those of any run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import taskrun.sequence_classification
from taskrun import hookimpl
from taskrun.tokenization import encode

EVERY_SPLIT = 40 + 16 + 6  # rows of mrpc_dir's train, dev and test files


@pytest.fixture
def encode_calls(monkeypatch) -> list[int]:
    """Count the texts the default preprocessing tokenises."""
    calls: list[int] = []

    def counting(tokenizer, texts, pairs, max_length):
        calls.append(len(texts))
        return encode(tokenizer, texts, pairs, max_length)

    monkeypatch.setattr(taskrun.sequence_classification, "encode", counting)
    return calls


def cache_entries() -> list[Path]:
    folder = Path(os.environ["TASKRUN_CACHE_DIR"]) / "tokenized"
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def run_mrpc(taskrun_run, mrpc_dir, tmp_path, name, *extra):
    outcome = taskrun_run("mrpc", "--data-dir", mrpc_dir, *extra, output_dir=tmp_path / name)
    assert outcome.exit_code == 0, outcome.output + outcome.stderr
    return outcome


class StopAtTheFirstBatch:
    """Ends a run where training would begin: at its first batch, once the data is tokenised."""

    TASKRUN_FOR_ALL_TASKS = ("taskrun_data_collator",)

    @hookimpl(tryfirst=True)
    def taskrun_data_collator(self, task, config, tokenizer):
        def collate(examples):
            raise RuntimeError("stopped at the first batch")

        return collate


def tokenise_mrpc(taskrun_run, mrpc_dir, tmp_path, name, *extra):
    """`run_mrpc` up to the first training batch: the data loaded, tokenised (or taken from the
    cache) and stored as a run does it, then the run stops."""
    outcome = taskrun_run(
        "mrpc", "--data-dir", mrpc_dir, *extra, output_dir=tmp_path / name, plugins=[StopAtTheFirstBatch()]
    )
    assert outcome.exit_code == 4 and "stopped at the first batch" in outcome.stderr, outcome.output + outcome.stderr
    return outcome


def test_second_run_loads_the_tokenised_data_and_trains_the_same(taskrun_run, mrpc_dir, tmp_path, encode_calls):
    first = run_mrpc(taskrun_run, mrpc_dir, tmp_path, "first")
    assert sum(encode_calls) == EVERY_SPLIT  # train, dev and test tokenised once
    assert len(cache_entries()) == 1 and "from the cache" not in first.stderr

    encode_calls.clear()
    second = run_mrpc(taskrun_run, mrpc_dir, tmp_path, "second")
    assert encode_calls == []
    assert "tokenised data from the cache" in second.stderr
    assert len(cache_entries()) == 1
    assert second.metrics["eval"]["loss"] == first.metrics["eval"]["loss"]
    assert second.metrics["truncated"] == first.metrics["truncated"]


def test_file_times_do_not_matter_but_content_and_options_do(taskrun_run, mrpc_dir, tmp_path, encode_calls):
    tokenise_mrpc(taskrun_run, mrpc_dir, tmp_path, "first")
    train = mrpc_dir / "train.tsv"

    encode_calls.clear()
    os.utime(train, (1, 1))  # same bytes, another time: still a hit
    tokenise_mrpc(taskrun_run, mrpc_dir, tmp_path, "touched")
    assert encode_calls == []

    lines = train.read_text(encoding="utf-8-sig").splitlines()
    lines[1] = lines[1].replace("the", "a", 1)  # one word of one row
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tokenise_mrpc(taskrun_run, mrpc_dir, tmp_path, "edited")
    assert sum(encode_calls) == EVERY_SPLIT
    assert len(cache_entries()) == 2

    encode_calls.clear()
    tokenise_mrpc(taskrun_run, mrpc_dir, tmp_path, "shorter", "--max-length", "16")
    assert sum(encode_calls) == EVERY_SPLIT
    encode_calls.clear()
    tokenise_mrpc(taskrun_run, mrpc_dir, tmp_path, "fewer", "--max-train-samples", "30")
    assert sum(encode_calls) == 30 + 16 + 6
    assert len(cache_entries()) == 4

    encode_calls.clear()
    tokenise_mrpc(taskrun_run, mrpc_dir, tmp_path, "uncached", "--no-cache")
    assert sum(encode_calls) == EVERY_SPLIT and len(cache_entries()) == 4


def test_a_damaged_entry_is_tokenised_again(taskrun_run, mrpc_dir, tmp_path, encode_calls):
    tokenise_mrpc(taskrun_run, mrpc_dir, tmp_path, "first")
    (entry,) = cache_entries()
    for arrow in entry.rglob("*.arrow"):
        arrow.write_bytes(b"not arrow")
    encode_calls.clear()
    outcome = tokenise_mrpc(taskrun_run, mrpc_dir, tmp_path, "second")
    assert "cannot read the cached tokenised data" in outcome.stderr
    assert sum(encode_calls) == EVERY_SPLIT
    encode_calls.clear()
    tokenise_mrpc(taskrun_run, mrpc_dir, tmp_path, "third")
    assert encode_calls == []  # the entry was written again, whole


def test_code_without_readable_source_is_never_reused():
    """A module whose source cannot be read gets a value no later run repeats (it was a constant,
    "no-source", so edits to such code never invalidated the cache)."""
    import types

    from taskrun.cache import _file_hash

    in_memory = types.ModuleType("built_in_memory")
    assert _file_hash(in_memory) != _file_hash(in_memory)
    assert _file_hash(taskrun.sequence_classification) == _file_hash(taskrun.sequence_classification)
