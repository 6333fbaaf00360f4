"""The top-level command group: usage errors as one `error:` line, global options anywhere.

Click (through Typer) prints a usage error as a usage line, a hint and a boxed message, on a pipe too;
digitcli's errors are one `error:` line, so usage errors are too, followed by one `hint:` line naming
the help to read, with exit code 2. Help written into a closed pipe or a full disk ends as any
command's output does (141 quietly, or one line and 1), not as Click's 1 or a traceback. The global
options (--quiet, --debug, --no-color, --verbose) belong to the group, so Click only accepts them
before the subcommand; they are moved there, so `digitcli predict x.png --debug` means what it says.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from digitcli.cli._common import StdoutError, stdout_failed

# The group's flags (no values) that may also be given after the subcommand; no subcommand
# defines an option of the same name (test_cli_errors checks).
GLOBAL_FLAGS = frozenset({"--quiet", "-q", "--debug", "--no-color", "--verbose", "-v"})


def hoist_global_flags(args: Sequence[str], commands: Sequence[str]) -> list[str]:
    """`args` with global flags given after the subcommand moved before it (never those after
    `--`, which are arguments)."""
    args = list(args)
    position = next((i for i, arg in enumerate(args) if arg in commands), None)
    if position is None:
        return args
    before, after = args[: position + 1], args[position + 1 :]
    end = after.index("--") if "--" in after else len(after)
    moved = [arg for arg in after[:end] if arg in GLOBAL_FLAGS]
    kept = [arg for arg in after[:end] if arg not in GLOBAL_FLAGS] + after[end:]
    return before[:position] + moved + before[position:] + kept


def usage_error_lines(exc: typer.TyperException, command_path: str = "digitcli") -> list[str]:
    """The error line and, for a usage error (exit code 2), the hint; `command_path` names the
    command when Click's error does not say (a missing option value)."""
    message = " ".join(exc.format_message().split())
    # Typer checks choices with pydantic, whose message starts "Value error, ".
    message = message.replace(": Value error, ", ": ", 1)
    lines = [f"error: {message}"]
    ctx = getattr(exc, "ctx", None)
    if exc.exit_code == 2:  # Click's usage errors: unknown option, missing argument, bad value
        path = ctx.command_path if ctx is not None else command_path
        lines.append(f"hint: '{path} --help' lists the arguments and options")
    return lines


@contextmanager
def _stdout_errors_exit() -> Iterator[None]:
    """Exit as every command does when stdout fails: Click would turn a closed pipe into exit 1
    and let a full disk through as a traceback."""
    try:
        yield
    except StdoutError as exc:
        sys.exit(stdout_failed(exc))


class DigitcliGroup(TyperGroup):
    """TyperGroup with one-line usage errors and global flags accepted after the subcommand."""

    # --help prints while the group's (or, in invoke, a subcommand's) context is made. (Click's
    # Context is vendored by Typer, whose own typer.Context differs for mypy: Any here.)
    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        with _stdout_errors_exit():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _stdout_errors_exit():
            return super().invoke(ctx)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        arguments = hoist_global_flags(sys.argv[1:] if args is None else args, list(self.commands))
        if not standalone_mode:
            return super().main(arguments, prog_name, complete_var, False, **extra)
        try:
            result = super().main(arguments, prog_name, complete_var, False, **extra)
        except typer.TyperException as exc:  # Click's errors (Typer vendors Click)
            name = prog_name or "digitcli"
            words = [arg for arg in arguments if arg in self.commands][:1]
            _exit_with(exc, " ".join([name, *words]))
        except typer.Abort:
            print("error: aborted", file=sys.stderr, flush=True)
            sys.exit(1)
        # Without standalone mode, Click returns an Exit's code instead of exiting.
        sys.exit(result if isinstance(result, int) else 0)


def _exit_with(exc: typer.TyperException, command_path: str) -> NoReturn:
    if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
        lines = usage_error_lines(exc, command_path)
        sys.stderr.write("".join(f"{line}\n" for line in lines))
        sys.stderr.flush()
    sys.exit(exc.exit_code)
