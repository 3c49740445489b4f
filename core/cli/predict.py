"""`taskrun predict RUN_DIR`: a finished run's answers for new texts."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError
from ..options import predict_params
from .common import handle_errors, manager_of, table


@click.command("predict", params=predict_params())
@click.pass_context
@handle_errors
def predict_command(
    ctx,
    run_dir,
    texts,
    input_file,
    output,
    text_column,
    text_pair_column,
    all_scores,
    batch_size,
    precision,
    fmt,
    encoding,
) -> None:
    """Label texts with a finished run's model.

    Texts come as arguments, from --input, or one per line on standard input. A pair model
    (mrpc, say) takes the two texts separated by a tab, or two columns of --input.
    """
    from .. import inference

    if texts and input_file:
        raise UsageError("give texts as arguments or --input, not both.")
    if output:
        inference.check_output_path(output)  # before any model is loaded
    if not texts and not input_file and sys.stdin.isatty():
        raise UsageError("no texts: give them as arguments, with --input FILE, or on standard input.")
    manager = manager_of(ctx)
    run = inference.load_run(run_dir, manager=manager)
    if input_file:
        options = {
            "text_column": text_column,
            "text_pair_column": text_pair_column,
            "format": fmt,
            "encoding": encoding,
        }
        inputs = run.family.predict_file(input_file, run, options)
    elif texts:
        inputs = run.family.predict_texts(list(texts), run, "argument")
    else:
        try:
            inputs = run.family.predict_texts(list(sys.stdin), run, "line")
        except UnicodeDecodeError as exc:
            raise UsageError(f"standard input is not valid {sys.stdin.encoding}: {exc.reason}") from exc
    if not inputs.rows:
        if input_file:
            raise UsageError(f"{input_file}: no rows to label.")
        raise UsageError(f"no texts to label: the {'arguments' if texts else 'standard input'} held none.")
    chosen = None if precision == "run" else precision
    outcome = inference.predict(manager, run, inputs, batch_size, all_scores, chosen)
    if outcome.empty:
        shown = ", ".join(outcome.empty[:5]) + (" ..." if len(outcome.empty) > 5 else "")
        click.echo(f"taskrun: {len(outcome.empty)} empty text(s) left without an answer: {shown}", err=True)
    if outcome.truncated:
        click.echo(f"taskrun: {outcome.truncated} text(s) longer than {run.max_length} tokens were truncated", err=True)
    if output:
        suffix = output.suffix.lower()
        written = run.family.output_rows(outcome.rows, suffix)
        inference.write_rows(written, output, run.family.output_columns(suffix))
        click.echo(f"taskrun: {len(outcome.rows)} prediction(s) written to {output}", err=True)
    else:
        header, cells = run.family.table(outcome.answers, [_short(text) for text in outcome.texts])
        table(header, cells)


def _short(text: str, width: int = 60) -> str:
    """A text cut to fit a table's column."""
    return text if len(text) <= width else text[: width - 1] + "…"
