"""Which numeric precision a run trains in: bf16 autocast where the hardware has fast bf16.

On GPUs the answer follows from the device. On CPUs a bf16 flag is not enough: some CPUs that
advertise AVX-512 BF16 (without AMX) run bf16 matrix products slower than fp32 (seen on a 2-core
Xeon: 156 against 202 GFLOP/s), where others run them 1.5 times faster (a Zen 4 EPYC). So `auto`
times one BERT-sized matrix product in both precisions and takes bf16 only where it pays.
"""

from __future__ import annotations

import time
from pathlib import Path

from .errors import UsageError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_CPU_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AVX-512 BF16 or AMX instructions (from /proc/cpuinfo; False elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_CPU_BF16_FLAGS & set(line.split(":", 1)[1].split()))
    return False


BF16_MIN_SPEEDUP = 1.2


def bf16_matmul_speedup(rounds: int = 20) -> float:
    """fp32 time / bf16 time of a (1024 x 384) @ (384 x 1536) product, a small BERT's
    feed-forward layer. Best of `rounds`, the two precisions taking turns, so that a noisy
    moment on a shared machine slows both alike (about 0.2 s in all)."""
    import torch

    pairs = {
        dtype: (torch.randn(1024, 384, dtype=dtype), torch.randn(384, 1536, dtype=dtype))
        for dtype in (torch.float32, torch.bfloat16)
    }
    best = dict.fromkeys(pairs, float("inf"))
    for _ in range(rounds + 1):  # the first round is a warm-up (kernel selection), and counts only if best
        for dtype, (a, b) in pairs.items():
            start = time.perf_counter()
            a @ b
            best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[torch.float32] / best[torch.bfloat16]


def cpu_bf16_pays() -> bool:
    """True where this CPU has bf16 instructions and they beat fp32 by BF16_MIN_SPEEDUP."""
    return cpu_has_fast_bf16() and bf16_matmul_speedup() >= BF16_MIN_SPEEDUP


def resolve_precision(choice: str) -> str:
    """`auto`: bf16 on GPUs that support it and on CPUs where it measurably pays, fp16 on older
    GPUs, else fp32. An explicit choice the hardware cannot do is an error."""
    import torch

    cuda = torch.cuda.is_available()
    if choice == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_bf16_pays() else "fp32"
    if choice == "fp16" and not cuda:
        raise UsageError("--precision fp16 needs a CUDA GPU; on the CPU use bf16 or fp32.")
    if choice == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise UsageError("--precision bf16: this GPU does not support bf16; use fp16 or fp32.")
    return choice
