"""`taskrun export RUN_DIR --format onnx --output DIR`: a finished run's model for ONNX Runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..options import export_params
from .common import handle_errors, manager_of


@click.command("export", params=export_params())
@click.pass_context
@handle_errors
def export_command(
    ctx: click.Context,
    run_dir: Path,
    fmt: str,
    output: Path,
    quantize: str | None,
    data_dir: Path | None,
    max_eval_samples: int | None,
    overwrite: bool,
) -> None:
    """Export a finished run's model to ONNX, checked against the run on its validation split.

    `taskrun predict` and `taskrun eval` take the exported folder as they take the run. Needs
    the onnx extra: pip install "taskrun[onnx]".
    """
    from ..onnx_export import export_run

    options: dict[str, Any] = {"data_dir": data_dir} if data_dir is not None else {}
    if max_eval_samples is not None:
        options["max_eval_samples"] = max_eval_samples
    result = export_run(manager_of(ctx), run_dir, output, fmt, quantize, options, overwrite)
    parity = result.record["parity"]
    click.echo(f"taskrun: {run_dir} exported to {output} ({fmt}, {result.record['weights']} weights)")
    shown = (
        f"{parity['metric']} {parity['pytorch']:.4f} -> {parity['onnx']:.4f}" if parity["pytorch"] is not None else ""
    )
    click.echo(
        f"  parity   {parity['examples']:,} validation examples: labels agree {parity['label_agreement']:.2%}, "
        f"largest score difference {parity['largest_score_difference']:.2g}, {shown}"
    )
