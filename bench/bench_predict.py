"""`taskrun predict` against `transformers.pipeline("text-classification")`, same model, same texts.

Trains nothing: it needs a finished sentiment run (RUN_DIR). Takes the first N sentences of
GLUE SST-2's train.tsv, times the pipeline (batch size 1, its default, and batch size 32) and
`taskrun predict` (length-sorted batches of 32) in this process, checks that the labels are
identical, and prints a markdown table under a line that names the machine (CPU model, bf16
flags, GPU on cuda), torch version and threads. Each timing is the best of --repeats, the three
taking turns. All run on --device (cpu by default; cuda: the first GPU, taskrun in the run's
recorded precision).

    usage: python bench/bench_predict.py RUN_DIR [--sentences 2000] [--device cpu|cuda]
                                         [--data ../shared/data/glue/SST-2]
"""

import argparse
import csv
from pathlib import Path

from machine import DEVICES, best_of, check_device, describe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/glue/SST-2")
    parser.add_argument("--device", choices=DEVICES, default="cpu")
    options = parser.parse_args()
    check_device(options.device)

    from taskrun import inference
    from taskrun.manager import build_manager
    from transformers import pipeline

    with open(options.data / "train.tsv", encoding="utf-8-sig", newline="") as f:
        texts = [
            row[0] for row in list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1 : options.sentences + 1]
        ]
    classifier = pipeline("text-classification", model=str(options.run_dir), device=options.device)
    manager = build_manager(load_installed=False)
    run = inference.load_run(options.run_dir, options.device)
    precision = inference.compute_precision(run.precision, run.device)
    inputs = inference.inputs_from_texts(texts, pair=False, where="sentence")

    calls = {
        "pipeline, batch 1 (default)": lambda: [r["label"] for r in classifier(texts)],
        "pipeline, batch 32": lambda: [r["label"] for r in classifier(texts, batch_size=32)],
        f"taskrun predict, batch 32 ({precision})": lambda: [
            r["label"] for r in inference.predict(manager, run, inputs, 32, False).rows
        ],
    }
    rows = [
        (name, seconds, labels) for name, (seconds, labels) in best_of(options.repeats, calls, options.device).items()
    ]
    base = rows[0][1]
    print(describe(options.device))
    print(f"| {options.sentences} SST-2 sentences | seconds | sentences/s | vs pipeline batch 1 | labels equal |")
    print("| --- | --- | --- | --- | --- |")
    for name, seconds, labels in rows:
        print(
            f"| {name} | {seconds:.2f} | {len(texts) / seconds:.0f} | {base / seconds:.2f}x | {labels == rows[0][2]} |"
        )


if __name__ == "__main__":
    main()
