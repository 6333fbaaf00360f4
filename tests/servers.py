"""`digitcli serve` as a real process, for the tests that need one (signals, a browser)."""

from __future__ import annotations

import selectors
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# Starting means importing NumPy, Pillow, SciPy, Starlette: seconds on a busy machine.
START_TIMEOUT = 120


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str  # http://127.0.0.1:<port>/

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 0


@contextmanager
def serve_process(run: Path, *options: str) -> Iterator[Server]:
    """Start `digitcli serve --model RUN --port 0 OPTIONS`, wait for the address it prints; kill
    it on the way out if the test has not stopped it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "digitcli", "serve", "--model", str(run), "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(START_TIMEOUT)
        url = process.stdout.readline().strip() if ready else ""
        if not url.startswith("http://"):
            process.kill()
            raise AssertionError(f"serve did not start: {process.stderr.read()}")
        yield Server(process, url)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
