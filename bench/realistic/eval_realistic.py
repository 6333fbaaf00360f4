"""Accuracy of a trained run on the realistic test set, per kind, and on MNIST's test images.

    python bench/realistic/eval_realistic.py RUN_DIR [--images DIR] [--sheet OUT.png] [--mnist NPZ]

RUN_DIR holds `weights.npz`. Each image listed in DIR/labels.csv (see make_testset.py) goes through
`load_image` and `canonicalize` with `--invert auto`, exactly as `digitcli predict` reads a file.
`--sheet` writes the canonical 20x20 images as an upscaled contact sheet, one row per kind, with a
red mark under each wrong prediction, for eyeballing what the preprocessing did.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from digitcli.errors import DigitcliError
from digitcli.imaging import load_image
from digitcli.inference import NumpyModel
from digitcli.preprocess import canonicalize, canonicalize_batch
from digitcli.runs import resolve_run
from digitcli.vocabulary import IMAGE_SHAPE, IMAGE_SIDE, Invert

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_IMAGES = HERE / "images"
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist" / "mnist.npz"


def load_testset(folder: Path) -> list[tuple[Path, int, str]]:
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise SystemExit(f"{labels} not found: run bench/realistic/make_testset.py {folder} first")
    with labels.open(newline="") as handle:
        return [
            (folder / row["path"], int(row["label"]), row["kind"]) for row in csv.DictReader(handle)
        ]


def canonical_images(items: Sequence[tuple[Path, int, str]]) -> tuple[np.ndarray, list[str | None]]:
    """Canonical images (zeros where reading failed) and the error message of each failed one."""
    images = np.zeros((len(items), *IMAGE_SHAPE), np.float32)
    errors: list[str | None] = []
    for index, (path, _, _) in enumerate(items):
        try:
            images[index] = canonicalize(load_image(path), Invert.auto)
            errors.append(None)
        except DigitcliError as exc:
            errors.append(exc.message)
    return images, errors


def write_sheet(
    path: Path,
    images: np.ndarray,
    kinds: Sequence[str],
    correct: np.ndarray,
    zoom: int = 3,
    columns: int = 20,
) -> None:
    """Upscaled canonical images, each kind starting a new row, a red bar under each miss."""
    cell = IMAGE_SIDE * zoom + 6
    placed: list[tuple[int, int, int]] = []  # (index, row, column)
    row = 0
    for kind in dict.fromkeys(kinds):
        indices = [i for i, k in enumerate(kinds) if k == kind]
        for n, index in enumerate(indices):
            placed.append((index, row + n // columns, n % columns))
        row += -(-len(indices) // columns)
    sheet = Image.new("RGB", (columns * cell, row * cell), (60, 60, 60))
    draw = ImageDraw.Draw(sheet)
    for index, r, c in placed:
        tile = Image.fromarray((images[index] * 255).astype(np.uint8), mode="L")
        tile = tile.resize((IMAGE_SIDE * zoom, IMAGE_SIDE * zoom), Image.Resampling.NEAREST)
        x, y = c * cell + 3, r * cell + 3
        sheet.paste(tile.convert("RGB"), (x, y))
        if not correct[index]:
            draw.rectangle(
                (x, y + IMAGE_SIDE * zoom, x + IMAGE_SIDE * zoom - 1, y + IMAGE_SIDE * zoom + 2),
                fill="red",
            )
    sheet.save(path)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run", type=Path, help="run directory, results folder or results/latest (its latest run)"
    )
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="test set folder")
    parser.add_argument("--sheet", type=Path, help="write a contact sheet of canonical images here")
    parser.add_argument(
        "--mnist", type=Path, default=DEFAULT_MNIST, help="MNIST .npz (skipped if absent)"
    )
    parser.add_argument("--errors", action="store_true", help="list every misread image")
    args = parser.parse_args(argv)

    model = NumpyModel.load(resolve_run(args.run) / "weights.npz")
    items = load_testset(args.images)
    start = time.perf_counter()
    images, failures = canonical_images(items)
    seconds = time.perf_counter() - start
    labels = np.array([label for _, label, _ in items])
    kinds = [kind for _, _, kind in items]
    predicted = model.probabilities(images.reshape(len(images), -1)).argmax(axis=1)
    correct = (predicted == labels) & np.array([error is None for error in failures])

    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for kind, ok, error in zip(kinds, correct, failures, strict=True):
        totals[kind][0] += int(ok)
        totals[kind][1] += 1
        totals[kind][2] += int(error is not None)
    print(f"{'kind':<16} {'images':>6} {'correct':>7} {'accuracy':>8} {'unread':>6}")
    for kind, (right, count, unread) in totals.items():
        print(f"{kind:<16} {count:>6} {right:>7} {right / count:>8.1%} {unread:>6}")
    print(f"{'all':<16} {len(items):>6} {int(correct.sum()):>7} {correct.mean():>8.1%}")
    print(f"(load + canonicalize: {1000 * seconds / max(len(items), 1):.1f} ms per image)")

    if args.errors:
        for (path, label, _), guess, ok, error in zip(
            items, predicted, correct, failures, strict=True
        ):
            if not ok:
                print(f"  {path.relative_to(args.images)}: label {label}, read {error or guess}")
    if args.sheet:
        write_sheet(args.sheet, images, kinds, correct)
        print(f"contact sheet: {args.sheet}")
    if args.mnist.is_file():
        with np.load(args.mnist) as data:
            x_test, y_test = data["x_test"], data["y_test"]
        start = time.perf_counter()
        canonical = canonicalize_batch(x_test.astype(np.float32) / 255.0)
        seconds = time.perf_counter() - start
        guesses = model.probabilities(canonical.reshape(len(canonical), -1)).argmax(axis=1)
        accuracy = float(np.mean(guesses == y_test))
        print(f"MNIST test: {accuracy:.2%} of {len(y_test)} (canonicalize_batch {seconds:.2f} s)")
    else:
        print(f"MNIST test: skipped ({args.mnist} not found)")


if __name__ == "__main__":
    main()
