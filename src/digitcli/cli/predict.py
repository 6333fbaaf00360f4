"""`digitcli predict`: parse options, then stream `digitcli.predict`'s records to stdout.

On a terminal the records form a Rich table; piped, or with --format, each input is one line (or one
CSV row, or one JSON object) and nothing else goes to stdout. Failed inputs are also reported on
stderr as `error: <path>: <message>`. The heavy modules (NumPy, Pillow, SciPy) are imported only
when the command runs, so `digitcli --help` stays fast; TensorFlow only with --engine tf.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from digitcli import signals
from digitcli.cli._common import (
    color_enabled,
    handle_errors,
    info,
    min_confidence_option,
    model_option,
    stdout_is_terminal,
)
from digitcli.errors import ExitCode
from digitcli.predict_writers import WRITERS
from digitcli.vocabulary import (
    DEFAULT_MIN_CONFIDENCE,
    MAX_IMAGE_PIXELS,
    InferenceEngine,
    Invert,
    PixelOrder,
    PredictFormat,
)

if TYPE_CHECKING:
    from digitcli.predict import PredictionRecord


PREDICT_HELP = (
    "Predict the digit in images, folders of images, or .npy arrays.\n\n"
    "INPUT is an image file (PNG, JPEG, BMP, GIF, TIFF, WebP, AVIF; HEIC with the heif extra; "
    "the first frame of an animated or multi-page file, with a warning), a folder (its image "
    "files; with --recursive also those in subfolders; SVG files are reported as unsupported), "
    "a .npy array (N x 400 rows in the lab's layout, or N x H x W images: one record per image, "
    "named file.npy\\[i]), or - to read paths from stdin, one per line (or NUL-separated, as "
    "find -print0 writes them).\n\n"
    "Examples:\n\n"
    "  digitcli predict photo.jpg\n\n"
    "  digitcli predict scans/ --recursive --format csv > predictions.csv\n\n"
    "  find imgs -name '*.png' | digitcli predict - --format jsonl\n\n"
    "  digitcli predict X.npy --model results/<run> --debug-dir seen/\n\n"
    "On a terminal the results are a table; piped (or with --format) stdout gets one record per "
    "input and nothing else. Formats: "
    + "; ".join(f"{fmt.value}: {entry.description}" for fmt, entry in WRITERS.items())
    + ".\n\n"
    "An input that cannot be read, or holds no digit (blank, a speck, a photo of a scene), does not "
    'stop the others: it is reported on stderr as "error: <path>: <message>" and in its record '
    "(digit empty, error set; status no_digit or error).\n\n"
    "Confidence is calibrated (the run's temperature): an answer below --min-confidence is marked "
    "unsure (status unsure, 'unsure' in the table), its runners-up in top3.\n\n"
    "Exit codes: 0 every input predicted; 3 some inputs failed, the others were predicted; "
    "1 every input failed, or the model cannot be loaded; 2 bad command line; 5 with "
    "--fail-on-unsure: every input was read but some answers are unsure or found no digit."
)


@handle_errors
def predict_command(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="INPUT...",
            help="Image files, folders, .npy arrays, or - to read paths from stdin.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        Path | None,
        model_option(
            "A run directory, a results folder (its latest run), a .npz/.keras model file, or "
            "builtin (the model bundled with digitcli). \\[default: the latest run under "
            "./results; the bundled model when there is none]"
        ),
    ] = None,
    engine: Annotated[
        InferenceEngine,
        typer.Option(
            "--engine",
            help="numpy: fast start, runs weights.npz; tf: the saved Keras model (imports "
            "TensorFlow, ~5 s). Both give the same probabilities.",
        ),
    ] = InferenceEngine.numpy,
    invert: Annotated[
        Invert | None,
        typer.Option(
            "--invert",
            help="Polarity: yes for dark ink on light paper, no for light strokes on dark, auto to "
            "guess from the border. \\[default: auto for image files, no for .npy arrays]",
            show_default=False,
        ),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Also read images in subfolders of folders.")
    ] = False,
    pixel_order: Annotated[
        PixelOrder,
        typer.Option(
            "--pixel-order", help="Layout of each 400-value row in an N x 400 .npy array."
        ),
    ] = PixelOrder.column_major,
    output_format: Annotated[
        PredictFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format. \\[default: table on a terminal, plain when piped]",
            show_default=False,
        ),
    ] = None,
    debug_dir: Annotated[
        Path | None,
        typer.Option(
            "--debug-dir",
            metavar="DIR",
            help="Write the 20x20 image the model saw for each input, enlarged 10x, as a PNG "
            "named after the input.",
        ),
    ] = None,
    min_confidence: Annotated[
        float | None,
        min_confidence_option(
            "Mark answers whose (calibrated) confidence is below P (0-1) as unsure; 0: never. "
            "Default: the run's own, chosen on its validation split (calibration.json; "
            f"{DEFAULT_MIN_CONFIDENCE:g} for runs that have none; docs/accuracy.md)."
        ),
    ] = None,
    single: Annotated[
        bool,
        typer.Option(
            "--single",
            help="Every picture should hold one digit: one that holds several is answered with "
            "its largest digit and marked unsure, the number in the reason. Without it, a "
            "picture of a number is read as that number (digit empty, number set).",
        ),
    ] = False,
    fail_on_unsure: Annotated[
        bool,
        typer.Option(
            "--fail-on-unsure",
            help="For CI: exit with code 5 when any answer is unsure or a picture holds no digit "
            "(every record is still printed; unreadable inputs keep codes 3 and 1).",
        ),
    ] = False,
    max_pixels: Annotated[
        int,
        typer.Option(
            "--max-pixels",
            metavar="N",
            min=1,
            help="Refuse pictures larger than N pixels (width x height) before decoding them; "
            "decoding takes about 8 bytes per pixel.",
        ),
    ] = MAX_IMAGE_PIXELS,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=0,
            help="Worker processes for reading images; 0: one per CPU when there are more than "
            "2,000 inputs, 1: none.",
        ),
    ] = 0,
) -> None:
    if "numpy" not in sys.modules:  # a fresh process (not a test run or a library caller)
        # NumPy's BLAS thread pool only costs start-up time here (the matrices are tiny; big
        # batches run in worker processes instead): ~0.06 s of a 0.5 s one-image run.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from digitcli.errors import ImageError, PartialFailureError, UnsureError, UsageError
    from digitcli.predict import (
        POOL_MIN_INPUTS,
        collect_inputs,
        load_classifier,
        predict_chunks,
        several_frames,
    )
    from digitcli.runs import resolve_model

    if not inputs:
        raise UsageError(
            "no inputs: give image files, folders, .npy arrays, or - to read paths from stdin"
        )
    items = collect_inputs(inputs, recursive=recursive, stdin=sys.stdin)
    if not items:
        raise UsageError("no inputs: standard input held no paths")
    for name, count in several_frames(items):
        info(f"warning: {name}: holds {count} frames or pages; only the first is read")
    model_files = resolve_model(model, builtin_fallback=True)
    info(f"model: {model_files.label}")
    classifier = load_classifier(model_files, engine)
    if classifier.note:
        info(classifier.note)
    if min_confidence is None:
        min_confidence = classifier.min_confidence
    fmt = output_format
    if fmt is None:
        fmt = (
            PredictFormat.table
            if _stdout_may_be_terminal() and stdout_is_terminal()
            else PredictFormat.plain
        )
    chunks = predict_chunks(
        items,
        classifier,
        invert=invert,
        debug_dir=debug_dir,
        pixel_order=pixel_order,
        workers=jobs or None,
        pool_min=1 if jobs > 1 else POOL_MIN_INPUTS,  # -j N > 1: a pool even for a few
        min_confidence=min_confidence,
        single=single,
        max_pixels=max_pixels,
    )
    for stream in (sys.stdout, sys.stderr):
        # File names that are not valid UTF-8 (read via os.fsdecode) go out as the bytes they were.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")
    done, failed, unsure, no_digit = _render(chunks, fmt, model_files.label)
    unread = failed - no_digit
    if fail_on_unsure and (unsure or no_digit) and not unread:
        parts = [f"{unsure} unsure (confidence below {min_confidence:g})"] if unsure else []
        parts += [f"{no_digit} with no digit found"] if no_digit else []
        raise UnsureError(f"{' and '.join(parts)} of {done + failed} inputs (--fail-on-unsure)")
    if failed and done:
        raise PartialFailureError(f"{failed} of {done + failed} inputs could not be predicted")
    if failed:
        if failed == 1:
            raise typer.Exit(int(ExitCode.RUNTIME))  # its own error line said it all
        raise ImageError(f"none of the {failed} inputs could be predicted")


def _render(
    chunks: Iterable[list[PredictionRecord]], fmt: PredictFormat, model: str
) -> tuple[int, int, int, int]:
    """Write the records as they come, a chunk at a time; return the counts of inputs predicted,
    failed (no digit found included), unsure, and with no digit found."""
    from digitcli.predict_writers import close_writer, open_writer, write_chunk

    done = failed = unsure = no_digit = 0
    writer = open_writer(fmt, sys.stdout, color=color_enabled(), model=model)
    try:
        for records in chunks:
            problems = [f"error: {r.path}: {r.error}\n" for r in records if r.error is not None]
            failed += len(problems)
            done += len(records) - len(problems)
            unsure += sum(r.unsure for r in records)
            no_digit += sum(r.status == "no_digit" for r in records)
            with signals.deferred():  # a record is written whole or not at all
                if problems:
                    sys.stderr.write("".join(problems))
                    sys.stderr.flush()
                write_chunk(writer, records)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: the records so far stay, closed (a JSON array gets its `]`); the
        # exit code (130, 143) says the output is incomplete.
        with signals.deferred():
            _close(chunks)  # stops the worker processes now, not at exit
            close_writer(writer)
        raise
    except BaseException:
        _close(chunks)
        raise
    close_writer(writer)
    return done, failed, unsure, no_digit


def _close(chunks: Iterable[object]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


# Environment variables with which Rich treats a pipe as a terminal.
_RICH_TERMINAL_HINTS = ("FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


def _stdout_may_be_terminal() -> bool:
    # Rich's terminal check costs its import (~20 ms of a one-image run); a plain pipe needs none.
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty or any(name in os.environ for name in _RICH_TERMINAL_HINTS)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the app."""
    app.command("predict", help=PREDICT_HELP)(predict_command)
