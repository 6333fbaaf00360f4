"""Pictures of numbers (2 to 6 digits) composed from real handwritten digits, seeded.

    python bench/numbers/make_set.py [OUT_DIR] [--per-length N] [--seed S]

Each picture puts real digits side by side as a writer would: one height per number with a little
size jitter per digit, spacing from a slight overlap to a wide gap, the baseline wandering a
little, dark ink on white. Sources (`../shared/data/real`, test splits only, plus MNIST's test set
as a reference): drawn_28px, the digits cut from photos, usps, optdigits, semeion, mnist.
OUT_DIR (default bench/output/numbers) gets the PNGs and labels.csv (path, number, source, length).
Nothing here is tuned on these pictures: they measure.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
MNIST = REPO.parent / "shared" / "data" / "mnist" / "mnist.npz"
DEFAULT_OUT = REPO / "bench" / "output" / "numbers"
LENGTHS = (2, 3, 4, 5, 6)
# Digit height in the picture, pixels; each digit's own size varies by SIZE_JITTER around it.
HEIGHTS = (28, 64)
SIZE_JITTER = 0.12
# Gap between neighbouring digits as a share of the height: negative is an overlap of boxes.
GAP = (-0.05, 0.3)
BASELINE_JITTER = 0.08
MARGIN = 0.3


def _tight(ink: np.ndarray) -> np.ndarray:
    """The ink's box, its strongest ink made full strength (one pen writes the whole number)."""
    ink = ink / max(float(ink.max()), 1e-6)
    rows = np.flatnonzero(ink.max(axis=1) > 0.1)
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _folder_digits(folder: Path) -> list[tuple[np.ndarray, int]]:
    """Ink maps (1 = ink) of dark-on-light pictures, cut to the ink's box."""
    digits = []
    for path in sorted(folder.glob("*/*.png")):
        gray = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255
        paper = float(np.percentile(gray, 75))
        ink = np.clip((paper - gray) / max(paper, 0.1), 0, 1)
        ink = np.where(ink > 0.25, ink, 0.0)
        digits.append((ink, int(path.parent.name)))
    return digits


def _photo_digits() -> list[tuple[np.ndarray, int]]:
    """The digits of the photos, cut out with the photo's own box (as predict finds it)."""
    from digitcli.imaging import load_image
    from digitcli.preprocess.pipeline import read_digits

    digits = []
    for path in sorted((REAL / "photos").glob("*/*.png")):
        gray = load_image(path)
        x0, y0, x1, y1 = read_digits(gray)[0].box
        crop = gray[y0:y1, x0:x1]
        paper = float(np.percentile(gray, 75))
        ink = np.clip((paper - crop) / max(paper, 0.1) * 1.5, 0, 1)
        digits.append((np.where(ink > 0.3, ink, 0.0), int(path.parent.name)))
    return digits


def _npz_digits(path: Path) -> list[tuple[np.ndarray, int]]:
    data = np.load(path)
    return [
        (x.astype(np.float32) / 255, int(y))
        for x, y in zip(data["x_test"], data["y_test"], strict=True)
    ]


def sources() -> dict[str, list[tuple[np.ndarray, int]]]:
    return {
        "drawn_28px": _folder_digits(REAL / "drawn_28px"),
        "photos": _photo_digits(),
        "usps": _npz_digits(REAL / "usps.npz"),
        "optdigits": _npz_digits(REAL / "optdigits.npz"),
        "semeion": _npz_digits(REAL / "semeion.npz"),
        "mnist": _npz_digits(MNIST),
    }


def _resize(ink: np.ndarray, height: int) -> np.ndarray:
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    image = Image.fromarray(ink.astype(np.float32), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def compose(rng: np.random.Generator, digits: list[np.ndarray]) -> np.ndarray:
    """The digits (ink maps) side by side on white paper, as a uint8 greyscale picture."""
    height = int(rng.integers(*HEIGHTS))
    placed = []
    x = 0.0
    for ink in digits:
        size = max(6, round(height * (1 + rng.uniform(-SIZE_JITTER, SIZE_JITTER))))
        scaled = _resize(_tight(ink), size)
        top = (height - size) + rng.uniform(-BASELINE_JITTER, BASELINE_JITTER) * height
        placed.append((scaled, top, x))
        x += scaled.shape[1] + rng.uniform(*GAP) * height
    margin = round(MARGIN * height)
    lowest = min(top for _, top, _ in placed)
    canvas_h = round(max(top + s.shape[0] for s, top, _ in placed) - lowest) + 2 * margin
    canvas_w = round(max(left + s.shape[1] for s, _, left in placed)) + 2 * margin
    canvas = np.zeros((canvas_h, canvas_w), dtype=np.float32)
    for scaled, top, left in placed:
        row, col = round(top - lowest) + margin, round(left) + margin
        region = canvas[row : row + scaled.shape[0], col : col + scaled.shape[1]]
        np.maximum(region, scaled[: region.shape[0], : region.shape[1]], out=region)
    return np.round((1 - canvas) * 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--per-length", type=int, default=40, help="numbers per length and source")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for source, digits in sources().items():
        for length in LENGTHS:
            for index in range(args.per_length):
                chosen = rng.choice(len(digits), size=length, replace=False)
                number = "".join(str(digits[i][1]) for i in chosen)
                picture = compose(rng, [digits[i][0] for i in chosen])
                name = f"{source}-{length}-{index:03d}.png"
                Image.fromarray(picture).save(args.out / name)
                rows.append((name, number, source, length))
    with (args.out / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("path", "number", "source", "length"))
        writer.writerows(rows)
    print(f"{len(rows)} pictures in {args.out}")


if __name__ == "__main__":
    main()
