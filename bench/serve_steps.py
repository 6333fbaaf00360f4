"""CPU time of each step of one `digitcli serve` prediction, in one process, without HTTP.

The pictures are serve_load.py's: 280x280 RGBA canvas PNGs of MNIST test digits. Each step runs
alone over every picture, several rounds, timed with the process's CPU clock (`time.process_time`),
so the figures hold on a busy machine better than wall time: decoding the PNG (`decode_image`),
the scene check (`nondigit.scene_reason`), reading the digit (`preprocess.read_digits`), the
network on its 20x20 image (the classifier), and `Predictor.predict` whole (all of these plus the
record). HTTP and the server's threads come on top (serve_load.py's "server CPU ms/request").

    .venv/bin/python bench/serve_steps.py --model builtin [--rounds 5] [--json]
"""

from __future__ import annotations

import os

# As `digitcli serve` does, before NumPy loads: BLAS threads only spin on these tiny matrices.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import _common

PICTURES = 200


def _cpu_ms(step: Callable[[int], object], count: int, rounds: int) -> float:
    """Process CPU milliseconds per call of `step(i)` for i in range(count), over `rounds` rounds."""
    for index in range(min(count, 10)):  # warm caches and lazy imports
        step(index)
    started = time.process_time()
    for _ in range(rounds):
        for index in range(count):
            step(index)
    return (time.process_time() - started) * 1000 / (count * rounds)


def run(model: Path, rounds: int = 5) -> dict[str, Any]:
    from serve_load import canvas_pngs

    from digitcli.imaging import decode_image
    from digitcli.nondigit import scene_reason
    from digitcli.preprocess import read_digits
    from digitcli.runs import resolve_model
    from digitcli.serve.limits import DEFAULT_MAX_PIXELS
    from digitcli.serve.service import Predictor

    pictures, labels = canvas_pngs(PICTURES)
    predictor = Predictor(resolve_model(model, builtin_fallback=True))
    grays = [decode_image(data) for data in pictures]
    digits = [read_digits(gray)[0].image.reshape(1, -1) for gray in grays]
    steps: dict[str, Callable[[int], object]] = {
        "decode the PNG": lambda i: decode_image(pictures[i]),
        "scene check": lambda i: scene_reason(grays[i]),
        "read the digit (read_digits)": lambda i: read_digits(grays[i]),
        "the network (one 20x20 image)": lambda i: predictor.classifier(digits[i]),
        "Predictor.predict (all, plus the record)": lambda i: predictor.predict(
            pictures[i], max_pixels=DEFAULT_MAX_PIXELS
        ),
    }
    answers = [predictor.predict(data, max_pixels=DEFAULT_MAX_PIXELS) for data in pictures]
    return {
        "machine": _common.machine(),
        "model": predictor.name,
        "pictures": len(pictures),
        "rounds": rounds,
        "accuracy": sum(a["digit"] == y for a, y in zip(answers, labels, strict=True))
        / len(labels),
        "cpu_ms": {
            name: round(_cpu_ms(step, len(pictures), rounds), 3) for name, step in steps.items()
        },
        "load_average_at_end": _common.load_average(),
    }


def report(results: dict[str, Any]) -> str:
    rows: Sequence[Sequence[Any]] = [
        [name, f"{value:.2f}"] for name, value in results["cpu_ms"].items()
    ]
    machine = results["machine"]
    return "\n".join(
        [
            _common.markdown_table(["step", "CPU ms per picture"], rows),
            "",
            f"model {results['model']}; {results['pictures']} canvas PNGs x {results['rounds']} "
            f"rounds; {results['accuracy']:.1%} read right; load average "
            f"{machine['load_average_at_start']} at start, {results['load_average_at_end']} at "
            "the end.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("builtin"), help="a run, or builtin")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the pictures per step")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    results = run(args.model, args.rounds)
    print(json.dumps(results) if args.json else report(results))


if __name__ == "__main__":
    main()
