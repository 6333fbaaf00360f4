"""Training speed of a small CNN: `model.fit` against the fast engine, in the same process.

10,000 canonical MNIST training images, batch size 32, 1,000 validation images, a small
convolutional network (below). Three paths train the same freshly built model (same seed, same
batches): digitcli's `train.engine: keras` (plain `model.fit`, one epoch per call), and the fast
engine (the whole epoch in one compiled tf.function) on TensorFlow's default multi-threaded
executor, which `train` uses for convolutional models, and on the single-threaded executor it uses
for Dense-only ones. Each path runs EPOCHS epochs; the first includes tracing, so the figure is the
median of the later epochs. Paths alternate over repeats, so a busy machine slows all alike.

    .venv/bin/python bench/train_conv.py [--epochs 3] [--repeats 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

import _common
import numpy as np

TRAIN_IMAGES = 10_000
VALIDATION_IMAGES = 1_000
BATCH = 32
LAYERS: list[dict[str, Any]] = [
    {"type": "conv2d", "filters": 16, "kernel_size": 3},
    {"type": "max_pool"},
    {"type": "conv2d", "filters": 32, "kernel_size": 3},
    {"type": "max_pool"},
    {"type": "flatten"},
    {"units": 64},
    {"units": 10, "activation": "linear"},
]
PATHS = {  # name: (engine, parallel_ops)
    "model.fit": ("keras", False),
    "fast, default executor": ("fast", True),
    "fast, single-threaded executor": ("fast", False),
}


def _data(train_images: int) -> tuple[np.ndarray, ...]:
    def build() -> dict[str, np.ndarray]:
        from digitcli.data import to_canonical

        end = TRAIN_IMAGES + VALIDATION_IMAGES
        with np.load(_common.require_mnist()) as archive:
            images = archive["x_train"][:end].astype(np.float32) / 255.0
            labels = archive["y_train"][:end].astype(np.int32)
        return {"x": to_canonical(images), "y": labels}

    data = _common._cached("conv_train.npz", build)
    x, y = data["x"], data["y"]
    val = slice(TRAIN_IMAGES, TRAIN_IMAGES + VALIDATION_IMAGES)
    return x[:train_images], y[:train_images], x[val], y[val]


def train_once(name: str, epochs: int, train_images: int, seed: int = 1) -> dict[str, Any]:
    from digitcli.tf_runtime import load_tensorflow

    load_tensorflow()
    import keras

    from digitcli.config import AugmentConfig, ModelConfig
    from digitcli.engines import FitRequest, fit
    from digitcli.model import build_model
    from digitcli.vocabulary import TrainingEngine

    engine, parallel_ops = PATHS[name]
    x_train, y_train, x_val, y_val = _data(train_images)
    keras.utils.set_random_seed(seed)
    model = build_model(ModelConfig.model_validate({"layers": LAYERS}))
    logs = fit(
        TrainingEngine(engine),
        FitRequest(
            model, x_train, y_train, x_val, y_val, epochs, BATCH, seed, AugmentConfig(),
            parallel_ops=parallel_ops,
        ),
    )  # fmt: skip
    return {
        "epoch_seconds": [round(log.seconds, 3) for log in logs],
        "val_accuracy": logs[-1].val_accuracy,
        "parameters": model.count_params(),
    }


def run(epochs: int = 3, repeats: int = 2, train_images: int = TRAIN_IMAGES) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in PATHS}
    for _ in range(repeats):
        for name in PATHS:
            runs[name].append(train_once(name, epochs, train_images))
    summary: dict[str, Any] = {
        "recipe": {"train_images": train_images, "batch_size": BATCH, "epochs": epochs},
        "layers": LAYERS,
        "parameters": runs["model.fit"][0]["parameters"],
        "runs": runs,
        "epoch_seconds": {},
    }
    for name, results in runs.items():
        later = [s for result in results for s in result["epoch_seconds"][1:]]
        summary["epoch_seconds"][name] = statistics.median(later)
    fit_seconds = summary["epoch_seconds"]["model.fit"]
    summary["speedup"] = {
        name: fit_seconds / seconds for name, seconds in summary["epoch_seconds"].items()
    }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="2,000 images, 2 epochs, 1 repeat")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        summary = run(epochs=2, repeats=1, train_images=2_000)
    else:
        summary = run(args.epochs, args.repeats)
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    recipe = summary["recipe"]
    print(
        f"small CNN ({summary['parameters']:,} parameters), {recipe['train_images']:,} images, "
        f"batch {recipe['batch_size']}: seconds per epoch (median after the first epoch)"
    )
    for name, seconds in summary["epoch_seconds"].items():
        ratio = summary["speedup"][name]
        final = statistics.mean(run["val_accuracy"] for run in summary["runs"][name])
        print(f"  {name:32s} {seconds:6.2f} s  {ratio:4.2f}x model.fit  val_accuracy {final:.4f}")


if __name__ == "__main__":
    main()
