"""Tokenising with truncation, and knowing which texts were cut, in one pass.

Texts are encoded whole; only those longer than `max_length` are encoded again with truncation
(for a pair, the tokenizer's own longest-first rule). Most texts fit, so this costs about one
tokenisation instead of two. Training's default preprocessing and `taskrun predict`/`eval` share it.
"""

from __future__ import annotations

from typing import Any


def encode(
    tokenizer: Any, texts: list[str], pairs: list[str] | None, max_length: int
) -> tuple[dict[str, list], list[bool]]:
    """Unpadded encodings of every text (and its pair), cut to `max_length`, and which were cut."""
    encoded = dict(tokenizer(texts, pairs))
    long = [i for i, ids in enumerate(encoded["input_ids"]) if len(ids) > max_length]
    if long:
        cut = tokenizer(
            [texts[i] for i in long],
            [pairs[i] for i in long] if pairs is not None else None,
            truncation=True,
            max_length=max_length,
        )
        for key, values in encoded.items():
            for j, i in enumerate(long):
                values[i] = cut[key][j]
    truncated = [False] * len(texts)
    for i in long:
        truncated[i] = True
    return encoded, truncated
