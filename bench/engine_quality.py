"""Equal quality: the fast engine against plain `model.fit`, over several seeds.

For each seed both start from the same freshly built model (`digitcli.model.build_model` after
`keras.utils.set_random_seed(seed)`) and train the reference recipe (5,000 canonical MNIST images,
40 epochs, batch size 32, 1,000 validation images):

- reference: `model.fit(x, y, epochs=40, batch_size=32, validation_data=..., shuffle=True)`;
- digitcli: `digitcli.engines.fit(TrainingEngine.fast, ...)`, which shuffles with its own seeded order.

The criterion: the mean final validation accuracy of the fast engine is within 0.5 percentage points
of model.fit's. Accuracy on MNIST's 10,000 test images is shown too (a less noisy measure). The two
paths see the same data in different orders, so per-seed differences are training noise; the
paired standard error says how much of the mean difference noise alone explains.

    .venv/bin/python bench/engine_quality.py [--quick] [--seeds 1 2 3 4 5]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from typing import Any

import _common
import numpy as np

TOLERANCE_PP = 0.5


def _train(path: str, seed: int, epochs: int, data: tuple[np.ndarray, ...]) -> dict[str, Any]:
    x_test, y_test = data[4], data[5]
    started = time.perf_counter()
    model, final, _ = _common.train_reference_model(path, seed, epochs, data)
    seconds = time.perf_counter() - started
    predicted = np.argmax(model.predict(x_test, batch_size=4096, verbose=0), axis=1)
    return {
        "val_accuracy": final["val_accuracy"],
        "test_accuracy": float(np.mean(predicted == y_test)),
        "seconds": seconds,
    }


def run(quick: bool = False, seeds: list[int] | None = None) -> dict[str, Any]:
    from digitcli.tf_runtime import load_tensorflow

    load_tensorflow()
    seeds = seeds or ([1, 2] if quick else [1, 2, 3, 4, 5])
    epochs = 5 if quick else _common.REFERENCE_EPOCHS
    data = (*_common.reference_data(), *_common.mnist_test())
    per_seed = []
    for seed in seeds:
        reference = _train("model.fit", seed, epochs, data)
        fast = _train("fast", seed, epochs, data)
        per_seed.append({"seed": seed, "model.fit": reference, "fast": fast})

    def mean(path: str, key: str) -> float:
        return statistics.fmean(row[path][key] for row in per_seed)

    differences = [
        100 * (row["fast"]["val_accuracy"] - row["model.fit"]["val_accuracy"]) for row in per_seed
    ]
    difference = statistics.fmean(differences)
    standard_error = (
        statistics.stdev(differences) / math.sqrt(len(differences))
        if len(differences) > 1
        else math.nan
    )
    return {
        "epochs": epochs,
        "seeds": seeds,
        "per_seed": per_seed,
        "mean_val_accuracy": {path: mean(path, "val_accuracy") for path in ("model.fit", "fast")},
        "mean_test_accuracy": {path: mean(path, "test_accuracy") for path in ("model.fit", "fast")},
        "mean_seconds": {path: mean(path, "seconds") for path in ("model.fit", "fast")},
        "difference_pp": round(difference, 3),
        "difference_standard_error_pp": round(standard_error, 3),
        "test_difference_pp": round(
            100 * (mean("fast", "test_accuracy") - mean("model.fit", "test_accuracy")), 3
        ),
        "tolerance_pp": TOLERANCE_PP,
        "within_tolerance": abs(difference) <= TOLERANCE_PP,
    }


def report(result: dict[str, Any]) -> str:
    rows = [
        [
            row["seed"],
            f"{row['model.fit']['val_accuracy']:.4f}",
            f"{row['fast']['val_accuracy']:.4f}",
            f"{100 * (row['fast']['val_accuracy'] - row['model.fit']['val_accuracy']):+.2f}",
            f"{row['model.fit']['test_accuracy']:.4f}",
            f"{row['fast']['test_accuracy']:.4f}",
            f"{row['model.fit']['seconds']:.1f}",
            f"{row['fast']['seconds']:.1f}",
        ]
        for row in result["per_seed"]
    ]
    val, test, seconds = (
        result["mean_val_accuracy"],
        result["mean_test_accuracy"],
        result["mean_seconds"],
    )
    rows.append(
        [
            "mean",
            f"{val['model.fit']:.4f}",
            f"{val['fast']:.4f}",
            f"{result['difference_pp']:+.2f}",
            f"{test['model.fit']:.4f}",
            f"{test['fast']:.4f}",
            f"{seconds['model.fit']:.1f}",
            f"{seconds['fast']:.1f}",
        ]
    )
    headers = ["seed", "fit val", "fast val", "diff pp", "fit test", "fast test", "fit s", "fast s"]
    verdict = "within" if result["within_tolerance"] else "OUTSIDE"
    return (
        f"Engine quality: {len(result['seeds'])} seeds, {result['epochs']} epochs "
        f"(val: 1,000 images; test: MNIST's 10,000)\n"
        + _common.table(headers, rows)
        + f"\nfast - model.fit, mean final validation accuracy: {result['difference_pp']:+.2f} pp "
        f"(paired standard error {result['difference_standard_error_pp']:.2f} pp; test set: "
        f"{result['test_difference_pp']:+.2f} pp): {verdict} the {TOLERANCE_PP} pp tolerance"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 5 epochs")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds to run (default 1-5)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = run(args.quick, args.seeds)
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
