"""Fail fast, and clearly, when the Hugging Face Hub is needed but cannot be had.

Without this, a Hub download on a machine with no network retries for tens of seconds (or hangs
behind a firewall that drops packets) and ends in a long traceback. Here, offline mode
(HF_HUB_OFFLINE) or a failed 3-second connection probe becomes a `HubUnavailableError` that says
what to pass instead. Nothing here imports huggingface_hub, so it costs nothing when unused.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from urllib.parse import urlparse

from .errors import HubUnavailableError

__all__ = ["is_hub_id"]

PROBE_TIMEOUT_S = 3.0
TRUE_WORDS = frozenset({"1", "on", "yes", "true"})  # an environment variable saying yes (as huggingface_hub)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def is_hub_id(name: str) -> bool:
    """Whether `name` could be a Hub repository id (`name` or `owner/name`) rather than a local path:
    a path-like name (`./x`, `/x`, `~/x`, `a/b/c`) that does not exist is reported as missing, not
    sent to the Hub."""
    return bool(_HUB_ID.match(name)) and not name.startswith((".", "/", "~"))


def offline_mode() -> bool:
    """True where the user asked for no Hub access (HF_HUB_OFFLINE, as huggingface_hub reads it)."""
    return env_flag("HF_HUB_OFFLINE")


def env_flag(name: str) -> bool:
    """Whether the environment variable `name` says yes (1, on, yes, true; any case)."""
    return os.environ.get(name, "").strip().lower() in TRUE_WORDS


def go_offline() -> None:
    """Offline mode for this process (--offline): the variables huggingface_hub, datasets and
    transformers read, set before they are imported, and their constants where they already are."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[name] = "1"
    offline_constants()


def offline_constants() -> None:
    """Offline mode in huggingface_hub and datasets where they are already imported: they read
    HF_HUB_OFFLINE once, at import, and would miss a value set since (by --offline, a notebook)."""
    import sys

    if "huggingface_hub.constants" in sys.modules:
        setattr(sys.modules["huggingface_hub.constants"], "HF_HUB_OFFLINE", True)
    if "datasets.config" in sys.modules:
        setattr(sys.modules["datasets.config"], "HF_HUB_OFFLINE", True)


def _probe_target() -> tuple[str, int]:
    """The host and port a Hub request would connect to first: the HTTPS proxy if set."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    default_port = 443 if url.scheme == "https" else 80
    return url.hostname or "huggingface.co", url.port or default_port


@functools.lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """One TCP connection attempt to the Hub (or proxy), at most PROBE_TIMEOUT_S seconds."""
    try:
        socket.create_connection(_probe_target(), timeout=PROBE_TIMEOUT_S).close()
        return True
    except OSError:
        return False


def require_hub(what: str, instead: str) -> None:
    """Raise a clear error unless `what` (say "model 'bert-base-uncased'") can be downloaded."""
    if offline_mode():
        raise HubUnavailableError(
            f"{what} is not in the local cache and HF_HUB_OFFLINE is set, so it cannot be downloaded.",
            hint=instead,
        )
    if not hub_reachable():
        host, port = _probe_target()
        raise HubUnavailableError(
            f"{what} must be downloaded from the Hugging Face Hub, but {host}:{port} cannot be reached.",
            hint=instead,
        )
