"""`digitcli serve` as a real process: it survives every bad request, and Ctrl-C or SIGTERM stop
it cleanly, with the request in flight answered first."""

from __future__ import annotations

import http.client
import io
import json
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from pictures import paper
from PIL import Image
from servers import Server, serve_process

pytest.importorskip("uvicorn", reason="the serve extra is not installed")

PREDICT = "/api/v1/predict"


@pytest.fixture(scope="module")
def digit(confident_digits: dict[int, np.ndarray]) -> tuple[int, bytes]:
    label, image = next(iter(confident_digits.items()))
    buffer = io.BytesIO()
    Image.fromarray(paper(image)).save(buffer, format="PNG")
    return label, buffer.getvalue()


def request(
    server: Server, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_the_server_stays_up_through_every_bad_request(
    trained_run: Path, digit: tuple[int, bytes]
) -> None:
    label, data = digit
    big = io.BytesIO()
    Image.new("L", (600, 600), 255).save(big, format="PNG")
    png = {"Content-Type": "image/png"}
    bad = [
        ("POST", PREDICT, b"not a picture", png, 422),
        ("POST", PREDICT, data[: len(data) // 2], png, 422),
        ("POST", PREDICT, b"\0" * 100_001, png, 413),
        ("POST", PREDICT, big.getvalue(), png, 413),
        ("POST", PREDICT, data, {"Content-Type": "text/plain"}, 415),
        ("POST", PREDICT, data, {}, 415),
        ("POST", PREDICT, b"", png, 400),
        ("POST", PREDICT, b"{oops", {"Content-Type": "application/json"}, 400),
        ("GET", PREDICT, b"", {}, 405),
        ("GET", "/nothing", b"", {}, 404),
    ]
    with serve_process(
        trained_run, "--max-upload-bytes", "100000", "--max-pixels", "250000"
    ) as server:
        for method, path, body, headers, status in bad:
            got, document = request(server, method, path, body, headers)
            assert (got, sorted(document)) == (status, ["code", "error"]), (path, headers, document)
        status, document = request(server, "POST", PREDICT, data, png)
        assert (status, document["digit"]) == (200, label)
        assert server.process.poll() is None


def test_sigterm_answers_the_request_in_flight_then_exits_0(
    trained_run: Path, digit: tuple[int, bytes]
) -> None:
    label, data = digit
    head = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    with serve_process(trained_run) as server:
        with socket.create_connection((server.host, server.port), timeout=60) as client:
            client.sendall(head + data[:100])  # the request is in flight: half its body sent
            status, _ = request(server, "GET", "/api/v1/health")  # received and being read
            assert status == 200
            server.process.send_signal(signal.SIGTERM)
            assert _stops_accepting(server), "the server kept accepting connections"
            client.sendall(data[100:])
            reply = _read_response(client)
        assert reply.startswith(b"HTTP/1.1 200 ")
        assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["digit"] == label
        assert server.process.wait(timeout=60) == 0
        assert server.process.stderr is not None
        assert server.process.stderr.read().splitlines()[-1] == "stopped (SIGTERM)"


def test_ctrl_c_stops_the_server_with_exit_0(trained_run: Path) -> None:
    with serve_process(trained_run) as server:
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=60) == 0
        assert server.process.stderr is not None
        assert server.process.stderr.read().splitlines()[-1] == "stopped (SIGINT)"


def _stops_accepting(server: Server, within: float = 60.0) -> bool:
    # Once shutting down, the server closes its listening socket; new connections are refused.
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection((server.host, server.port), timeout=5).close()
        except OSError:
            return True
        time.sleep(0.02)
    return False


def _read_response(client: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        received += client.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += client.recv(65536)
    return head + b"\r\n\r\n" + body
