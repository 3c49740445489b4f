"""Run the taskrun CLI and record what this process (one rank of a launch) did to get its tokenised data.

    python rank_probe.py PROBE_DIR taskrun-arguments...

Appends to PROBE_DIR/rank<RANK>.txt one line per event: `encode N` each time the default
preprocessing tokenises N texts (the same counter as test_cache's `encode_calls`),
`cache-load` each time an entry of taskrun's tokenised-data cache is loaded, `precision-decided P`
when this process resolves --precision (to P), and `precision-used P` when it builds Trainer's
arguments with precision P. Unlike the progress
bars of `datasets` (which tqdm may draw more than once per pass, depending on timing), each event
is written exactly once per occurrence, in a file of its own rank.
"""

import os
import sys
from pathlib import Path

import datasets
import taskrun.runner
import taskrun.sequence_classification
import taskrun.training
from taskrun.cache import cache_root
from taskrun.cli import main

probe_dir, argv = Path(sys.argv[1]), sys.argv[2:]
log = probe_dir / f"rank{os.environ.get('RANK', '0')}.txt"


def record(event: str) -> None:
    with open(log, "a", encoding="utf-8") as f:
        f.write(event + "\n")


original_encode = taskrun.sequence_classification.encode
original_load = datasets.load_from_disk


def counting_encode(tokenizer, texts, pairs, max_length):
    record(f"encode {len(texts)}")
    return original_encode(tokenizer, texts, pairs, max_length)


def recording_load(path, *args, **kwargs):
    if Path(path).parent == cache_root() / "tokenized":
        record("cache-load")
    return original_load(path, *args, **kwargs)


original_resolve = taskrun.runner.resolve_precision
original_arguments = taskrun.training.training_arguments


def recording_resolve(choice):
    precision = original_resolve(choice)
    record(f"precision-decided {precision}")
    return precision


def recording_arguments(config, precision, *args, **kwargs):
    record(f"precision-used {precision}")
    return original_arguments(config, precision, *args, **kwargs)


taskrun.runner.resolve_precision = recording_resolve  # looked up at call time by the runner
taskrun.training.training_arguments = recording_arguments  # imported at call time by the runner
taskrun.sequence_classification.encode = counting_encode  # looked up at call time by the default preprocessing
datasets.load_from_disk = recording_load  # imported at call time by taskrun.cache
main(argv, prog_name="taskrun")
