"""A small check by hand: numbers drawn with pen strokes (lines and arcs), read by `predict`.

    python bench/numbers/drawn.py RUN_DIR [--out DIR]

Each digit is a few strokes in a unit box, drawn the way a person writes it (a 4 in two strokes, a
5 with its bar lifted off, a 7 with a long bar), at two pen widths, on plain and on grey, noisy
paper. It prints each number and what `predict` read; the pictures are kept in DIR (default
bench/output/numbers-drawn) to look at.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from digitcli.predict import InputItem, predict_inputs
from digitcli.runs import resolve_model

REPO = Path(__file__).resolve().parents[2]
NUMBERS = ("42", "2024", "1905", "37", "680", "5174", "963", "71")
HEIGHT = 90  # pixels per digit
# Strokes per digit in a box 0.6 wide and 1 tall: ("line", points) or ("arc", box, start, end).
Stroke = tuple[str, tuple[float, ...]]
DIGITS: dict[str, list[Stroke]] = {
    "0": [("arc", (0.0, 0.0, 0.6, 1.0, 0, 360))],
    "1": [("line", (0.15, 0.2, 0.35, 0.0, 0.35, 1.0))],
    "2": [("arc", (0.0, 0.0, 0.6, 0.55, 180, 400)), ("line", (0.55, 0.4, 0.0, 1.0, 0.62, 1.0))],
    "3": [("arc", (0.05, 0.0, 0.55, 0.5, 200, 450)), ("arc", (0.0, 0.5, 0.6, 1.0, 270, 500))],
    "4": [("line", (0.4, 0.0, 0.0, 0.65, 0.6, 0.65)), ("line", (0.45, 0.3, 0.45, 1.0))],
    "5": [
        ("line", (0.15, 0.0, 0.6, 0.0)),
        ("line", (0.1, 0.06, 0.05, 0.45)),
        ("arc", (0.0, 0.35, 0.6, 1.0, 210, 520)),
    ],
    "6": [("arc", (0.0, 0.0, 0.9, 1.6, 185, 265)), ("arc", (0.0, 0.45, 0.6, 1.0, 0, 360))],
    "7": [("line", (0.0, 0.0, 0.6, 0.0, 0.2, 1.0))],
    "8": [("arc", (0.07, 0.0, 0.53, 0.46, 0, 360)), ("arc", (0.0, 0.44, 0.6, 1.0, 0, 360))],
    "9": [("arc", (0.0, 0.0, 0.6, 0.5, 0, 360)), ("line", (0.6, 0.25, 0.5, 1.0))],
}


def draw_number(number: str, pen: int, paper: float, rng: np.random.Generator) -> np.ndarray:
    """The number in dark strokes on paper of tone `paper` (0-1), as greyscale in [0, 1]."""
    width = round(HEIGHT * (0.85 * len(number) + 0.6))
    picture = Image.new("L", (width, 2 * HEIGHT), round(255 * paper))
    draw = ImageDraw.Draw(picture)
    left = 0.4 * HEIGHT
    for character in number:
        top = 0.5 * HEIGHT + rng.uniform(-0.06, 0.06) * HEIGHT
        for kind, values in DIGITS[character]:
            coordinates = values[:4] if kind == "arc" else values
            points = [
                (left + x * HEIGHT, top + y * HEIGHT)
                for x, y in zip(coordinates[0::2], coordinates[1::2], strict=True)
            ]
            if kind == "line":
                draw.line(points, fill=20, width=pen, joint="curve")
            else:
                draw.arc([*points[0], *points[1]], values[4], values[5], fill=20, width=pen)
        left += 0.85 * HEIGHT
    gray = np.asarray(picture, dtype=np.float32) / 255
    if paper < 1:
        gray = np.clip(gray + rng.normal(0, 0.02, gray.shape), 0, 1)
    return gray.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "output" / "numbers-drawn")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    items, truth = [], []
    for number in NUMBERS:
        for pen, paper in ((5, 1.0), (9, 0.8)):
            path = args.out / f"{number}-pen{pen}-paper{round(paper * 100)}.png"
            gray = draw_number(number, pen, paper, rng)
            Image.fromarray(np.round(gray * 255).astype(np.uint8)).save(path)
            items.append(InputItem(path, path.name))
            truth.append(number)
    right = 0
    for record, number in zip(predict_inputs(items, resolve_model(args.run)), truth, strict=True):
        got = record.number or ""
        right += got == number
        print(f"{record.path:28} {number:>6} -> {got:>6}  {'ok' if got == number else 'WRONG'}")
    print(f"{right} of {len(items)} read exactly")


if __name__ == "__main__":
    main()
