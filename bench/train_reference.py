"""Training speed on the reference recipe: plain `model.fit` against digitcli's default engine.

The recipe: 5,000 canonical MNIST images, 40 epochs, batch size 32, 1,000 validation images. Each
training runs in a fresh process (as a user's would), on a freshly built model from
`digitcli.model.build_model` with the same seed, and the clock covers the training call alone
(tracing included; importing TensorFlow and loading data not). Runs alternate between the two
paths so that a busy machine slows both alike; the figures are medians.

    .venv/bin/python bench/train_reference.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import _common

BASELINE = _common.BASELINE  # plain Keras model.fit, the reference
FAST = "fast"
KERAS_ENGINE = "keras"  # digitcli's `train.engine: keras`: model.fit one epoch at a time


def train_once(path: str, seed: int, epochs: int) -> dict[str, Any]:
    """Train once in this process; returns the timing and the final metrics."""
    from digitcli.tf_runtime import load_tensorflow

    load_tensorflow()
    data = _common.reference_data()
    started, cpu_started = time.perf_counter(), time.process_time()
    _, final, first_epoch = _common.train_reference_model(path, seed, epochs, data)
    return {
        "path": path,
        "seed": seed,
        "epochs": epochs,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "first_epoch_seconds": first_epoch,
        "accuracy": final["accuracy"],
        "val_accuracy": final["val_accuracy"],
        "val_loss": final["val_loss"],
    }


def _child(path: str, seed: int, epochs: int) -> dict[str, Any]:
    result = _common.run_child(
        [sys.executable, __file__, "--child", path, "--seed", str(seed), "--epochs", str(epochs)]
    )
    figures: dict[str, Any] = result.json()
    figures["max_rss_mb"] = round(result.max_rss_mb, 1)
    figures["process_seconds"] = result.seconds
    return figures


def run(quick: bool = False, seed: int = 1) -> dict[str, Any]:
    epochs = 5 if quick else _common.REFERENCE_EPOCHS
    repeats = 1 if quick else 3
    _common.reference_data()  # build the cache once, outside any timing
    paths = [BASELINE, FAST] if quick else [BASELINE, FAST, KERAS_ENGINE]
    runs: dict[str, list[dict[str, Any]]] = {path: [] for path in paths}
    for repeat in range(repeats):
        for path in paths:
            if path == KERAS_ENGINE and repeat > 0:
                continue  # shown for reference only: one run is enough
            runs[path].append(_child(path, seed, epochs))
    images = _common.REFERENCE_TRAIN * epochs
    summary: dict[str, Any] = {
        "recipe": {
            "train_images": _common.REFERENCE_TRAIN,
            "validation_images": _common.REFERENCE_VALIDATION,
            "epochs": epochs,
            "batch_size": _common.REFERENCE_BATCH,
            "seed": seed,
        },
        "repeats": repeats,
        "runs": runs,
    }
    for path, results in runs.items():
        seconds = _common.median([r["seconds"] for r in results])
        summary[path] = {
            "seconds": round(seconds, 3),
            "cpu_seconds": round(_common.median([r["cpu_seconds"] for r in results]), 3),
            "images_per_second": round(images / seconds),
            "val_accuracy": round(_common.median([r["val_accuracy"] for r in results]), 4),
            "max_rss_mb": max(r["max_rss_mb"] for r in results),
        }
    summary["speedup"] = round(summary[BASELINE]["seconds"] / summary[FAST]["seconds"], 1)
    summary["speedup_cpu"] = round(
        summary[BASELINE]["cpu_seconds"] / summary[FAST]["cpu_seconds"], 1
    )
    return summary


def report(summary: dict[str, Any]) -> str:
    recipe = summary["recipe"]
    rows = []
    for path, label in (
        (BASELINE, "plain model.fit"),
        (KERAS_ENGINE, "digitcli train.engine=keras"),
        (FAST, "digitcli train.engine=fast (default)"),
    ):
        if path in summary:
            figures = summary[path]
            rows.append(
                [
                    label,
                    f"{figures['seconds']:.2f}",
                    f"{figures['cpu_seconds']:.2f}",
                    f"{figures['images_per_second']:,}",
                    f"{figures['val_accuracy']:.4f}",
                ]
            )
    title = (
        f"Reference recipe: {recipe['train_images']:,} images x {recipe['epochs']} epochs, batch "
        f"{recipe['batch_size']} (median of {summary['repeats']})"
    )
    body = _common.table(["path", "seconds", "cpu s", "images/s", "val acc"], rows)
    ratio = f"speed-up: {summary['speedup']}x wall, {summary['speedup_cpu']}x CPU time"
    return f"{title}\n{body}\n{ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 epochs, one run each")
    parser.add_argument("--child", choices=[BASELINE, FAST, KERAS_ENGINE], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=_common.REFERENCE_EPOCHS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(train_once(args.child, args.seed, args.epochs)))
        return
    print(report(run(args.quick, args.seed)))


if __name__ == "__main__":
    main()
