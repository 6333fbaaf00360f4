"""The server's limits, and the request-body cap enforced before a byte reaches an endpoint.

Standard library only (and `vocabulary`): `digitcli serve --help` shows these defaults without importing the server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from digitcli.vocabulary import MAX_IMAGE_PIXELS

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A phone photo is 2-8 MB; a 280x280 canvas PNG a few KB.
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# A 12-megapixel phone photo fits; decoding one costs ~50 MB of memory.
DEFAULT_MAX_PIXELS = 25_000_000
MAX_PIXELS_CEILING = MAX_IMAGE_PIXELS  # predict's default for files; a server decodes no more
DEFAULT_TIMEOUT = 10.0
# Threads that decode and predict at once. Reading a canvas holds the GIL most of the time, so more
# threads add no throughput, only contention: on 2 CPUs, 4 threads cost 3.3-5.9 ms of server CPU
# per canvas against 2.6-3.6 ms for 2, at the same requests/s (bench/serve_load.py). Two still
# leave one thread for canvases while a large photo is read.
DEFAULT_THREADS = 2
# Worker processes that decode and predict; 0: threads of the server process instead.
DEFAULT_WORKERS = 0


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # largest request body
    max_pixels: int = DEFAULT_MAX_PIXELS  # largest image, width x height
    timeout: float = DEFAULT_TIMEOUT  # seconds to read the body, and again to answer
    threads: int = DEFAULT_THREADS
    workers: int = DEFAULT_WORKERS

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1 or self.max_pixels < 1 or self.threads < 1 or self.workers < 0:
            raise ValueError("limits must be positive")
        if not self.timeout > 0:
            raise ValueError("the timeout must be positive")
        if self.max_pixels > MAX_PIXELS_CEILING:
            raise ValueError(f"max_pixels is at most {MAX_PIXELS_CEILING:,}")


class BodyTooLarge(Exception):
    """A request body grew past the limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than the {limit:,}-byte limit")
        self.limit = limit


class BodyLimit:
    """ASGI middleware: refuse a body over `limit` bytes by its Content-Length header at once
    (413), and stop reading a body without one (chunked) as soon as it passes the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await _send_413(send, BodyTooLarge(self.limit))
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)  # the app's handler answers 413
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, error: BodyTooLarge) -> None:
    body = json.dumps({"error": str(error), "code": "too_large"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
