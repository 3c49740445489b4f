"""Run the taskrun CLI, and SIGKILL this very process at a chosen point of training.

    python killed_taskrun.py WHEN STEP taskrun-arguments...

WHEN is `step` (as training step STEP begins), `saved` (right after checkpoint-STEP's manifest
is written) or `writing` (half-way through writing checkpoint-STEP's optimizer.pt). A real
SIGKILL: no exception handler, no atexit, no flush runs, as when a machine is preempted.
WHEN `hang` does not kill: it waits at training step STEP, for the test to send a signal.
"""

import os
import signal
import sys
import time

import taskrun.checkpoints
import taskrun.training
import torch
from taskrun.cli import main

when, step, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]


def die():
    os.kill(os.getpid(), signal.SIGKILL)


if when in ("step", "hang"):
    original_step = taskrun.training.TaskrunTrainer.training_step

    def training_step(self, *args, **kwargs):
        if self.state.global_step + 1 == step:
            if when == "hang":
                print("taskrun-test: waiting", file=sys.stderr, flush=True)
                time.sleep(600)
            die()
        return original_step(self, *args, **kwargs)

    taskrun.training.TaskrunTrainer.training_step = training_step
elif when == "saved":
    original_manifest = taskrun.checkpoints.write_manifest

    def write_manifest(folder, identity, score):
        original_manifest(folder, identity, score)
        if identity["step"] == step:
            die()

    taskrun.training.write_manifest = write_manifest
elif when == "writing":
    original_save = torch.save

    def save(obj, f, *args, **kwargs):
        original_save(obj, f, *args, **kwargs)
        if isinstance(f, str) and f.endswith(os.path.join(f"checkpoint-{step}", "optimizer.pt")):
            with open(f, "r+b") as handle:
                handle.truncate(os.path.getsize(f) // 2)
            die()

    torch.save = save
else:
    sys.exit(f"unknown WHEN {when!r}")

main(argv, prog_name="taskrun")
