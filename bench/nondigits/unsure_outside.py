"""Is "unsure" mostly wrong outside the digits that chose the threshold?

    python bench/nondigits/unsure_outside.py [RUN] [--sets DIR] [--thresholds 0.35,0.5]

The bundled model's --min-confidence is chosen on the usps, optdigits and semeion test splits
pooled (`bundling.other_writers_threshold`), so the share of wrong answers among the unsure ones
there is in-sample. This measures it where nothing was chosen, per threshold:

- leave one source out: the same rule chooses on two of the three splits and is measured on the
  third (canonical arrays, calibrated probabilities, no predict rules);
- MNIST's test split (canonical arrays): writers of the training population;
- with --sets, every labelled folder that `bench/real_pipeline.py make` wrote from photos/ and
  drawn_28px/ (never used to choose anything), through `predict` as a user's pictures go: unsure
  is the status or a confidence below the threshold, wrong is a number other than the label.

RUN defaults to the bundled model; it must be trained with the bundled recipe's sources.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from digitcli.bundling import recipe_config
from digitcli.calibration import (
    OTHER_WRITERS_BUDGET,
    UNSURE_WRONG_SHARE,
    choose_min_confidence,
)
from digitcli.data import load_dataset
from digitcli.predict import Classifier, InputItem, load_classifier, predict_inputs
from digitcli.runs import resolve_model

# Sets of bench/real_pipeline.py made from the public splits (they chose the threshold).
CHOOSING_SETS = ("usps", "optdigits", "semeion")


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _unsure_wrong(
    probabilities: np.ndarray, labels: np.ndarray, threshold: float
) -> tuple[int, int]:
    below = probabilities.max(axis=1) < threshold
    wrong = probabilities.argmax(axis=1) != labels
    return int(below.sum()), int((below & wrong).sum())


def split_probabilities(classifier: Classifier) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Calibrated probabilities and labels of each recipe source's test split."""
    config = recipe_config()
    splits = {}
    for entry in config.data.sources or []:
        source = config.data.model_copy(update={"sources": [entry]})
        test = load_dataset(source, config.seed).test
        name = (
            Path(entry.path).stem
            if entry.source.value == "npz" and entry.path
            else entry.source.value
        )
        probabilities = classifier(test.x)  # calibrated with the run's temperature
        splits[name] = (probabilities, test.y)
    return splits


def leave_one_out(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[str]:
    lines = []
    for held in CHOOSING_SETS:
        rest = [name for name in CHOOSING_SETS if name != held]
        probabilities = np.concatenate([splits[name][0] for name in rest])
        labels = np.concatenate([splits[name][1] for name in rest])
        threshold = choose_min_confidence(
            probabilities, OTHER_WRITERS_BUDGET, labels, wrong_share=UNSURE_WRONG_SHARE
        )
        unsure, wrong = _unsure_wrong(*splits[held], threshold)
        total = len(splits[held][1])
        lines.append(
            f"chosen on {'+'.join(rest)}: {threshold:.2f}; {held} unsure {unsure} of {total} "
            f"({100 * unsure / total:.2f}%), wrong {wrong} ({_share(wrong, unsure)})"
        )
    return lines


def picture_sets(classifier: Classifier, root: Path, thresholds: Sequence[float]) -> list[str]:
    lines, totals = [], {t: [0, 0] for t in thresholds}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name.removesuffix("_inv") in CHOOSING_SETS:
            continue
        paths = sorted(p for p in folder.glob("*/*") if p.parent.name.isdigit())
        records = predict_inputs(
            [InputItem(p, str(p)) for p in paths], classifier, min_confidence=0.0
        )
        answers = [(r, p.parent.name) for r, p in zip(records, paths, strict=True)]
        cells = []
        for t in thresholds:
            unsure = [
                (r, label)
                for r, label in answers
                if r.status == "unsure" or (r.status == "ok" and (r.confidence or 0.0) < t)
            ]
            wrong = sum(1 for r, label in unsure if r.number != label)
            totals[t][0] += len(unsure)
            totals[t][1] += wrong
            cells.append(f"at {t}: unsure {len(unsure)}, wrong {wrong}")
        lines.append(f"{folder.name} ({len(paths)}): " + "; ".join(cells))
    for t in thresholds:
        unsure, wrong = totals[t]
        lines.append(
            f"all these sets at {t}: unsure {unsure}, wrong {wrong} ({_share(wrong, unsure)})"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, nargs="?", default=Path("builtin"))
    parser.add_argument("--sets", type=Path, help="bench/real_pipeline.py make's folder")
    parser.add_argument("--thresholds", default="run", help="comma-separated; 'run': its own")
    args = parser.parse_args(argv)
    classifier = load_classifier(resolve_model(args.run))  # loaded once for every check
    own = classifier.min_confidence
    thresholds = [own if t == "run" else float(t) for t in args.thresholds.split(",")]
    splits = split_probabilities(classifier)
    print(f"model {args.run}, its own threshold {own}")
    print("\n".join(leave_one_out(splits)))
    for t in thresholds:
        unsure, wrong = _unsure_wrong(*splits["mnist"], t)
        print(f"mnist test at {t}: unsure {unsure}, wrong {wrong} ({_share(wrong, unsure)})")
    if args.sets is not None:
        print("\n".join(picture_sets(classifier, args.sets, thresholds)))


if __name__ == "__main__":
    main()
