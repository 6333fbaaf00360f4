"""Shared helpers for the benchmarks: data, timed child processes, the machine, plain tables.

The benchmarks run as scripts (`python bench/run_all.py`), so this folder is on `sys.path` and the
other modules import this one as `_common`. Derived data (canonical images, PNG files) is cached in
bench/output/cache/, which git ignores: only the first run pays for building it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
OUTPUT = BENCH / "output"
CACHE = OUTPUT / "cache"
MNIST_NPZ = Path(
    os.environ.get("DIGITCLI_MNIST", REPO.parent / "shared" / "data" / "mnist" / "mnist.npz")
)

# The reference recipe: 5,000 training images (what the course lab's X.npy holds: 5,000 20x20
# MNIST digits), 40 epochs, batch size 32, and 1,000 other images to validate on.
REFERENCE_TRAIN = 5_000
REFERENCE_VALIDATION = 1_000
REFERENCE_EPOCHS = 40
REFERENCE_BATCH = 32

# Children inherit this environment: quiet TensorFlow, no colours, no Rich live displays.
CHILD_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1", "TERM": "dumb"}


def digitcli_command() -> list[str]:
    """The installed `digitcli` entry point beside this Python (what a user runs), or `-m`."""
    script = Path(sys.executable).with_name("digitcli")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "digitcli"]


def require_mnist() -> Path:
    if not MNIST_NPZ.is_file():
        raise SystemExit(
            f"{MNIST_NPZ}: MNIST not found (set DIGITCLI_MNIST to a Keras-layout .npz)"
        )
    return MNIST_NPZ


def _cached(name: str, build: Any) -> dict[str, np.ndarray]:
    path = CACHE / name
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        arrays = build()
        temporary = path.with_suffix(".tmp.npz")
        np.savez(temporary, **arrays)
        temporary.replace(path)
    with np.load(path) as archive:
        return {key: archive[key] for key in archive.files}


def reference_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val): MNIST's first 5,000 training images and the next 1,000,
    canonicalized the way every digitcli source is (`digitcli.data.to_canonical`)."""

    def build() -> dict[str, np.ndarray]:
        from digitcli.data import to_canonical

        end = REFERENCE_TRAIN + REFERENCE_VALIDATION
        with np.load(require_mnist()) as archive:
            images = archive["x_train"][:end].astype(np.float32) / 255.0
            labels = archive["y_train"][:end].astype(np.int32)
        return {"x": to_canonical(images), "y": labels}

    data = _cached("reference.npz", build)
    x, y = data["x"], data["y"]
    return x[:REFERENCE_TRAIN], y[:REFERENCE_TRAIN], x[REFERENCE_TRAIN:], y[REFERENCE_TRAIN:]


def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """MNIST's 10,000 test images, canonical (N, 400), and their labels."""

    def build() -> dict[str, np.ndarray]:
        from digitcli.data import to_canonical

        with np.load(require_mnist()) as archive:
            images = archive["x_test"].astype(np.float32) / 255.0
            labels = archive["y_test"].astype(np.int32)
        return {"x": to_canonical(images), "y": labels}

    data = _cached("mnist_test.npz", build)
    return data["x"], data["y"]


def mnist_pngs(count: int) -> Path:
    """A folder of `count` MNIST test images as 28x28 PNGs, black ink on white like a scan.

    Files are named `<index>_<label>.png`, so a prediction can be checked against its label.
    """
    from PIL import Image

    folder = CACHE / f"png-{count}"
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with np.load(require_mnist()) as archive:
        images = 255 - archive["x_test"][:count]
        labels = archive["y_test"][:count]
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(image).save(folder / f"{index:05d}_{label}.png")
    done.touch()
    return folder


@dataclass
class Child:
    """A finished child process: wall time, peak memory, exit status and output."""

    seconds: float
    cpu_seconds: float  # user + system time of the child and every process it waited for
    max_rss_mb: float  # the largest resident set of the child or any process it waited for
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The child's last stdout line, parsed (children report their figures that way)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        if self.returncode != 0 or not lines:
            raise RuntimeError(f"child failed (exit {self.returncode}): {self.stderr[-2000:]}")
        return json.loads(lines[-1])


def run_child(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    stdout_path: Path | None = None,
    timeout: float = 1800,
) -> Child:
    """Run `command`, timing it and reading its CPU time and peak RSS with wait4.

    On a busy machine the CPU time says what the wall time would be on an idle one (for a process
    that computes on one core at a time), so both are recorded.

    stdout goes to `stdout_path` when given (a big output should not fill a pipe); otherwise it is
    captured. stderr is always captured.
    """
    import tempfile

    with contextlib.ExitStack() as stack:
        out = (
            stack.enter_context(stdout_path.open("w+b"))
            if stdout_path is not None
            else stack.enter_context(tempfile.TemporaryFile())
        )
        err = stack.enter_context(tempfile.TemporaryFile())
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, env=CHILD_ENV)
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = "" if stdout_path is not None else out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    # Linux reports ru_maxrss in KiB.
    cpu = usage.ru_utime + usage.ru_stime
    return Child(seconds, cpu, usage.ru_maxrss / 1024, process.returncode, stdout, stderr)


BASELINE = "model.fit"


def train_reference_model(
    path: str, seed: int, epochs: int, data: Sequence[np.ndarray]
) -> tuple[Any, dict[str, float], float | None]:
    """Train the reference network once in this process, by plain `model.fit` (BASELINE) or by a
    digitcli engine ("fast", "keras"): (model, final epoch's metrics, first epoch's seconds)."""
    from digitcli.tf_runtime import load_tensorflow

    load_tensorflow()
    import keras

    from digitcli.config import AugmentConfig, ModelConfig
    from digitcli.engines import FitRequest, fit
    from digitcli.model import build_model
    from digitcli.vocabulary import TrainingEngine

    x_train, y_train, x_val, y_val = data[:4]
    keras.utils.set_random_seed(seed)
    model = build_model(ModelConfig(), learning_rate=0.001)
    if path == BASELINE:
        history = model.fit(
            x_train,
            y_train,
            epochs=epochs,
            batch_size=REFERENCE_BATCH,
            validation_data=(x_val, y_val),
            shuffle=True,
            verbose=0,
        ).history
        return model, {key: float(values[-1]) for key, values in history.items()}, None
    logs = fit(
        TrainingEngine(path),
        FitRequest(
            model=model,
            x_train=x_train,
            y_train=y_train,
            x_val=x_val,
            y_val=y_val,
            epochs=epochs,
            batch_size=REFERENCE_BATCH,
            seed=seed,
            augment=AugmentConfig(),
        ),
    )
    final = {key: value for key, value in logs[-1].as_dict().items() if key != "seconds"}
    return model, final, logs[0].seconds


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _version(*names: str) -> str:
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(name)
    return "not installed"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    with contextlib.suppress(OSError):
        return [round(value, 2) for value in os.getloadavg()]
    return []


def nproc() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "nproc": nproc(),
        "cpu": cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": _version("tensorflow", "tensorflow-cpu"),
        "keras": _version("keras"),
        "scikit-learn": _version("scikit-learn"),
        "digitcli": _version("digitcli"),
        "load_average_at_start": load_average(),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table: left-aligned columns separated by two spaces."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


@contextlib.contextmanager
def step(title: str) -> Iterator[None]:
    """Announce a benchmark on stderr and say how long it took."""
    print(f"== {title} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    yield
    print(f"   done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
