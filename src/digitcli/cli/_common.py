"""Shared CLI plumbing: global options, consoles, and turning errors into one line plus an exit code.

Data goes to stdout, diagnostics (progress, tables about progress, errors) to stderr. Colour and
live progress appear only on a terminal, and never with NO_COLOR set or --no-color.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from digitcli.errors import DigitcliError, ExitCode

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])


def config_option(help_text: str) -> Any:
    """`--config/-c FILE`: the same option on every command that reads a config, with its help."""
    return typer.Option("--config", "-c", help=help_text)


def set_option(help_text: str) -> Any:
    """`--set/-s KEY.PATH=VALUE` (repeatable), with the command's help."""
    return typer.Option("--set", "-s", metavar="KEY.PATH=VALUE", help=help_text)


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


def handle_errors(command: F) -> F:
    """Run a command; turn digitcli errors into `error: ...` on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = settings.debug or os.environ.get("DIGITCLI_DEBUG") == "1"
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except DigitcliError as exc:
            if debug:
                traceback.print_exc()
            raise fail(exc.message, int(exc.exit_code)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", int(ExitCode.INTERRUPTED)) from None
        except Exception as exc:  # a bug: say so briefly, keep the traceback for --debug
            if debug:
                traceback.print_exc()
            raise fail(
                f"unexpected {type(exc).__name__}: {exc} (this is a bug; rerun with --debug "
                "for the traceback and report it)",
                int(ExitCode.INTERNAL),
            ) from None

    return wrapper  # type: ignore[return-value]
