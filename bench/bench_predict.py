"""`taskrun predict` against `transformers.pipeline("text-classification")`, same model, same texts.

Trains nothing: it needs a finished sentiment run (RUN_DIR). Takes the first N sentences of
GLUE SST-2's train.tsv, times the pipeline (batch size 1, its default, and batch size 32) and
`taskrun predict` (length-sorted batches of 32) in this process, checks that the labels are
identical, and prints a markdown table. Each timing is the best of --repeats.

    usage: python bench/bench_predict.py RUN_DIR [--sentences 2000] [--data ../shared/data/glue/SST-2]
"""

import argparse
import csv
import time
from pathlib import Path


def best_of(repeats, function):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/glue/SST-2")
    options = parser.parse_args()

    from taskrun import inference
    from taskrun.manager import build_manager
    from transformers import pipeline

    with open(options.data / "train.tsv", encoding="utf-8-sig", newline="") as f:
        texts = [
            row[0] for row in list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1 : options.sentences + 1]
        ]
    classifier = pipeline("text-classification", model=str(options.run_dir), device="cpu")
    manager = build_manager(load_installed=False)
    run = inference.load_run(options.run_dir)
    inputs = inference.inputs_from_texts(texts, pair=False, where="sentence")

    rows = []
    for name, call in (
        ("pipeline, batch 1 (default)", lambda: [r["label"] for r in classifier(texts)]),
        ("pipeline, batch 32", lambda: [r["label"] for r in classifier(texts, batch_size=32)]),
        (
            "taskrun predict, batch 32",
            lambda: [r["label"] for r in inference.predict(manager, run, inputs, 32, False).rows],
        ),
    ):
        seconds, labels = best_of(options.repeats, call)
        rows.append((name, seconds, labels))
    base = rows[0][1]
    print(f"| {options.sentences} SST-2 sentences | seconds | sentences/s | vs pipeline batch 1 | labels equal |")
    print("| --- | --- | --- | --- | --- |")
    for name, seconds, labels in rows:
        print(
            f"| {name} | {seconds:.2f} | {len(texts) / seconds:.0f} | {base / seconds:.2f}x | {labels == rows[0][2]} |"
        )


if __name__ == "__main__":
    main()
