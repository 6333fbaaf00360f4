"""`digitcli evaluate`: score a trained model on a data split and print the results.

Rich tables on a terminal, plain aligned text when piped, one JSON document with --json. The work
is done by `digitcli.evaluation`; this module only parses options and renders.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from digitcli.cli._common import (
    RunConfigOption,
    RunSetOption,
    handle_errors,
    info,
    pick_model,
    run_model_option,
    stdout_console,
    stdout_is_terminal,
)
from digitcli.vocabulary import InferenceEngine, SplitName

if TYPE_CHECKING:
    from digitcli.evaluation import Evaluation

ALL_IMAGES = "all"  # evaluation.ALL_IMAGES, without importing NumPy at start-up


EVALUATE_HELP = """Score a trained model: accuracy, loss, errors, per-digit scores, confusion matrix.

RUN (or --model) is a run directory, a results folder (its latest run), a model file (.keras /
.npz) beside a run's config.yaml, or builtin (the model bundled with digitcli); by default the
latest run under ./results. The data is rebuilt from the run's saved config, so the default is the
run's own test split; --config / --set change it. --data scores your own labelled pictures instead:
a folder with subfolders 0-9 (every picture read as predict reads it) or a Keras-layout .npz
(x_train and x_test together), every image, no split.

Examples:

  digitcli evaluate                                   # latest run, its test split

  digitcli evaluate results/<run> --split validation

  digitcli evaluate --json | python -m json.tool

  digitcli evaluate --min-accuracy 0.95               # exit code 4 when below (CI gate)

  digitcli evaluate --set data.source=mnist --set data.path=mnist.npz   # another dataset

  digitcli evaluate --model builtin --data my-digits/    # your pictures, in subfolders 0-9

A model file is evaluated with its own engine: model.keras with TensorFlow, weights.npz with \
NumPy; a run directory with NumPy (TensorFlow when it has no weights.npz).

The run's own record, <run>/evaluation.json, is written only by an evaluation of its test split \
on the data it was trained with, without --json; other data or splits never overwrite it. \
--output FILE saves the JSON anywhere (a folder, or a name ending in /, gets evaluation.json \
inside; - prints it on stdout instead of the tables).
"""


def _ratio(value: float) -> str:
    return f"{value:.4f}"


def _summary_rows(evaluation: Evaluation) -> list[tuple[str, str]]:
    scores = evaluation.scores
    same = {True: "same as training", False: "differs from training", None: "training data unknown"}
    part = (
        f"every image of {evaluation.data_path}"
        if evaluation.split == ALL_IMAGES
        else f"{evaluation.split} split"
    )
    return [
        ("model", evaluation.model_name),
        ("run", evaluation.run),
        (
            "data",
            f"{evaluation.source} {part}, {scores.n_images} images "
            f"(fingerprint {evaluation.fingerprint}, {same[evaluation.matches_run]})",
        ),
        ("engine", evaluation.engine),
        ("accuracy", _ratio(scores.accuracy)),
        ("loss", _ratio(scores.loss)),
        ("errors", f"{scores.errors} errors out of {scores.n_images} images"),
        *_calibration_rows(evaluation),
    ]


def _calibration_rows(evaluation: Evaluation) -> list[tuple[str, str]]:
    calibration = evaluation.calibration
    if calibration is None:
        return []
    if not calibration.fitted:
        return [
            (
                "calibration",
                f"none (the run predates calibration); expected calibration error "
                f"{_ratio(calibration.ece_before)}",
            )
        ]
    return [
        (
            "calibration",
            f"temperature {calibration.temperature:.3f}; expected calibration error "
            f"{_ratio(calibration.ece_before)} before, {_ratio(calibration.ece_after)} after",
        )
    ]


def render_plain(evaluation: Evaluation) -> str:
    """Aligned, colourless text: greppable and stable for scripts."""
    scores = evaluation.scores
    lines = [f"{key}: {value}" for key, value in _summary_rows(evaluation)]
    lines += ["", f"{'digit':<6} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for entry in scores.per_class:
        lines.append(
            f"{entry.digit:<6} {entry.precision:>9.4f} {entry.recall:>9.4f} {entry.f1:>9.4f} "
            f"{entry.support:>8}"
        )
    macro = scores.macro_avg
    lines.append(
        f"{'macro':<6} {macro['precision']:>9.4f} {macro['recall']:>9.4f} {macro['f1']:>9.4f} "
        f"{int(macro['support']):>8}"
    )
    width = max(5, *(len(str(count)) for row in scores.confusion_matrix for count in row))
    lines += [
        "",
        "confusion matrix (rows: true digit, columns: predicted digit)",
        "true\\pred " + " ".join(f"{digit:>{width}}" for digit in range(len(scores.per_class))),
    ]
    for digit, row in enumerate(scores.confusion_matrix):
        lines.append(f"{digit:<9} " + " ".join(f"{count:>{width}}" for count in row))
    return "\n".join(lines)


def render_rich(evaluation: Evaluation) -> None:
    """Three tables on the terminal: summary, per-digit scores, confusion matrix."""
    from rich.table import Table

    console = stdout_console()
    # Styles only with colour on, so NO_COLOR leaves nothing but text and box lines.
    styled = console.color_system is not None and not console.no_color
    scores = evaluation.scores

    summary = Table(title="Evaluation", show_header=False, title_style="bold" if styled else "")
    summary.add_column("what", style="bold" if styled else "")
    summary.add_column("value")
    for key, value in _summary_rows(evaluation):
        summary.add_row(key, value)
    console.print(summary)

    header = "bold" if styled else ""
    per_class = Table(title="Per digit", header_style=header, title_style=header)
    for column in ("digit", "precision", "recall", "f1", "support"):
        per_class.add_column(column, justify="right")
    for entry in scores.per_class:
        per_class.add_row(
            str(entry.digit),
            _ratio(entry.precision),
            _ratio(entry.recall),
            _ratio(entry.f1),
            str(entry.support),
        )
    macro = scores.macro_avg
    per_class.add_section()
    per_class.add_row(
        "macro",
        _ratio(macro["precision"]),
        _ratio(macro["recall"]),
        _ratio(macro["f1"]),
        str(int(macro["support"])),
    )
    console.print(per_class)

    matrix = Table(
        title="Confusion matrix (rows: true digit, columns: predicted)",
        header_style=header,
        title_style=header,
    )
    matrix.add_column("true", justify="right", style=header)
    width = max(len(str(count)) for row in scores.confusion_matrix for count in row)
    for digit in range(len(scores.confusion_matrix)):
        matrix.add_column(str(digit), justify="right", min_width=width)
    for true, row in enumerate(scores.confusion_matrix):
        cells = []
        for predicted, count in enumerate(row):
            text = str(count)
            if styled and count:
                text = f"[green]{text}[/]" if predicted == true else f"[red]{text}[/]"
            elif styled:
                text = f"[dim]{text}[/]"
            cells.append(text)
        matrix.add_row(str(true), *cells)
    console.print(matrix)


@handle_errors
def evaluate_command(
    run: Annotated[
        Path | None,
        typer.Argument(
            metavar="RUN",
            help="Run directory, results folder or model file (default: latest run in ./results).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[Path | None, run_model_option("evaluate")] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            metavar="PATH",
            help="Score every image of a labelled folder (subfolders 0-9) or Keras-layout .npz "
            "instead of the run's data.",
            show_default=False,
        ),
    ] = None,
    config: RunConfigOption = None,
    overrides: RunSetOption = None,
    split: Annotated[
        SplitName, typer.Option("--split", help="Which split of the data to score.")
    ] = SplitName.test,
    engine: Annotated[
        InferenceEngine | None,
        typer.Option(
            "--engine",
            help="numpy: fast forward pass; tf: the Keras model (default: the model file's own; "
            "numpy for a run with weights.npz).",
            show_default=False,
        ),
    ] = None,
    min_accuracy: Annotated[
        float | None,
        typer.Option(
            "--min-accuracy",
            metavar="X",
            min=0.0,
            max=1.0,
            help="Exit with code 4 when accuracy is below X (0-1); results are still printed.",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Save the JSON here: a file, a folder (or a name ending in /) for evaluation.json, "
            "or - for stdout (default: the run's own record, see above).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")
    ] = False,
) -> None:
    from digitcli.evaluation import check_min_accuracy, evaluate_run, save_evaluation
    from digitcli.output_files import STDOUT

    evaluation = evaluate_run(
        pick_model(run, model),
        config_file=config,
        overrides=list(overrides or []),
        split=split,
        engine=engine,
        data=data,
    )
    info(f"model: {evaluation.model_name}")
    for warning in evaluation.warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    to_stdout = output == STDOUT  # the JSON document is the output: no tables beside it
    if as_json and not to_stdout:
        print(json.dumps(evaluation.to_dict(), indent=2))
    elif to_stdout:
        pass
    elif stdout_is_terminal():
        render_rich(evaluation)
    else:
        print(render_plain(evaluation))
    sys.stdout.flush()
    saved = save_evaluation(evaluation, output, printed_json=as_json)
    if saved is None:
        where = "not saved (--output FILE saves it)"
    elif str(saved) == STDOUT:
        where = "printed on stdout"
    else:
        where = f"saved {saved}"
    info(
        f"evaluated {evaluation.scores.n_images} images in {evaluation.seconds:.3f} s "
        f"(data loaded in {evaluation.data_seconds:.2f} s); {where}"
    )
    if evaluation.matches_run is False and not evaluation.warnings:
        info(f"note: evaluated on other data than the run was trained on ({evaluation.source})")
    check_min_accuracy(evaluation, min_accuracy)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the app."""
    app.command("evaluate", help=EVALUATE_HELP)(evaluate_command)
