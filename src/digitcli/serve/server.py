"""Run the app under uvicorn until Ctrl-C or SIGTERM, then stop cleanly.

The socket is bound before uvicorn starts, so a taken port is one error line, the address printed is
the real one (port 0 picks a free port), and clients that connect at once wait in the backlog
instead of being refused. On the first Ctrl-C or SIGTERM uvicorn stops accepting connections and
finishes the requests in flight; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import uvicorn

from digitcli.errors import DigitcliError
from digitcli.runs import ModelFiles
from digitcli.serve.app import create_app
from digitcli.serve.limits import Limits
from digitcli.serve.service import Predictor

# Requests in flight get this long after the limit on one request before the server stops anyway.
_SHUTDOWN_GRACE = 5.0


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or one DigitcliError line saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise DigitcliError(
            f"{host}: not an address this machine can listen on ({exc.strerror})"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        hint = " (is another server running there? try --port)" if exc.errno == 98 else ""
        raise DigitcliError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    sock.set_inheritable(True)
    return sock


def serve(
    model: ModelFiles,
    host: str,
    port: int,
    limits: Limits,
    announce: Callable[[Address, str], None],
    min_confidence: float | None = None,
) -> str:
    """Load the model, listen, call `announce(address, model name)` once connections are served,
    serve until a stop signal; return the signal's name."""
    predictor = Predictor(model, min_confidence)
    app = create_app(predictor, limits)
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(limits.timeout + _SHUTDOWN_GRACE),
    )
    server = _Server(
        config, lambda: announce(Address(str(bound_host), int(bound_port)), predictor.name)
    )
    with sock:
        server.run(sockets=[sock])
    return signal.Signals(server.stop_signal).name if server.stop_signal else "stop"


class _Server(uvicorn.Server):
    """uvicorn's server, but a stop signal ends `serve` normally: uvicorn re-raises the signal
    once it has shut down, which would end the process as killed (SIGTERM) or interrupted."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_started = on_started
        self.stop_signal: int | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:  # accepting connections, with the stop signals already handled
            self.on_started()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: do not wait for requests in flight
        self.stop_signal = self.stop_signal or sig
        self.should_exit = True
