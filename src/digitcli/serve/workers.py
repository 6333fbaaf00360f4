"""Where pictures are decoded and read: threads of the server process, or worker processes.

Decoding a PNG and canonicalizing it is CPU work under Python's GIL for a good part, so threads of
one process share about one core. `ProcessWorkers` runs the same `Predictor.predict` in a pool of
processes (each loads the model once), so a server on N cores can use them all; the event loop
only parses HTTP and passes bytes in and a small dict out.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from digitcli.errors import DigitcliError
from digitcli.runs import ModelFiles
from digitcli.serve.service import Predictor
from digitcli.vocabulary import Invert


@dataclass(frozen=True)
class Job:
    """One picture to read, and what to say about it."""

    data: bytes
    name: str
    invert: Invert
    max_pixels: int
    with_image: bool
    with_activations: bool


def run_job(predictor: Predictor, job: Job) -> dict[str, Any]:
    return predictor.predict(
        job.data,
        job.name,
        invert=job.invert,
        max_pixels=job.max_pixels,
        with_image=job.with_image,
        with_activations=job.with_activations,
    )


class WorkerDied(DigitcliError):
    """A worker process died (out of memory?) while reading a picture."""


class ThreadWorkers:
    """Jobs run in at most `threads` threads of the server process."""

    def __init__(self, predictor: Predictor, threads: int) -> None:
        self.predictor = predictor
        self.threads = threads
        self.limiter: anyio.CapacityLimiter | None = None

    async def start(self) -> None:
        self.limiter = anyio.CapacityLimiter(self.threads)  # needs the running event loop

    async def run(self, job: Job) -> dict[str, Any]:
        work = functools.partial(run_job, self.predictor, job)
        return await anyio.to_thread.run_sync(work, limiter=self.limiter, abandon_on_cancel=True)

    async def close(self) -> None:
        pass


# The predictor of a worker process, loaded once by its initializer.
_predictor: Predictor | None = None


def _start_worker(files: ModelFiles, min_confidence: float) -> None:
    global _predictor
    # Ctrl-C reaches the whole process group: the server alone decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _predictor = Predictor(files, min_confidence)


def _run_in_worker(job: Job) -> dict[str, Any]:
    assert _predictor is not None, "the worker's initializer did not run"
    return run_job(_predictor, job)


def _ready() -> bool:
    return _predictor is not None


class ProcessWorkers:
    """Jobs run in `processes` worker processes, each with its own copy of the model."""

    def __init__(self, predictor: Predictor, processes: int) -> None:
        self.files = predictor.files
        self.min_confidence = predictor.min_confidence
        self.processes = processes
        self.pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver: workers start from a clean process, not a fork of one running an event loop
        # and threads.
        method = "forkserver" if sys.platform.startswith("linux") else "spawn"
        return ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context(method),
            initializer=_start_worker,
            initargs=(self.files, self.min_confidence),
        )

    async def start(self) -> None:
        self.pool = self._new_pool()
        # Start every worker now (each loads the model), so the first requests do not wait.
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self.pool, _ready) for _ in range(self.processes))
        )

    async def run(self, job: Job) -> dict[str, Any]:
        pool = self.pool
        assert pool is not None, "start() first"
        try:
            return await asyncio.wrap_future(pool.submit(_run_in_worker, job))
        except BrokenProcessPool:
            if self.pool is pool:  # the first request to notice replaces the pool
                self.pool = self._new_pool()
                pool.shutdown(wait=False, cancel_futures=True)
            raise WorkerDied("a worker process died while reading the picture") from None

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await anyio.to_thread.run_sync(functools.partial(pool.shutdown, wait=True))
