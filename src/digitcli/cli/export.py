"""`digitcli export`: convert a run's Keras model to SavedModel, TFLite or ONNX, verified."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from digitcli.cli._common import (
    handle_errors,
    info,
    pick_model,
    run_model_option,
    stderr_is_terminal,
)
from digitcli.vocabulary import ExportFormat

# Rich renders help text: a paragraph is one line (hence the trailing backslashes) and "[" starts
# markup unless escaped.
EXPORT_HELP = """Export a trained model for serving, checked against the Keras model.

The export is loaded back with its own runtime (TensorFlow, the LiteRT/TFLite interpreter, \
onnxruntime) and run on 100 digits: it is kept only if every logit matches the Keras model's to \
1e-4. stdout gets the export's path (or JSON with --json); the check's result goes to stderr.

Examples:

  digitcli export                           # the latest run, as a SavedModel

  digitcli export results/<run> -f tflite   # <run>/export/model.tflite

  digitcli export --format onnx --output digits.onnx

  digitcli export -f tflite -o - > model.tflite   # the file itself on stdout

TFLite and ONNX need the optional converters: pip install 'digitcli\\[export]'
"""


@handle_errors
def export_command(
    run: Annotated[
        Path | None,
        typer.Argument(
            metavar="RUN",
            help="Run directory, results folder (its latest run), .keras file or builtin (the "
            "bundled model; written to ./builtin-real-pictures/export/) (default: latest run).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[Path | None, run_model_option("export")] = None,
    export_format: Annotated[
        ExportFormat,
        typer.Option("--format", "-f", help="savedmodel (a folder), tflite or onnx (one file)."),
    ] = ExportFormat.savedmodel,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Where to write (default: <run>/export/savedmodel/ or <run>/export/model.<ext>); "
            "- writes a tflite or onnx file to stdout.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print path, format and check results as JSON on stdout.")
    ] = False,
) -> None:
    from digitcli.errors import UsageError
    from digitcli.export import export_model
    from digitcli.output_files import STDOUT

    to_stdout = output is not None and str(output) == STDOUT
    if to_stdout and as_json:
        raise UsageError("--output - writes the model to stdout; drop --json (or give a file)")
    if stderr_is_terminal():  # a hint while TensorFlow loads; logs keep errors to one line
        info(f"exporting as {export_format.value} ...")
    result = export_model(pick_model(run, model), export_format, output)
    info(f"model: {result.model}")
    info(
        f"verified with {result.runtime} on {result.n_checked} images: "
        f"max abs diff {result.max_abs_diff:.2e} ({result.seconds:.1f} s)"
    )
    if as_json:
        document = {
            "path": str(result.path),
            "model": result.model,
            "format": result.format.value,
            "max_abs_diff": result.max_abs_diff,
            "n_checked": result.n_checked,
            "runtime": result.runtime,
            "seconds": round(result.seconds, 3),
        }
        print(json.dumps(document, indent=2))
    elif not to_stdout:  # with -o -, stdout holds the model itself
        print(result.path)


def register(app: typer.Typer) -> None:
    app.command("export", help=EXPORT_HELP)(export_command)
