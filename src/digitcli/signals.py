"""SIGTERM handled like Ctrl-C, and which of the two stopped the process.

Python turns SIGINT into KeyboardInterrupt, so every `finally`, pool shutdown and cleanup runs on
Ctrl-C; its default for SIGTERM is to die on the spot, leaving worker processes, half-written output
and `.partial` folders behind. `install()` makes SIGTERM raise `Terminated`, a KeyboardInterrupt, so
the same cleanup runs; the exit code then says which signal it was: 130 (128 + SIGINT) or 143
(128 + SIGTERM). Handlers that only set a stop flag (training, sweeps) call `note()` so the code is
right there too.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

from digitcli.errors import ExitCode


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: raised like Ctrl-C's KeyboardInterrupt so the same cleanup runs."""


_received: list[int] = []


def note(signum: int) -> None:
    """Remember that `signum` (SIGINT or SIGTERM) asked this process to stop."""
    _received.append(signum)


def terminated() -> bool:
    """True once SIGTERM has asked this process to stop."""
    return signal.SIGTERM in _received


def exit_code(exc: BaseException | None = None) -> ExitCode:
    """130 for Ctrl-C, 143 for SIGTERM (from the exception, or from the signals noted)."""
    if isinstance(exc, Terminated) or terminated():
        return ExitCode.TERMINATED
    return ExitCode.INTERRUPTED


def stop_message(exc: BaseException | None = None) -> str:
    return "terminated (SIGTERM)" if exit_code(exc) == ExitCode.TERMINATED else "interrupted"


def raise_terminated(signum: int, frame: FrameType | None) -> None:
    note(signum)
    raise Terminated


def install() -> None:
    """SIGTERM raises `Terminated` (call in the main thread of the CLI process)."""
    signal.signal(signal.SIGTERM, raise_terminated)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Block Ctrl-C and SIGTERM while a record is written, so output is never cut mid-record (a
    write(2) interrupted by a signal can lose the rest of the text); a signal that arrived meanwhile
    takes effect as soon as the block ends."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):  # no POSIX signal masks here
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
