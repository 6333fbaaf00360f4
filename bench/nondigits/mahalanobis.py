"""A post-hoc non-digit detector measured, not adopted: Mahalanobis distance on hidden features.

    python bench/nondigits/mahalanobis.py [--model DIR] [--recipe YAML] [--layer -2]
        [--percentile 99] [--min-confidence 0.84] [--nondigits DIR] [--real DIR] [--out DIR]

Lee et al. 2018 ("A simple unified framework for detecting out-of-distribution samples"), without
input perturbation and without retraining: the class means and one shared covariance of a hidden
layer's outputs (`--layer`, an index into `NumpyModel.layer_outputs`; -2: the dense layer before
the logits) are fitted on the TRAINING images of the recipe (`--recipe`, as loaded by training,
without augmentation); a picture's score is its smallest squared distance to a class mean; the
rejection threshold is the `--percentile` of the VALIDATION digits' scores (never the measured
non-digits, photos/ or drawn_28px/).

Every picture then goes through `predict` as in measure.py; an image whose score is above the
threshold gets uniform probabilities (confidence 0.1), so it is rejected at any --min-confidence
above 0.1, on top of the confidence threshold. (Its "accuracy" in the per-set table is therefore
not the network's: a uniform answer reads as 0.) Writes results.md into --out.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from measure import DEFAULT_REAL, HERE, _answers, nondigit_items, real_items, report

from digitcli.bundling import RECIPE, recipe_config
from digitcli.calibration import calibrated_probabilities
from digitcli.data import load_dataset
from digitcli.inference import NumpyModel
from digitcli.predict import load_classifier, predict_inputs
from digitcli.runs import resolve_model

BUNDLED = HERE.parents[1] / "src" / "digitcli" / "bundled" / "real-pictures"


def features(model: NumpyModel, x: np.ndarray, layer: int, step: int = 2048) -> np.ndarray:
    parts = [model.layer_outputs(x[s : s + step])[layer] for s in range(0, len(x), step)]
    return np.concatenate(parts).reshape(len(x), -1).astype(np.float64)


def fit(feats: np.ndarray, labels: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Class means and the precision (pseudo-inverse) of the shared, class-centred covariance."""
    means = np.stack([feats[labels == c].mean(axis=0) for c in range(classes)])
    centred = feats - means[labels]
    return means, np.linalg.pinv(centred.T @ centred / len(feats))


def scores(feats: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """min over classes of (f - mu_c)^T P (f - mu_c)."""
    diff = feats[:, None, :] - means[None]
    return np.asarray(np.einsum("nci,nci->nc", diff @ precision, diff).min(axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--layer", type=int, default=-2)
    parser.add_argument("--percentile", type=float, default=99.0)
    parser.add_argument("--min-confidence", type=float, default=0.84)
    parser.add_argument("--nondigits", type=Path, default=HERE / "images" / "measure")
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--out", type=Path, default=HERE / "output" / "mahalanobis")
    args = parser.parse_args()
    config = recipe_config(args.recipe)
    dataset = load_dataset(config.data, config.seed)
    files = resolve_model(args.model)
    base = load_classifier(files)
    if files.weights is None:
        raise SystemExit(f"{args.model}: no weights.npz")
    model = NumpyModel.load(files.weights)
    means, precision = fit(
        features(model, dataset.train.x, args.layer), dataset.train.y, model.num_classes
    )
    validation = scores(features(model, dataset.validation.x, args.layer), means, precision)
    threshold = float(np.percentile(validation, args.percentile))

    def classify(pixels: np.ndarray) -> np.ndarray:
        outputs = model.layer_outputs(np.asarray(pixels, dtype=np.float32))
        far = scores(outputs[args.layer].reshape(len(pixels), -1), means, precision) > threshold
        probabilities = calibrated_probabilities(outputs[-1], base.temperature)
        probabilities[far] = 1.0 / model.num_classes
        return probabilities

    fake, fake_meta = nondigit_items(args.nondigits)
    real, real_meta = real_items(args.real, args.out / "scratch")
    records = list(
        predict_inputs([*fake, *real], replace(base, classify=classify), min_confidence=0)
    )
    text = report(_answers(records, [*fake_meta, *real_meta]), args.model, args.min_confidence)
    settings = {"layer": args.layer, "percentile": args.percentile, "threshold": threshold}
    text = f"Mahalanobis detector: {json.dumps(settings)}\n\n{text}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
