"""Training speed on full MNIST (54,000 training images) with digitcli's own `train` path.

Runs `digitcli.trainer.train` with configs/mnist.yaml, `data.path` set to the local mnist.npz and
a few epochs, in a fresh process whose peak memory is recorded. Reports images per second over
all epochs (the first includes tracing) and in the steady state, and the time spent outside the
epochs (loading and canonicalizing 70,000 images, saving the run, scoring it).

    .venv/bin/python bench/train_mnist.py [--quick] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common


def train_once(epochs: int, limit: int | None, output: Path) -> dict[str, Any]:
    from digitcli.config import load_config
    from digitcli.trainer import train

    overrides = [
        f"data.path={_common.require_mnist()}",
        f"train.epochs={epochs}",
        f"output.dir={output}",
    ]
    if limit:
        overrides.append(f"data.limit={limit}")
    config = load_config(_common.REPO / "configs" / "mnist.yaml", overrides)
    started = time.perf_counter()
    result = train(config, label="bench-mnist")
    epoch_seconds = [log.seconds for log in result.history]
    return {
        "run_dir": str(result.run_dir),
        "engine": config.train.engine.value,
        "epochs": epochs,
        "sizes": result.dataset_sizes,
        "wall_seconds": time.perf_counter() - started,
        "epoch_seconds": epoch_seconds,
        "val_accuracy": result.history[-1].val_accuracy,
        "test_accuracy": result.metrics["test"]["accuracy"],
    }


def run(output: Path, quick: bool = False, epochs: int = 3) -> dict[str, Any]:
    """Train into `output` (the run is kept there for the prediction benchmarks)."""
    epochs = 1 if quick else epochs
    command = [sys.executable, __file__, "--child", str(output), "--epochs", str(epochs)]
    if quick:
        command += ["--limit", "5000"]
    child = _common.run_child(command)
    figures: dict[str, Any] = child.json()
    epoch_seconds = figures["epoch_seconds"]
    train_images = figures["sizes"]["train"]
    steady = epoch_seconds[1:] or epoch_seconds
    figures.update(
        process_seconds=round(child.seconds, 2),
        max_rss_mb=round(child.max_rss_mb, 1),
        train_seconds=round(sum(epoch_seconds), 3),
        images_per_second=round(train_images * len(epoch_seconds) / sum(epoch_seconds)),
        steady_images_per_second=round(train_images / _common.median(steady)),
        other_seconds=round(figures["wall_seconds"] - sum(epoch_seconds), 2),
    )
    return figures


def report(figures: dict[str, Any]) -> str:
    rows = [
        ["training images", f"{figures['sizes']['train']:,}"],
        ["epochs", figures["epochs"]],
        ["seconds per epoch", ", ".join(f"{s:.2f}" for s in figures["epoch_seconds"])],
        ["images/s (all epochs)", f"{figures['images_per_second']:,}"],
        ["images/s (after the first)", f"{figures['steady_images_per_second']:,}"],
        ["outside the epochs (s)", f"{figures['other_seconds']:.1f}"],
        ["process wall (s)", f"{figures['process_seconds']:.1f}"],
        ["peak RSS (MB)", f"{figures['max_rss_mb']:.0f}"],
        ["test accuracy", f"{figures['test_accuracy']:.4f}"],
    ]
    return f"Full MNIST, engine {figures['engine']}\n" + _common.table(["measure", "value"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 images, 1 epoch")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(train_once(args.epochs, args.limit, args.child)))
        return
    with tempfile.TemporaryDirectory(prefix="digitcli-bench-") as folder:
        print(report(run(Path(folder), args.quick, args.epochs)))


if __name__ == "__main__":
    main()
