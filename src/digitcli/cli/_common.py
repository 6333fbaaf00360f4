"""Shared CLI plumbing: global options, consoles, and turning errors into one line plus an exit code.

Data goes to stdout, diagnostics (progress, tables about progress, errors) to stderr. Colour and
live progress appear only on a terminal, and never with NO_COLOR set or --no-color.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from digitcli import signals
from digitcli.errors import DigitcliError, ExitCode, TrainingInterrupted

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])


def config_option(help_text: str) -> Any:
    """`--config/-c FILE`: the same option on every command that reads a config, with its help."""
    return typer.Option("--config", "-c", help=help_text)


def set_option(help_text: str) -> Any:
    """`--set/-s KEY.PATH=VALUE` (repeatable), with the command's help."""
    return typer.Option("--set", "-s", metavar="KEY.PATH=VALUE", help=help_text)


def model_option(help_text: str) -> Any:
    """`--model/-m PATH`: the model a command answers with (predict, serve), with its help."""
    return typer.Option("--model", "-m", metavar="PATH", help=help_text, show_default=False)


def min_confidence_option(help_text: str) -> Any:
    """`--min-confidence P` (0-1; default: the run's own), with the command's help."""
    return typer.Option(
        "--min-confidence", metavar="P", min=0.0, max=1.0, show_default=False, help=help_text
    )


# train and config show build a config from the file; evaluate lays it over the run's saved config.
ConfigOption = Annotated[
    Path | None,
    config_option("YAML config file (default: the built-in recipe, same as configs/default.yaml)."),
]
SetOption = Annotated[
    list[str] | None,
    set_option(
        "Override a config value, e.g. --set train.epochs=5 (repeatable; wins over the file)."
    ),
]
RunConfigOption = Annotated[
    Path | None,
    config_option(
        "YAML config whose keys are laid over the run's config (e.g. another data source)."
    ),
]
RunSetOption = Annotated[
    list[str] | None,
    set_option(
        "Change the run's config, e.g. --set data.source=mnist (repeatable; wins over --config)."
    ),
]


def run_model_option(what: str) -> Any:
    """`--model/-m`: the same as the command's RUN argument (the two cannot both be given)."""
    return typer.Option(
        "--model",
        "-m",
        metavar="MODEL",
        help=f"The model to {what}: a run directory, results folder, model file, or builtin (the "
        "model bundled with digitcli); the same as RUN.",
        show_default=False,
    )


def pick_model(run: Path | None, model: Path | None) -> Path | None:
    """RUN or --model, whichever was given."""
    from digitcli.errors import UsageError

    if run is not None and model is not None:
        raise UsageError(f"give the model once: RUN ({run}) or --model ({model}), not both")
    return model if model is not None else run


@dataclass
class Settings:
    debug: bool = False
    quiet: bool = False
    no_color: bool = False


settings = Settings()


def _color_off() -> bool:
    return settings.no_color or "NO_COLOR" in os.environ


def color_enabled() -> bool:
    return not _color_off()


def stdout_console() -> Console:
    from rich.console import Console

    return Console(no_color=_color_off(), highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, no_color=_color_off(), highlight=False, soft_wrap=False)


def stderr_is_terminal() -> bool:
    return stderr_console().is_terminal


def stdout_is_terminal() -> bool:
    return stdout_console().is_terminal


def info(message: str) -> None:
    """A diagnostic line on stderr (silenced by --quiet)."""
    if not settings.quiet:
        print(message, file=sys.stderr, flush=True)


def fail(message: str, code: int) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return typer.Exit(code)


class StdoutError(OSError):
    """Writing to standard output failed (a full disk, `> /dev/full`, a reader that went away)."""


class _GuardedStdout:
    """sys.stdout, with its write errors told apart from every other OSError."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except OSError as exc:
            raise StdoutError(exc.errno, exc.strerror) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise StdoutError(exc.errno, exc.strerror) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_stdout() -> None:
    """Tag stdout's write errors (a real process; the test runner brings its own stdout)."""
    if sys.stdout is not None and not isinstance(sys.stdout, _GuardedStdout):
        sys.stdout = _GuardedStdout(sys.stdout)


def silence_stdout() -> None:
    """Send what is left in stdout's buffer to /dev/null, so exiting cannot fail on it again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def stdout_failed(exc: OSError) -> int:
    """Report a failed write to stdout; the exit code. A reader that went away (`| head -1`)
    ends the process quietly with 141, as Unix tools do (killed by SIGPIPE); any other error
    (a full disk, /dev/full) is one line and exit 1."""
    silence_stdout()
    if exc.errno == errno.EPIPE:
        return int(ExitCode.STDOUT_CLOSED)
    reason = exc.strerror or os.strerror(exc.errno or 0)
    print(f"error: cannot write to standard output ({reason})", file=sys.stderr, flush=True)
    return int(ExitCode.RUNTIME)


def finish_stdout(code: int) -> int:
    """Flush stdout before exiting; the exit code, changed if that write failed."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        failed = stdout_failed(exc)
        return code or failed
    return code


def handle_errors(command: F) -> F:
    """Run a command; turn digitcli errors into `error: ...` on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = settings.debug or os.environ.get("DIGITCLI_DEBUG") == "1"
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except TrainingInterrupted as exc:  # Ctrl-C or SIGTERM, after a checkpoint
            raise fail(exc.message, int(signals.exit_code())) from None
        except DigitcliError as exc:
            if debug:
                traceback.print_exc()
            raise fail(exc.message, int(exc.exit_code)) from None
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (signals.Terminated)
            raise fail(signals.stop_message(exc), int(signals.exit_code(exc))) from None
        except StdoutError as exc:
            raise typer.Exit(stdout_failed(exc)) from None
        except Exception as exc:  # a bug: say so briefly, keep the traceback for --debug
            if debug:
                traceback.print_exc()
            raise fail(
                f"unexpected {type(exc).__name__}: {exc} (this is a bug; rerun with --debug "
                "for the traceback and report it)",
                int(ExitCode.INTERNAL),
            ) from None

    return wrapper  # type: ignore[return-value]
