"""`taskrun eval` against `Trainer.evaluate`, same model, same split, same batch size.

Trains nothing: it needs a finished run (RUN_DIR) of a task whose data is at hand (--data-dir).
Times, in this process, taskrun's evaluation (`taskrun.inference.evaluate_run`: load and check
the split, tokenise, length-sorted batches in fp32, metrics) and what a Trainer user writes for
the same: the split loaded by the same plugin, tokenised, then `Trainer.evaluate` with
`DataCollatorWithPadding` (batches in the split's order), at the run's evaluation batch size and
in its precision. Each timing is the best of --repeats, the two taking turns; the table gives
both losses and accuracies, which agree.

    usage: python bench/bench_eval.py RUN_DIR [--task sentiment] [--data-dir ../shared/data/glue/SST-2]
                                      [--split validation] [--device cpu|cuda]
"""

import argparse
import tempfile
from pathlib import Path

from machine import DEVICES, best_of, check_device, describe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/glue/SST-2")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", choices=DEVICES, default="cpu")
    options = parser.parse_args()
    check_device(options.device)

    import dataclasses

    import numpy as np
    from taskrun import inference
    from taskrun.manager import build_manager
    from taskrun.tokenization import encode
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    manager = build_manager(load_installed=False)
    run = inference.load_run(options.run_dir, options.device)
    precision = inference.compute_precision(run.precision, run.device)
    task = manager.task(options.task)
    config = dataclasses.replace(run.config(), task=task.name, max_train_samples=None, data_dir=options.data_dir)

    def taskrun_eval() -> dict:
        metrics = inference.evaluate_run(manager, run, task.name, options.split, {"data_dir": options.data_dir})
        return {"loss": metrics["loss"], "accuracy": metrics.get("accuracy"), "samples": metrics["samples"]}

    def trainer_evaluate(out: str) -> dict:
        data = manager.call("taskrun_load_dataset", task, config=config)[options.split]
        columns = [c for c in task.text_columns if c in data.column_names]
        texts, pairs = list(data[columns[0]]), list(data[columns[1]]) if len(columns) == 2 else None
        encoded, _ = encode(run.tokenizer, texts, pairs, run.max_length)
        dataset = data.select_columns([task.label_column]).rename_column(task.label_column, "labels")
        for key, values in encoded.items():
            dataset = dataset.add_column(key, values)
        args = TrainingArguments(
            out,
            per_device_eval_batch_size=run.eval_batch_size,
            bf16=precision == "bf16",
            fp16=precision == "fp16",
            use_cpu=options.device == "cpu",
            report_to="none",
            disable_tqdm=True,  # and its printed metrics
        )
        trainer = Trainer(
            model=run.model,
            args=args,
            data_collator=DataCollatorWithPadding(run.tokenizer),
            compute_metrics=lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())},
        )
        metrics = trainer.evaluate(dataset)
        return {"loss": metrics["eval_loss"], "accuracy": metrics["eval_accuracy"], "samples": len(dataset)}

    with tempfile.TemporaryDirectory() as out:
        calls = {
            f"taskrun eval ({precision}, {'length-sorted' if precision == 'fp32' else 'in order'})": taskrun_eval,
            f"Trainer.evaluate ({precision}, in order)": lambda: trainer_evaluate(out),
        }
        timed = best_of(options.repeats, calls, options.device)
    base, first = next(iter(timed.values()))
    samples = first["samples"]
    print(describe(options.device))
    print(
        f"| {options.task} {options.split}, {samples} rows, batch {run.eval_batch_size} | seconds | loss | accuracy | time vs taskrun |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, (seconds, r) in timed.items():
        print(f"| {name} | {seconds:.2f} | {r['loss']:.5f} | {r['accuracy']:.4f} | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
