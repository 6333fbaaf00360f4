"""Accuracy on real pictures, set by set: the bundled model against the reference network on MNIST.

The table of the README and docs/accuracy.md (`make accuracy`). The reference network (400-25-15-10)
is trained by configs/mnist.yaml on the local mnist.npz, once: its run is kept in
bench/output/accuracy-runs/ and reused (--retrain trains it again). Each model is scored with the
NumPy engine on
- MNIST's test split (10,000 images),
- the test splits of USPS, optdigits and Semeion (../shared/data/real/*.npz: x_test, y_test),
- every image of photos/ and drawn_28px/ (../shared/data/real: evaluation only, never trained on),
each picture of the folders read as `predict` reads it. Writes bench/output/accuracy.{json,md}.

    .venv/bin/python bench/accuracy.py [--model builtin] [--reference RUN_DIR] [--retrain]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import shutil
import time
from pathlib import Path
from typing import Any

import _common
import numpy as np

REAL = _common.REPO.parent / "shared" / "data" / "real"
RUNS = _common.OUTPUT / "accuracy-runs"
REFERENCE_NAME = "mnist-reference"
# (row name, what it is, how to load it): npz test splits, then every image of a folder.
SETS: list[tuple[str, str, Path]] = [
    ("MNIST test", "npz", _common.MNIST_NPZ),
    ("USPS test", "npz", REAL / "usps.npz"),
    ("optdigits test", "npz", REAL / "optdigits.npz"),
    ("Semeion test", "npz", REAL / "semeion.npz"),
    ("photos (all)", "folder", REAL / "photos"),
    ("drawn_28px (all)", "folder", REAL / "drawn_28px"),
]


def load_set(kind: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Canonical images and labels: an npz's own test split, or every picture of a folder."""
    from digitcli.config import DataConfig
    from digitcli.data import load_source
    from digitcli.evaluation import load_labelled

    if kind == "folder":
        x, y, _ = load_labelled(path)
        return x, y
    _, test = load_source(DataConfig(source="npz", path=str(path)), seed=0)
    assert test is not None
    return test.x, test.y


def reference_run(given: Path | None, retrain: bool) -> Path:
    """The reference network trained on MNIST: `given`, the kept run, or a new one."""
    from digitcli.config import load_config
    from digitcli.trainer import train

    if given is not None:
        return given
    kept = RUNS / REFERENCE_NAME
    RUNS.mkdir(parents=True, exist_ok=True)
    with (RUNS / f".{REFERENCE_NAME}.lock").open("w") as lock:
        # Two `make accuracy` at once: the second waits for the first's run instead of training
        # into the same folder.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if kept.is_dir() and not retrain:
            return kept
        shutil.rmtree(kept, ignore_errors=True)
        config = load_config(
            _common.REPO / "configs" / "mnist.yaml",
            [f"data.path={_common.require_mnist()}", f"output.dir={RUNS}"],
        )
        with _common.step(f"training configs/mnist.yaml into {kept}"):
            return train(config, label=REFERENCE_NAME, name=REFERENCE_NAME).run_dir


def score(model: Path, sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    from digitcli.inference import NumpyModel
    from digitcli.runs import resolve_model

    files = resolve_model(model)
    assert files.weights is not None
    network = NumpyModel.load(files.weights)
    scores: dict[str, Any] = {}
    for name, (x, y) in sets.items():
        predicted = np.argmax(network.logits(x), axis=1)
        errors = int(np.count_nonzero(predicted != y))
        scores[name] = {"accuracy": (len(y) - errors) / len(y), "errors": errors, "total": len(y)}
    return {"model": files.label, "scores": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("builtin"), help="default: builtin")
    parser.add_argument("--reference", type=Path, default=None, help="a run of configs/mnist.yaml")
    parser.add_argument("--retrain", action="store_true", help="train the reference again")
    args = parser.parse_args()

    started = time.perf_counter()
    with _common.step("loading the sets"):
        sets = {name: load_set(kind, path) for name, kind, path in SETS}
    reference = reference_run(args.reference, args.retrain)
    columns = {
        f"{args.model}" if str(args.model) != "builtin" else "bundled model (builtin)": score(
            args.model, sets
        ),
        "reference 400-25-15-10 (configs/mnist.yaml)": score(reference, sets),
    }
    headers = ["set", "images", *columns]
    rows = [
        [
            name,
            f"{len(sets[name][1]):,}",
            *(f"{100 * entry['scores'][name]['accuracy']:.2f}%" for entry in columns.values()),
        ]
        for name in sets
    ]
    print(_common.table(headers, rows))
    _common.OUTPUT.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": _common.machine(),
        "seconds": round(time.perf_counter() - started, 1),
        "models": columns,
    }
    (_common.OUTPUT / "accuracy.json").write_text(json.dumps(document, indent=2) + "\n")
    (_common.OUTPUT / "accuracy.md").write_text(_common.markdown_table(headers, rows) + "\n")
    print(f"wrote {_common.OUTPUT / 'accuracy.md'} and accuracy.json")


if __name__ == "__main__":
    main()
