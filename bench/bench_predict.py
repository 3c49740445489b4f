"""`taskrun predict` against `transformers.pipeline("text-classification")`, same model, same texts.

Trains nothing: it needs a finished sentiment run (RUN_DIR). Takes the first N sentences of
GLUE SST-2's train.tsv, times the pipeline (batch size 1, its default, and batch size 32) and
`taskrun predict` (length-sorted batches of 32) in this process, checks that the labels are
identical, and prints a markdown table under a line that names the machine (CPU model, bf16
flags, GPU on cuda), torch version and threads. Each timing is the best of --repeats, the three
taking turns. All run on --device (cpu by default; cuda: the first GPU, taskrun in the run's
recorded precision).

With --onnx (needs `pip install "taskrun[onnx]"`), the run is also exported (`taskrun export`,
fp32 and --quantize int8: each checked for parity on its validation split, which needs the run's
data) and `taskrun predict` on each export is timed beside the others on the CPU, with the share
of its labels that equal the run's. Target: int8 at least 2x `taskrun predict` in PyTorch.

    usage: python bench/bench_predict.py RUN_DIR [--sentences 2000] [--device cpu|cuda] [--onnx]
                                         [--data ../shared/data/glue/SST-2]
"""

import argparse
import csv
import tempfile
import time
from pathlib import Path

from machine import DEVICES, best_of, check_device, describe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/glue/SST-2")
    parser.add_argument("--device", choices=DEVICES, default="cpu")
    parser.add_argument("--onnx", action="store_true", help="also export the run (fp32, int8) and time predict on each")
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
    run = inference.load_run(options.run_dir, options.device, manager)
    precision = inference.compute_precision(run.precision, run.device)
    inputs = run.family.predict_texts(texts, run, "sentence")

    def predicted(loaded):
        return lambda: [r["label"] for r in inference.predict(manager, loaded, inputs, 32, False).rows]

    calls = {
        "pipeline, batch 1 (default)": lambda: [r["label"] for r in classifier(texts)],
        "pipeline, batch 32": lambda: [r["label"] for r in classifier(texts, batch_size=32)],
        f"taskrun predict, batch 32 ({precision})": predicted(run),
    }
    exports = {}
    with tempfile.TemporaryDirectory() as tmp:
        if options.onnx:
            from taskrun import onnx_export
            from taskrun.errors import ParityError

            for weights in ("fp32", "int8"):
                started = time.perf_counter()
                folder = Path(tmp) / weights
                quantize = None if weights == "fp32" else "int8"
                try:
                    record = onnx_export.export_run(manager, options.run_dir, folder, quantize=quantize).record
                except ParityError as refused:  # timed all the same, and said so
                    print(f"export {weights} refused: {refused.message}\n(timed anyway, without its bar)")
                    onnx_export.INT8_AGREEMENT, onnx_export.INT8_METRIC_MOVE = 0.0, 1.0
                    record = onnx_export.export_run(manager, options.run_dir, folder, quantize=quantize).record
                exports[weights] = (time.perf_counter() - started, record["parity"])
                calls[f"taskrun predict on the ONNX export ({weights}), batch 32"] = predicted(
                    inference.load_run(folder, manager=manager)
                )
        rows = [
            (name, seconds, labels)
            for name, (seconds, labels) in best_of(options.repeats, calls, options.device).items()
        ]
    base = rows[0][1]
    reference = next(row for row in rows if row[0].startswith("taskrun predict, batch 32"))
    print(describe(options.device))
    print(
        f"| {options.sentences} SST-2 sentences | seconds | sentences/s | vs pipeline batch 1 | "
        "vs taskrun predict | labels equal to the run's |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, seconds, labels in rows:
        agree = sum(a == b for a, b in zip(labels, reference[2])) / len(labels)
        print(
            f"| {name} | {seconds:.2f} | {len(texts) / seconds:.0f} | {base / seconds:.2f}x | "
            f"{reference[1] / seconds:.2f}x | {agree:.2%} |"
        )
    for weights, (seconds, parity) in exports.items():
        print(
            f"export {weights}: {seconds:.0f} s; parity on {parity['examples']} validation examples: labels agree "
            f"{parity['label_agreement']:.2%}, largest score difference {parity['largest_score_difference']:.2g}, "
            f"{parity['metric']} {parity['pytorch']:.4f} -> {parity['onnx']:.4f}"
        )


if __name__ == "__main__":
    main()
