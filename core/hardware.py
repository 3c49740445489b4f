"""Which numeric precision a run trains in: bf16 autocast where the hardware has fast bf16."""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_CPU_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AVX-512 BF16 or AMX (read from /proc/cpuinfo; False where it is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_CPU_BF16_FLAGS & set(line.split(":", 1)[1].split()))
    return False


def resolve_precision(choice: str) -> str:
    """`auto`: bf16 on GPUs that support it and on CPUs with fast bf16, fp16 on older GPUs,
    else fp32. An explicit choice the hardware cannot do is an error."""
    import torch

    cuda = torch.cuda.is_available()
    if choice == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if choice == "fp16" and not cuda:
        raise UsageError("--precision fp16 needs a CUDA GPU; on the CPU use bf16 or fp32.")
    return choice
