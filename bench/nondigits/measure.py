"""How often `predict` rejects what is not a digit, and how often it rejects real digits.

    python bench/nondigits/measure.py RUN [--nondigits DIR] [--real DIR] [--out DIR]

RUN is a run directory (or results folder). Every picture goes through `predict` exactly as a user's
would (`predict_inputs`, the NumPy engine, calibrated confidence, the no-digit checks), once, with
no confidence threshold; the thresholds are then applied to the recorded confidences. An answer is
*rejected* when predict says "no digit found" (status no_digit) or when its confidence is below the
threshold (status unsure).

- Non-digits: the set written by `make_set.py --purpose measure` (default
  bench/nondigits/images/measure/): the share rejected, per kind.
- Real digits, per set of ../shared/data/real: photos/ and drawn_28px/ (image files), and the TEST
  splits of usps, optdigits and semeion (as .npy arrays, like a user's): accuracy, the share
  rejected, the share of right answers rejected (the cost) and of wrong answers rejected (the
  benefit: an unsure wrong answer is not a silent mistake).

The threshold table is what the default of `--min-confidence` was chosen from: on the public test
splits (usps, optdigits, semeion) only, never picture by picture on the evaluation-only photos and
drawings. Writes results.md and results.json into --out (default bench/nondigits/output/).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitcli.predict import InputItem, PredictionRecord, load_classifier, predict_inputs
from digitcli.runs import resolve_model
from digitcli.vocabulary import DEFAULT_MIN_CONFIDENCE

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_REAL = REPO.parent / "shared" / "data" / "real"
THRESHOLDS = (*(round(0.05 * step, 2) for step in range(20)), 0.99)
PUBLIC_SPLITS = ("usps", "optdigits", "semeion")
# A model's threshold for comparisons: the largest of THRESHOLDS at which at most this share of the
# public test splits' digits is rejected (photos/ and drawn_28px/ never choose it).
PUBLIC_REJECTION_BUDGET = 0.02


@dataclass(frozen=True)
class Answer:
    group: str  # a non-digit kind, or a real set
    name: str  # glyph for non-digits
    label: int | None  # the true digit (None: not a digit)
    digit: int | None  # predict's answer (None: no digit found, an error, or several digits)
    confidence: float  # 0 when there is no answer; several digits: the product of theirs
    status: str

    def rejected(self, threshold: float) -> bool:
        # A reading of several digits ("00" for a %) is an answer, not a rejection: it is rejected
        # only when unsure, like a single digit. Predicted with no threshold, a record is "unsure"
        # only for reasons that hold at every threshold (pieces sharing their columns).
        return self.status in ("no_digit", "error", "unsure") or self.confidence < threshold


def _answers(
    records: Sequence[PredictionRecord], meta: Sequence[tuple[str, str, int | None]]
) -> list[Answer]:
    return [
        Answer(group, name, label, r.digit, r.confidence or 0.0, str(r.status))
        for r, (group, name, label) in zip(records, meta, strict=True)
    ]


def nondigit_items(folder: Path) -> tuple[list[InputItem], list[tuple[str, str, int | None]]]:
    items, meta = [], []
    with (folder / "labels.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            items.append(InputItem(folder / row["path"], row["path"]))
            meta.append((row["kind"], row["glyph"], None))
    return items, meta


def real_items(
    real: Path, scratch: Path
) -> tuple[list[InputItem], list[tuple[str, str, int | None]]]:
    items: list[InputItem] = []
    meta: list[tuple[str, str, int | None]] = []
    for name in ("photos", "drawn_28px"):
        for path in sorted((real / name).glob("*/*.png")):
            items.append(InputItem(path, str(path)))
            meta.append((name, path.name, int(path.parent.name)))
    scratch.mkdir(parents=True, exist_ok=True)
    for name in PUBLIC_SPLITS:
        with np.load(real / f"{name}.npz") as archive:
            x, y = archive["x_test"], archive["y_test"]
        array = scratch / f"{name}_test.npy"
        np.save(array, x)
        items.append(InputItem(array, str(array), "npy"))
        meta.extend((f"{name} test", str(index), int(label)) for index, label in enumerate(y))
    return items, meta


def _share(count: int, total: int) -> float:
    return count / total if total else float("nan")


def summarise(answers: Sequence[Answer], threshold: float) -> dict[str, dict[str, float]]:
    groups: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        groups[answer.group].append(answer)
    summary: dict[str, dict[str, float]] = {}
    for group, members in groups.items():
        rejected = [a for a in members if a.rejected(threshold)]
        entry: dict[str, float] = {
            "n": len(members),
            "rejected": _share(len(rejected), len(members)),
            "no_digit": _share(sum(a.status == "no_digit" for a in members), len(members)),
        }
        if members[0].label is not None:
            right = [a for a in members if a.digit == a.label]
            wrong = [a for a in members if a.digit != a.label]
            kept = [a for a in members if not a.rejected(threshold)]
            entry |= {
                "accuracy": _share(len(right), len(members)),
                "right_rejected": _share(sum(a.rejected(threshold) for a in right), len(members)),
                "wrong_rejected": _share(sum(a.rejected(threshold) for a in wrong), len(wrong)),
                "accuracy_kept": _share(sum(a.digit == a.label for a in kept), len(kept)),
            }
        summary[group] = entry
    return summary


def pooled(answers: Sequence[Answer], threshold: float) -> float:
    return _share(sum(a.rejected(threshold) for a in answers), len(answers))


def is_public(answer: Answer) -> bool:
    return answer.label is not None and answer.group.split()[0] in PUBLIC_SPLITS


def budget_threshold(answers: Sequence[Answer]) -> float:
    """The largest threshold that rejects at most PUBLIC_REJECTION_BUDGET of the public splits."""
    public = [a for a in answers if is_public(a)]
    within = [t for t in THRESHOLDS if pooled(public, t) <= PUBLIC_REJECTION_BUDGET]
    return max(within, default=0.0)


def report(answers: Sequence[Answer], run: Path, threshold: float) -> str:
    fake = [a for a in answers if a.label is None]
    real = [a for a in answers if a.label is not None]
    public = [a for a in real if is_public(a)]
    chosen = budget_threshold(answers)
    lines = [
        f"run: {run}",
        "",
        "Share rejected (no digit found, or confidence below the threshold):",
        "",
        "| --min-confidence | non-digits | real digits (all sets) | public test splits "
        "| right answers rejected (public) | wrong answers rejected (public) "
        "| rejected answers that were wrong (public) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in THRESHOLDS:
        right = [a for a in public if a.digit == a.label]
        wrong = [a for a in public if a.digit != a.label]
        lines.append(
            f"| {t:g} | {pooled(fake, t):.1%} | {pooled(real, t):.1%} | {pooled(public, t):.1%} "
            f"| {_share(sum(a.rejected(t) for a in right), len(public)):.1%} "
            f"| {pooled(wrong, t):.1%} "
            f"| {_share(sum(a.rejected(t) for a in wrong), sum(a.rejected(t) for a in public)):.0%} |"
        )
    lines += [
        "",
        f"Largest threshold rejecting <= {PUBLIC_REJECTION_BUDGET:.0%} of the public test splits: "
        f"{chosen:g} (non-digits rejected {pooled(fake, chosen):.1%}, public digits rejected "
        f"{pooled(public, chosen):.1%}, all real digits rejected {pooled(real, chosen):.1%}).",
        "",
        f"Per set at --min-confidence {threshold:g}:",
        "",
        "| set | images | rejected | of which no digit found | accuracy | right answers rejected "
        "| wrong answers rejected | accuracy of the answers kept |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for group, entry in summarise(answers, threshold).items():
        extra = (
            f"{entry['accuracy']:.1%} | {entry['right_rejected']:.1%} | "
            f"{entry['wrong_rejected']:.1%} | {entry['accuracy_kept']:.1%}"
            if "accuracy" in entry
            else "- | - | - | -"
        )
        lines.append(
            f"| {group} | {int(entry['n'])} | {entry['rejected']:.1%} | {entry['no_digit']:.1%} "
            f"| {extra} |"
        )
    passed: dict[str, int] = defaultdict(int)
    totals: dict[str, int] = defaultdict(int)
    for a in fake:
        totals[a.name] += 1
        passed[a.name] += not a.rejected(threshold)
    worst = sorted(totals, key=lambda g: -passed[g] / totals[g])[:12]
    lines += [
        "",
        "Non-digits most often read as a digit: "
        + ", ".join(f"{g} {passed[g]}/{totals[g]}" for g in worst if passed[g]),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--nondigits", type=Path, default=HERE / "images" / "measure")
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--out", type=Path, default=HERE / "output")
    parser.add_argument(
        "--min-confidence",
        default=str(DEFAULT_MIN_CONFIDENCE),
        help="the per-set table's threshold (default %(default)s); 'run': the run's own "
        "(calibration.json); 'budget': the largest rejecting <= 2%% of the public test splits",
    )
    args = parser.parse_args(argv)
    if not (args.nondigits / "labels.csv").is_file():
        sys.exit(f"{args.nondigits}: no labels.csv; run bench/nondigits/make_set.py first")
    files = resolve_model(args.run)
    classifier = load_classifier(files)
    fake_items, fake_meta = nondigit_items(args.nondigits)
    real_list, real_meta = real_items(args.real, args.out / "scratch")
    items = [*fake_items, *real_list]
    records = list(predict_inputs(items, classifier, min_confidence=0.0))
    answers = _answers(records, [*fake_meta, *real_meta])
    if args.min_confidence == "budget":
        threshold = budget_threshold(answers)
    elif args.min_confidence == "run":
        threshold = classifier.min_confidence
    else:
        threshold = float(args.min_confidence)
    text = report(answers, files.run_dir or args.run, threshold)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text, encoding="utf-8")
    (args.out / "results.json").write_text(
        json.dumps(
            {
                "run": str(files.run_dir or args.run),
                "temperature": classifier.temperature,
                "min_confidence": threshold,
                "run_min_confidence": classifier.min_confidence,
                "budget_threshold": budget_threshold(answers),
                "sets": summarise(answers, threshold),
                "thresholds": {
                    str(t): {
                        "nondigits": pooled([a for a in answers if a.label is None], t),
                        "real": pooled([a for a in answers if a.label is not None], t),
                    }
                    for t in THRESHOLDS
                },
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    print(text, end="")


if __name__ == "__main__":
    main()
