"""What the benchmarks ran on, printed above each table (figures from different machines differ by
2x and more: bf16 pays on a Zen 4 and loses on a Xeon without AMX, so a table without its machine
says little), and how they time on a shared machine. Shared by bench/*.py and
scripts/first_step.py; imports torch only when asked.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

DEVICES = ("cpu", "cuda")


def cpu_model() -> str:
    """The CPU's model name, from lscpu (else /proc/cpuinfo, else the platform module)."""
    try:
        listing = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        listing = ""
    for line in listing.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return _cpuinfo_field("model name") or platform.processor() or "unknown CPU"


def cpu_bf16_flags() -> list[str]:
    """The CPU's bf16 instruction flags (avx512_bf16, amx_bf16, ...): empty where it has none."""
    return sorted(flag for flag in (_cpuinfo_field("flags") or "").split() if "bf16" in flag)


def _cpuinfo_field(name: str) -> str | None:
    """The first value of `name` in /proc/cpuinfo (None where there is no such file or field)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def check_device(device: str) -> None:
    """Refuse --device cuda where torch sees no GPU, with a message instead of a traceback."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            f"--device cuda: torch {torch.__version__} sees no CUDA GPU here"
            f"{' (a CPU-only build)' if torch.version.cuda is None else ''}; use --device cpu."
        )


def describe(device: str) -> str:
    """One markdown line: the date, the machine (CPU model, cores, bf16 flags, GPU when used), torch and its
    threads."""
    import torch

    flags = ", ".join(cpu_bf16_flags()) or "none"
    parts = [
        f"CPU {cpu_model()} ({os.cpu_count()} cores; bf16 flags: {flags})",
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
    ]
    if device == "cuda":
        parts.insert(1, f"GPU {torch.cuda.get_device_name(0)}")
    return f"{time.strftime('%Y-%m-%d')}. Machine: " + "; ".join(parts) + "."


def best_of(repeats: int, calls: dict, device: str) -> dict:
    """Each call's fastest time of `repeats` and its last result. The calls take turns, round by
    round, so that a busy moment on a shared machine slows all of them alike."""
    import torch

    best, results = dict.fromkeys(calls, float("inf")), {}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            results[name] = call()
            if device == "cuda":
                torch.cuda.synchronize()  # the GPU's work done: no queued kernels left out of the time
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (best[name], results[name]) for name in calls}


def training_bench_options(doc: str, data: str) -> tuple[argparse.Namespace, dict[str, str], Path]:
    """The options every training bench takes (--quick, --data, default ../shared/data/DATA, and
    --device, checked), the environment its processes get (the GPU hidden from them on --device
    cpu: taskrun trains on a GPU whenever it sees one), and the data folder, resolved."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data" / data)
    parser.add_argument("--device", choices=DEVICES, default="cpu")
    options = parser.parse_args()
    check_device(options.device)
    env = dict(os.environ)
    if options.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return options, env, options.data.resolve()


def timed(
    argv: list[str], workdir: Path, env: dict[str, str], on_line: Callable[[str, float], None] | None = None
) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run argv under /usr/bin/time; return wall seconds, peak RSS in MiB (host memory), and the
    process. With `on_line`, its output (stdout and stderr together, unbuffered) is read as it
    comes and each line handed over with the seconds since launch; a progress bar's \r ends a line."""
    rss_file = workdir / "rss"
    command = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *argv]
    start = time.perf_counter()
    if on_line is None:
        done = subprocess.run(command, capture_output=True, text=True, env=env)
    else:
        lines = []
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, "PYTHONUNBUFFERED": "1"}
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                on_line(line, time.perf_counter() - start)
                lines.append(line)
        done = subprocess.CompletedProcess(command, process.returncode, "".join(lines), "".join(lines))
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(argv[:5])} ... failed:\n{done.stderr[-3000:]}")
    return wall, int(rss_file.read_text().split()[-1]) / 1024, done
