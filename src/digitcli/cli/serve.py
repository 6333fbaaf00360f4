"""`digitcli serve`: parse options, start `digitcli.serve.server`, say where it listens.

Starlette and uvicorn are imported only when the command runs (and are the optional `serve` extra),
so the other commands neither pay for them nor need them installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from digitcli.cli._common import handle_errors, info, min_confidence_option, model_option
from digitcli.serve.limits import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_THREADS,
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    MAX_PIXELS_CEILING,
)
from digitcli.vocabulary import DEFAULT_MIN_CONFIDENCE

# What the serve extra installs (python-multipart imports as multipart).
_SERVE_PACKAGES = {"starlette", "uvicorn", "anyio", "multipart", "python_multipart"}
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

SERVE_HELP = (
    "Serve a page to draw digits on, and an HTTP API that reads them.\n\n"
    "Open the printed address in a browser: draw a digit with the mouse, a finger or a pen and "
    "watch the network read it (probabilities, the 20x20 image it saw, its hidden layers), or "
    "upload a photo. Programs call the API under /api/v1 (documented at /api/v1/openapi.json):\n\n"
    "  curl -s --data-binary @photo.jpg -H 'Content-Type: image/jpeg' "
    "http://127.0.0.1:8000/api/v1/predict\n\n"
    "It answers with the record `predict --format json` prints. Examples:\n\n"
    "  digitcli serve\n\n"
    "  digitcli serve --model results/<run> --port 8080\n\n"
    "  digitcli serve --host 0.0.0.0   # reachable from other machines (no authentication!)\n\n"
    "The address goes to stdout, once the server accepts connections. Ctrl-C or SIGTERM stops it "
    "after the requests in flight are answered. Needs the serve extra: pip install 'digitcli\\[serve]'."
    "\n\nExit codes: 0 stopped by Ctrl-C or SIGTERM; 1 the model cannot be loaded, the port is "
    "taken, or the serve extra is missing; 2 bad command line."
)


@handle_errors
def serve_command(
    model: Annotated[
        Path | None,
        model_option(
            "A run directory, a results folder (its latest run), a weights .npz file, or "
            "builtin (the bundled model). \\[default: the latest run under ./results]"
        ),
    ] = None,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; 0.0.0.0 for every network interface."),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port; 0 picks a free one.")
    ] = 8000,
    max_upload_bytes: Annotated[
        int, typer.Option("--max-upload-bytes", min=1, help="Largest request body, in bytes.")
    ] = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: Annotated[
        int,
        typer.Option(
            "--max-pixels", min=1, max=MAX_PIXELS_CEILING, help="Largest image, width x height."
        ),
    ] = DEFAULT_MAX_PIXELS,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=0.001, help="Seconds to receive a request, and again to answer it."
        ),
    ] = DEFAULT_TIMEOUT,
    min_confidence: Annotated[
        float | None,
        min_confidence_option(
            "Mark answers whose (calibrated) confidence is below P (0-1) as unsure, as "
            "predict does; 0: never. Default: the run's own (calibration.json; "
            f"{DEFAULT_MIN_CONFIDENCE:g} for runs that have none)."
        ),
    ] = None,
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            min=1,
            help="Pictures decoded and read at the same time (without --workers).",
        ),
    ] = DEFAULT_THREADS,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            help="Worker processes that decode and read pictures, each with its own copy of the "
            "model (~90 MB each), so the server can use several cores. 0: threads of the server "
            "process.",
        ),
    ] = DEFAULT_WORKERS,
) -> None:
    if "numpy" not in sys.modules:  # a fresh process (not a test run)
        # Every matrix here is tiny (one picture at a time): BLAS threads only spin, and on a busy
        # machine they made canonicalizing a canvas PNG cost 12.8 ms of CPU instead of 1.1 ms.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from digitcli.errors import DigitcliError
    from digitcli.runs import resolve_model

    try:
        from digitcli.serve.limits import Limits
        from digitcli.serve.server import Address, serve
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _SERVE_PACKAGES:
            raise
        raise DigitcliError(
            f"digitcli serve needs {exc.name}: pip install 'digitcli[serve]'"
        ) from None

    limits = Limits(max_upload_bytes, max_pixels, timeout, threads, workers)
    # Like predict: a fresh install serves the bundled model rather than refusing to start.
    files = resolve_model(model, builtin_fallback=True)
    info(f"model: {files.label}")

    def announce(address: Address, name: str) -> None:
        if host not in _LOCAL_HOSTS:
            info(f"warning: listening on {host}: other machines can reach this server")
        info(f"serving model {name}; API at {address.url}api/v1 (Ctrl-C to stop)")
        print(address.url, flush=True)

    stopped_by = serve(files, host, port, limits, announce, min_confidence)
    info(f"stopped ({stopped_by})")


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the app."""
    app.command("serve", help=SERVE_HELP)(serve_command)
