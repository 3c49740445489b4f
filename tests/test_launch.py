"""taskrun.launch: decisions taken once, by rank 0, for every process of a launch. The
two-process tests start a real gloo process group (two spawned processes on this machine)."""

from __future__ import annotations

import os
import pickle
import socket

import pytest
from conftest import needs_gloo
from taskrun.errors import CheckpointError, OutputExistsError, TaskrunError
from taskrun.launch import _portable, decided_once

torch = pytest.importorskip("torch")


class NeedsTwoArguments(TaskrunError):
    exit_code = 4

    def __init__(self, plugin: str, detail: str):
        super().__init__(f"plugin {plugin}: {detail}")


def test_an_error_that_cannot_be_rebuilt_travels_as_its_message_hint_and_code():
    error = NeedsTwoArguments("topics", "broke")
    error.hint = "fix it"
    with pytest.raises(TypeError):
        pickle.loads(pickle.dumps(error))  # what broadcasting it would do
    stand_in = _portable(error)
    assert (stand_in.message, stand_in.hint, stand_in.exit_code) == ("plugin topics: broke", "fix it", 4)
    ordinary = OutputExistsError("--output-dir x already holds a finished run.", hint="Pass --overwrite")
    assert _portable(ordinary) is ordinary


def test_one_process_decides_without_a_launcher(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert decided_once(lambda: 42) == 42
    with pytest.raises(CheckpointError) as raised:
        decided_once(lambda: (_ for _ in ()).throw(CheckpointError("damaged")))
    assert not raised.value.shown_elsewhere


def _rank(rank: int, port: int, results) -> None:
    """One process of a two-process launch: three decisions, each answer or error recorded."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2")
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    calls = []

    def decide(value):
        def answer():
            calls.append(value)
            if value == "refused":
                raise OutputExistsError("--output-dir out already holds a finished run.")
            if value == "bug":
                raise ZeroDivisionError("a bug")
            return f"{value} from rank {rank}"

        return answer

    seen = []
    for value in ("fp32", "refused", "bug"):
        try:
            seen.append(("answer", decided_once(decide(value))))
        except TaskrunError as exc:
            seen.append((type(exc).__name__, exc.exit_code, exc.shown_elsewhere))
        except ZeroDivisionError:
            seen.append(("ZeroDivisionError",))
    results.put((rank, calls, seen))


@pytest.mark.slow  # two processes
@needs_gloo()
def test_rank_zero_decides_and_every_process_gets_its_answer_or_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = torch.multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_rank, args=(rank, port, results)) for rank in (0, 1)]
    for p in processes:
        p.start()
    outcome = dict((rank, (calls, seen)) for rank, calls, seen in (results.get(timeout=120) for _ in processes))
    for p in processes:
        p.join(timeout=60)
    assert outcome[0][0] == ["fp32", "refused", "bug"] and outcome[1][0] == []  # only rank 0 decided
    assert outcome[0][1] == [
        ("answer", "fp32 from rank 0"),
        ("OutputExistsError", 2, False),  # rank 0 prints it
        ("ZeroDivisionError",),  # a bug keeps its traceback on rank 0
    ]
    assert outcome[1][1] == [
        ("answer", "fp32 from rank 0"),
        ("OutputExistsError", 2, True),  # printed by rank 0 only; same exit code
        ("RankZeroFailed", 1, True),
    ]
