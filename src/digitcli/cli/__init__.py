"""The `digitcli` command line: parses arguments and renders results; the work lives elsewhere.

Command modules import TensorFlow, Matplotlib and scikit-learn only inside their functions, so
`digitcli --help`, `--version` and NumPy-engine `predict` start in a fraction of a second.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from digitcli import __version__
from digitcli.cli import (
    config_cmd,
    evaluate,
    export,
    plot,
    predict,
    runs_cmd,
    serve,
    sweep_cmd,
    train,
)
from digitcli.cli._common import finish_stdout, guard_stdout, settings
from digitcli.cli._group import DigitcliGroup

app = typer.Typer(
    name="digitcli",
    cls=DigitcliGroup,
    help="Train, evaluate, explain and use a small neural network that reads handwritten digits.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if not value:
        return
    print(f"digitcli {__version__}")
    if "--verbose" in sys.argv[1:] or "-v" in sys.argv[1:]:
        # Only the verbose form pays for importing TensorFlow.
        import platform

        from digitcli.tf_runtime import load_tensorflow

        tf = load_tensorflow()
        import keras
        import numpy

        print(f"python {platform.python_version()}")
        print(f"numpy {numpy.__version__}")
        print(f"tensorflow {tf.__version__}")
        print(f"keras {keras.__version__}")
    raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit (add --verbose for TensorFlow/Keras versions).",
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="With --version: also library versions.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only results and errors.")
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours (also: NO_COLOR environment variable).")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks (also: DIGITCLI_DEBUG=1).")
    ] = False,
) -> None:
    settings.quiet = quiet
    settings.no_color = no_color
    settings.debug = debug


for module in (train, evaluate, predict, plot, export, serve, config_cmd, runs_cmd, sweep_cmd):
    module.register(app)


def main() -> None:
    from digitcli import signals

    signals.install()  # SIGTERM stops as cleanly as Ctrl-C, with exit code 143
    guard_stdout()
    try:
        app()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if code is not None and not isinstance(code, int):  # sys.exit("message")
        print(code, file=sys.stderr)
        code = 1
    code = finish_stdout(code or 0)
    if getattr(sys.modules.get("digitcli.predict"), "pool_stopped", False):
        # predict stopped its worker processes mid-work (Ctrl-C, SIGTERM, a closed stdout): the
        # pool's manager thread may wait forever on a half-written result, and Python's exit joins
        # it. Everything is written and the workers are gone: leave without that join.
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
