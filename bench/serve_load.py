"""Load on `digitcli serve`: requests/s and p50/p99 latency of single-picture predictions with 4 and
32 concurrent clients, and the server's peak memory.

A real server process (`digitcli serve --model RUN --port 0`, its defaults) answers POSTs of
280x280 canvas PNGs to /api/v1/predict: MNIST test digits scaled up to the drawing page's canvas,
dark strokes on white with an alpha channel, as the page's `canvas.toBlob` sends them. Each client
keeps one connection open and sends its next picture as soon as the last answer arrives (a closed
loop), for a fixed time after a warm-up. The clients run in this process on asyncio with a minimal
HTTP/1.1 writer and reader, so the load generator costs little of the machine the server runs on;
its CPU time is reported too. Answers are checked (status 200, digit against the label).

    .venv/bin/python bench/serve_load.py --model RUN [--workers N] [--seconds 10] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import selectors
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common
import numpy as np

CANVAS = 280  # the drawing page's canvas, in pixels
PICTURES = 200  # distinct pictures, sent round-robin
CONCURRENCY = (4, 32)
WARM_UP_SECONDS = 1.0
TARGET_RPS = 300  # at 4 clients, on the 2-core reference machine
TARGET_P99_MS = 50.0


def canvas_pngs(count: int) -> tuple[list[bytes], list[int]]:
    """MNIST test digits as the drawing page sends them: 280x280 RGBA PNGs, dark ink on white."""
    from PIL import Image

    with np.load(_common.require_mnist()) as archive:
        images = archive["x_test"][:count]
        labels = archive["y_test"][:count].tolist()
    pictures = []
    for image in images:
        big = Image.fromarray(255 - image).resize((CANVAS, CANVAS), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        big.convert("RGBA").save(buffer, format="PNG")
        pictures.append(buffer.getvalue())
    return pictures, [int(label) for label in labels]


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    correct: int = 0


async def _client(
    host: str, port: int, pictures: list[bytes], labels: list[int], start: int, until: float
) -> Load:
    load = Load()
    reader, writer = await asyncio.open_connection(host, port)
    heads = [
        (
            f"POST /api/v1/predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
            f"Content-Length: {len(picture)}\r\n\r\n"
        ).encode()
        for picture in pictures
    ]
    index = start
    try:
        while time.perf_counter() < until:
            which = index % len(pictures)
            index += 1
            sent = time.perf_counter()
            writer.write(heads[which] + pictures[which])
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            load.latencies.append(time.perf_counter() - sent)
            if not status.startswith(b"HTTP/1.1 200"):
                load.failures += 1
            elif json.loads(body)["digit"] == labels[which]:
                load.correct += 1
    finally:
        writer.close()
    return load


async def _run_clients(
    host: str, port: int, pictures: list[bytes], labels: list[int], clients: int, seconds: float
) -> tuple[list[Load], float]:
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    step = len(pictures) // clients or 1
    loads = await asyncio.gather(
        *(_client(host, port, pictures, labels, n * step, until) for n in range(clients))
    )
    return list(loads), time.perf_counter() - started


def _measure(
    host: str,
    port: int,
    pictures: list[bytes],
    labels: list[int],
    clients: int,
    seconds: float,
    server_pid: int,
) -> dict[str, Any]:
    asyncio.run(_run_clients(host, port, pictures, labels, clients, WARM_UP_SECONDS))
    # The server's CPU time over the measured requests only (not the warm-up's).
    server_before = _cpu_seconds(server_pid)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    loads, elapsed = asyncio.run(_run_clients(host, port, pictures, labels, clients, seconds))
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = _cpu_seconds(server_pid) - server_before
    latencies = np.array([value for load in loads for value in load.latencies]) * 1000
    requests = len(latencies)
    client_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": requests,
        "requests_per_second": round(requests / elapsed, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "max_ms": round(float(latencies.max()), 2),
        "failures": sum(load.failures for load in loads),
        "accuracy": round(sum(load.correct for load in loads) / max(requests, 1), 4),
        "client_cpu_seconds": round(client_cpu, 2),
        "server_cpu_seconds": round(server_cpu, 2),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(requests, 1), 2),
    }


def _family(pid: int) -> list[int]:
    """The server and every process under it (its worker processes), from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    family = [pid]
    for member in family:
        family.extend(child for child, parent in parents.items() if parent == member)
    return family


def _peak_rss_mb(pid: int) -> float:
    """The sum of each server process's peak resident set (VmHWM): an upper bound of the whole."""
    total = 0
    for member in _family(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server and its worker processes."""
    ticks = 0
    for member in _family(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def run(
    model: Path, seconds: float = 10.0, quick: bool = False, workers: int = 0
) -> dict[str, Any]:
    pictures, labels = canvas_pngs(PICTURES)
    command = [*_common.digitcli_command(), "serve", "--model", str(model), "--port", "0"]
    command += ["--workers", str(workers)]
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_common.CHILD_ENV, text=True
    )
    assert server.stdout is not None and server.stderr is not None
    results: dict[str, Any] = {
        "machine": _common.machine(),
        "model": str(model),
        "picture_bytes_mean": round(float(np.mean([len(p) for p in pictures]))),
        "command": " ".join(command),
    }
    started = time.perf_counter()
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(server.stdout, selectors.EVENT_READ)
            if not selector.select(120):
                raise RuntimeError("the server did not start within 120 s")
        url = server.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the server did not start: {server.stderr.read()[-2000:]}")
        # From the command to the printed address (printed once connections are served).
        results["seconds_to_ready"] = round(time.perf_counter() - started, 2)
        results["rss_after_start_mb"] = round(_peak_rss_mb(server.pid), 1)
        host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        runs = []
        for clients in CONCURRENCY:
            measured = _measure(
                host, int(port), pictures, labels, clients, 3.0 if quick else seconds, server.pid
            )
            runs.append(measured)
        results["runs"] = runs
        results["server_peak_rss_mb"] = round(_peak_rss_mb(server.pid), 1)
    finally:
        server.terminate()
        server.wait(timeout=60)
    results["load_average_at_end"] = _common.load_average()
    return results


def report(results: dict[str, Any]) -> str:
    rows = []
    for measured in results["runs"]:
        met = ""
        if measured["clients"] == 4:
            ok = (
                measured["requests_per_second"] >= TARGET_RPS and measured["p99_ms"] < TARGET_P99_MS
            )
            met = "yes" if ok else "no"
        rows.append(
            [
                measured["clients"],
                f"{measured['requests_per_second']:,.0f}",
                f"{measured['p50_ms']:.1f}",
                f"{measured['p99_ms']:.1f}",
                f"{measured['accuracy']:.1%}",
                measured["failures"],
                f"{measured['server_cpu_seconds'] / measured['seconds']:.2f}",
                f"{measured['server_cpu_ms_per_request']:.2f}",
                f"{measured['client_cpu_seconds'] / measured['seconds']:.2f}",
                met,
            ]
        )
    headers = [
        "clients",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "correct",
        "failed",
        "server CPUs busy",
        "server CPU ms/request",
        "client CPUs busy",
        f">= {TARGET_RPS}/s, p99 < {TARGET_P99_MS:.0f} ms",
    ]
    machine = results["machine"]
    return "\n".join(
        [
            _common.markdown_table(headers, rows),
            "",
            f"`{results['command']}`; server peak RSS {results['server_peak_rss_mb']:,.0f} MB "
            f"({results['rss_after_start_mb']:,.0f} MB after start); ready "
            f"{results['seconds_to_ready']:.1f} s after the command; pictures "
            f"{results['picture_bytes_mean']:,} bytes on average; {machine['nproc']} CPUs "
            f"({machine['cpu']}), Python {machine['python']}; load average "
            f"{machine['load_average_at_start']} at start, {results['load_average_at_end']} at the end.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a run directory")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per level")
    parser.add_argument("--quick", action="store_true", help="3 s per level")
    parser.add_argument(
        "--workers", type=int, default=0, help="serve --workers (0: threads, the default)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = run(args.model, args.seconds, args.quick, args.workers)
    print(json.dumps(results) if args.json else report(results))


if __name__ == "__main__":
    main()
