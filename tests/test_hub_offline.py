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
    result = cli("run", "sentiment", "--model", "someone/not-cached-model", "--data-dir", sst2_dir,
                 "--output-dir", tmp_path / "run")
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
    result = cli("run", "sentiment", "--model", "./no/such/model", "--data-dir", sst2_dir, "--output-dir", tmp_path / "r")
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
    result = cli("run", "sentiment", "--model", tiny_model, "--data-dir", sst2_dir, "--output-dir", tmp_path / "r",
                 "--epochs", "1", "--max-train-samples", "8", "--precision", "fp32")
    assert result.exit_code == 0, result.output
    assert attempts == []
