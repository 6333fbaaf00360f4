"""Evaluation speed: scoring MNIST's 10,000 test images once they are loaded.

In a fresh process: the canonical test images are loaded (cached), scikit-learn's metrics imported,
then the clock covers what `digitcli evaluate` does after loading its data: reading weights.npz,
the NumPy forward pass, and the scores (accuracy, loss, per-digit precision/recall/F1, confusion
matrix) through `digitcli.evaluation.score_logits`. The first (cold) pass is reported beside the
median of the next ones. With --cli, `digitcli evaluate RUN` is also timed end to end, which
includes rebuilding the data from the run's config (for MNIST: canonicalizing 70,000 images).

    .venv/bin/python bench/evaluate_speed.py --model RUN_DIR [--quick] [--cli]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import _common


def _score_logits(logits: Any, labels: Any) -> Any:
    from types import SimpleNamespace

    import numpy as np
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from digitcli.inference import cross_entropy

    predicted = np.argmax(logits, axis=1)
    digits = list(range(10))
    precision_recall_fscore_support(labels, predicted, labels=digits, zero_division=0)
    precision_recall_fscore_support(
        labels, predicted, labels=digits, average="macro", zero_division=0
    )
    confusion_matrix(labels, predicted, labels=digits)
    cross_entropy(logits, labels)
    return SimpleNamespace(accuracy=float(np.mean(predicted == labels)))


def evaluate_once(model: Path, repeats: int) -> dict[str, Any]:
    import sklearn.metrics  # noqa: F401  (imported before the clock, as `evaluate_run` does)

    from digitcli.inference import NumpyModel

    try:
        from digitcli.evaluation import score_logits
    except ImportError:  # an older digitcli: the same metrics, straight from scikit-learn
        score_logits = _score_logits

    x, y = _common.mnist_test()
    timings = []
    accuracy = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        logits = NumpyModel.load(model / "weights.npz").logits(x)
        scores = score_logits(logits, y)
        timings.append(time.perf_counter() - started)
        accuracy = scores.accuracy
    return {"images": len(y), "timings": timings, "accuracy": accuracy}


def run(model: Path, quick: bool = False, cli: bool = False) -> dict[str, Any]:
    repeats = 3 if quick else 6
    _common.mnist_test()  # build the cache outside the child
    child = _common.run_child(
        [sys.executable, __file__, "--child", "--model", str(model), "--repeats", str(repeats)]
    )
    figures: dict[str, Any] = child.json()
    timings = figures.pop("timings")
    figures.update(
        cold_seconds=round(timings[0], 4),
        seconds=round(_common.median(timings[1:] or timings), 4),
        max_rss_mb=round(child.max_rss_mb, 1),
    )
    if cli:
        command = [*_common.digitcli_command(), "evaluate", str(model), "--json"]
        end_to_end = _common.run_child(command)
        figures["cli"] = {
            "command": " ".join(command),
            "seconds": round(end_to_end.seconds, 2),
            "ok": end_to_end.returncode == 0,
            "max_rss_mb": round(end_to_end.max_rss_mb, 1),
        }
    return figures


def report(result: dict[str, Any]) -> str:
    rows = [
        ["images", f"{result['images']:,}"],
        ["seconds after load, first pass", f"{result['cold_seconds']:.3f}"],
        ["seconds after load, median", f"{result['seconds']:.3f}"],
        ["images/s", f"{result['images'] / result['seconds']:,.0f}"],
        ["accuracy", f"{result['accuracy']:.4f}"],
    ]
    if "cli" in result:
        status = "" if result["cli"]["ok"] else " (FAILED)"
        rows.append(
            ["digitcli evaluate, end to end (s)", f"{result['cli']['seconds']:.1f}{status}"]
        )
    return "Evaluation of MNIST's test set (NumPy + scikit-learn)\n" + _common.table(
        ["measure", "value"], rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a run directory")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--cli", action="store_true", help="also time `digitcli evaluate` itself")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(evaluate_once(args.model, args.repeats)))
        return
    print(report(run(args.model, args.quick, args.cli)))


if __name__ == "__main__":
    main()
