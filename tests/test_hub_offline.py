"""Hub code paths fail fast with a clear message when the Hub cannot be had."""

from __future__ import annotations

import socket

import pytest
from taskrun import hub


@pytest.fixture
def no_network(monkeypatch):
    """Online mode, but every connection fails: as on a machine without internet."""
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network unreachable (test)")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    hub.hub_reachable.cache_clear()
    yield attempts
    hub.hub_reachable.cache_clear()


def test_hub_model_while_offline_mode_says_what_to_pass(cli, sst2_dir, tmp_path):
    out = tmp_path / "run"
    result = cli("run", "sentiment", "--model", "someone/not-cached-model", "--data-dir", sst2_dir, "--output-dir", out)
    assert result.exit_code == 3
    assert "model 'someone/not-cached-model'" in result.stderr and "HF_HUB_OFFLINE" in result.stderr
    assert "--model embedded" in result.stderr
    assert "Traceback" not in result.output and not out.exists()


def test_hub_model_without_network_fails_after_one_probe(cli, sst2_dir, tmp_path, no_network):
    result = cli(
        "run",
        "sentiment",
        "--model",
        "someone/not-cached-model",
        "--data-dir",
        sst2_dir,
        "--output-dir",
        tmp_path / "run",
    )
    assert result.exit_code == 3
    assert "cannot be reached" in result.stderr and "--model embedded" in result.stderr
    assert len(no_network) == 1


def test_hub_dataset_while_offline_points_to_data_dir(cli, tiny_model, tmp_path):
    result = cli("run", "mrpc", "--model", tiny_model, "--output-dir", tmp_path / "run")
    assert result.exit_code == 3
    assert "nyu-mll/glue" in result.stderr and "--data-dir" in result.stderr


def test_hub_dataset_without_network_points_to_data_dir(cli, tiny_model, tmp_path, no_network):
    result = cli("run", "sentiment", "--model", tiny_model, "--output-dir", tmp_path / "run")
    assert result.exit_code == 3
    assert "cannot be reached" in result.stderr and "--data-dir" in result.stderr


def test_a_path_that_does_not_exist_is_not_sent_to_the_hub(cli, sst2_dir, tmp_path, no_network):
    result = cli(
        "run", "sentiment", "--model", "./no/such/model", "--data-dir", sst2_dir, "--output-dir", tmp_path / "r"
    )
    assert result.exit_code == 3 and "no such directory" in result.stderr
    assert no_network == []


def test_proxy_is_probed_instead_of_the_hub(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert hub._probe_target() == ("proxy.example", 3128)


def test_a_full_local_run_makes_no_connection_attempt(cli, tiny_model, sst2_dir, tmp_path, monkeypatch):
    """A local model and local data: not one network connection, from taskrun or the libraries."""
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    result = cli(
        "run",
        "sentiment",
        "--model",
        tiny_model,
        "--data-dir",
        sst2_dir,
        "--output-dir",
        tmp_path / "r",
        "--epochs",
        "1",
        "--max-train-samples",
        "8",
        "--precision",
        "fp32",
    )
    assert result.exit_code == 0, result.output
    assert attempts == []


def no_network_run(tmp_path, *args, offline_env: bool):
    """`taskrun ARGS` in a fresh process whose every connection attempt fails and is counted."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    if offline_env:
        env["HF_HUB_OFFLINE"] = "1"
    attempts = tmp_path / "attempts.txt"
    helper = Path(__file__).parent / "helpers" / "no_network.py"
    done = subprocess.run(
        [sys.executable, str(helper), str(attempts), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done, [line for line in attempts.read_text().splitlines() if line]


@pytest.mark.slow  # a taskrun process
@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE=1", "--offline"])
def test_offline_full_run_makes_zero_connection_attempts(tiny_model, sst2_dir, tmp_path, how):
    offline = ["--offline"] if how == "--offline" else []
    done, attempts = no_network_run(
        tmp_path,
        "run",
        "sentiment",
        "--model",
        tiny_model,
        "--data-dir",
        sst2_dir,
        "--output-dir",
        tmp_path / "run",
        "--epochs",
        "1",
        "--precision",
        "fp32",
        *offline,
        offline_env=how == "HF_HUB_OFFLINE=1",
    )
    assert done.returncode == 0, done.stderr
    assert attempts == []
    assert (tmp_path / "run" / "model.safetensors").is_file()


@pytest.mark.slow  # a taskrun process
def test_offline_hub_model_not_cached_fails_at_once_naming_it(sst2_dir, tmp_path):
    done, attempts = no_network_run(
        tmp_path,
        "run",
        "sentiment",
        "--model",
        "someone/not-cached-model",
        "--data-dir",
        sst2_dir,
        "--output-dir",
        tmp_path / "run",
        "--offline",
        offline_env=False,
    )
    assert done.returncode == 3
    assert "model 'someone/not-cached-model' is not in the local cache" in done.stderr
    assert attempts == [] and not (tmp_path / "run").exists()
