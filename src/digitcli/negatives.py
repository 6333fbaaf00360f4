"""Synthetic pictures that are not digits, for outlier-exposure training (`train.outlier_exposure`).

Outlier exposure (Hendrycks et al., 2019): besides the digits, the network trains on pictures that
are not digits, with the uniform distribution over the ten digits as their target, so it keeps its
ten outputs but learns to be unsure off digits. `predict --min-confidence` then turns that doubt
into an "unsure" answer for letters, symbols and drawings.

The pictures are letters, symbols and doodles: typed in matplotlib's Computer Modern and STIX fonts,
and hand-drawn from jittered stroke templates with pens of several widths, plus random scribbles.
They are drawn light on dark, 28x28, and go through `canonicalize_batch` like every data source.

This set is kept apart from bench/nondigits/ (the set the rejection rate is measured on): other
glyphs (no A, C, E, S, %, ?, +, =, smiley ...: nothing of the measured set, nor its lower or upper
case twin), other fonts (no DejaVu), its own seeds. Glyphs that look like digits when written (O,
o, I, l, Z, S, B, G, q, g, b, J, brackets, beta, delta, section sign) are left out: a uniform
target for them would teach the network to doubt real digits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from digitcli.vocabulary import INPUT_SIZE, Invert

# The label of a non-digit in a training set: its loss is the cross-entropy against the uniform
# distribution over the ten digits (engines.py).
NOT_A_DIGIT = -1
SIDE = 28  # drawn like MNIST: 28x28, the glyph about 20 pixels tall

FONTS = (
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmb10.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
)
# Typed glyphs: the cm fonts hold ASCII only, STIX the rest too.
# The letters the measured set leaves (in either case) that do not look like digits. The cm fonts
# draw < > as ¡ ¿ (like a 1); tiny marks such as ; ~ blow up to blobs in the 20x20 box.
ASCII_GLYPHS = "DLQd"
UNICODE_GLYPHS = "αγλμπωΣΔΩΨ€£¥©®±÷∞∑→←↑↓♠♣★"

Point = tuple[float, float]
Stroke = list[Point]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, turn: float) -> Stroke:
    return [
        (cx + rx * math.cos(start + turn * i / 16), cy + ry * math.sin(start + turn * i / 16))
        for i in range(17)
    ]


# Hand-drawn templates in a unit box (x right, y down); none of them is in bench/nondigits/.
HAND: dict[str, list[Stroke]] = {
    "D": [[(0.1, 0.0), (0.1, 1.0)], [(0.1, 0.0), (0.7, 0.1), (0.92, 0.5), (0.7, 0.9), (0.1, 1.0)]],
    "L": [[(0.1, 0.0), (0.1, 1.0), (0.85, 1.0)]],
    "Q": [_arc(0.5, 0.48, 0.42, 0.48, 0.0, 2 * math.pi + 0.2), [(0.6, 0.75), (0.95, 1.0)]],
    "<": [[(0.9, 0.1), (0.1, 0.5), (0.9, 0.9)]],
    ">": [[(0.1, 0.1), (0.9, 0.5), (0.1, 0.9)]],
    "arrow": [[(0.0, 0.5), (1.0, 0.5)], [(0.65, 0.2), (1.0, 0.5), (0.65, 0.8)]],
    "cloud": [
        [(0.1, 0.8), (0.0, 0.55), (0.2, 0.35), (0.4, 0.15), (0.65, 0.2), (0.8, 0.35)],
        [(0.8, 0.35), (1.0, 0.55), (0.9, 0.8), (0.1, 0.8)],
    ],
    "tick": [[(0.05, 0.55), (0.35, 0.95), (0.95, 0.05)]],
    "box": [[(0.05, 0.05), (0.95, 0.05), (0.95, 0.95), (0.05, 0.95), (0.05, 0.05)]],
    "triangle": [[(0.5, 0.0), (1.0, 1.0), (0.0, 1.0), (0.5, 0.0)]],
    "eye": [_arc(0.5, 0.5, 0.5, 0.3, 0.0, 2 * math.pi), _arc(0.5, 0.5, 0.12, 0.12, 0.0, 6.4)],
    "flower": [
        *[
            _arc(0.5 + 0.3 * math.cos(a), 0.5 + 0.3 * math.sin(a), 0.18, 0.18, 0.0, 6.4)
            for a in np.linspace(0, 2 * math.pi, 5, endpoint=False)
        ],
    ],
}


def _scribble(rng: np.random.Generator) -> list[Stroke]:
    # Several strokes of a random walk: too busy to be one digit.
    strokes = []
    for _ in range(int(rng.integers(2, 5))):
        points = np.cumsum(rng.normal(0, 0.3, (int(rng.integers(5, 12)), 2)), axis=0)
        strokes.append([(float(x), float(y)) for x, y in points])
    flat = np.array([p for s in strokes for p in s])
    low, span = flat.min(axis=0), max(1e-6, float(np.ptp(flat, axis=0).max()))
    return [[((x - low[0]) / span, (y - low[1]) / span) for x, y in s] for s in strokes]


def _pseudo_glyph(rng: np.random.Generator) -> list[Stroke]:
    # Three to five strokes between random points of a 3x3 grid, the way letters and symbols are
    # built (E, K, #, arrows ...): shapes no alphabet has, so the measured glyphs stay unseen.
    anchors = [(x, y) for y in (0.0, 0.5, 1.0) for x in (0.0, 0.5, 1.0)]
    strokes: list[Stroke] = []
    for _ in range(int(rng.integers(3, 6))):
        first, second = rng.choice(len(anchors), size=2, replace=False)
        stroke = [anchors[int(first)], anchors[int(second)]]
        if rng.random() < 0.3:  # bent through a third point
            stroke.insert(1, anchors[int(rng.integers(len(anchors)))])
        elif rng.random() < 0.4:  # curved: an arc bulging off the straight line
            (x0, y0), (x1, y1) = stroke
            bulge = rng.uniform(-0.5, 0.5)
            stroke = [
                (
                    x0 + (x1 - x0) * t - bulge * (y1 - y0) * math.sin(math.pi * t),
                    y0 + (y1 - y0) * t + bulge * (x1 - x0) * math.sin(math.pi * t),
                )
                for t in np.linspace(0, 1, 9)
            ]
        strokes.append(stroke)
    return strokes


def _hand(rng: np.random.Generator, strokes: Sequence[Stroke]) -> np.ndarray:
    from PIL import Image, ImageDraw

    scale = 4  # drawn large and reduced: anti-aliased edges
    size = SIDE * scale
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    height = rng.uniform(14, 21) * scale
    width = height * rng.uniform(0.6, 1.05)
    slant = rng.normal(0.0, 0.12)
    left, top = (size - width) / 2, (size - height) / 2
    pen = int(rng.uniform(1.2, 3.2) * scale)
    for stroke in strokes:
        points = [
            (
                left + (x + rng.normal(0, 0.03) - slant * (y - 0.5)) * width,
                top + (y + rng.normal(0, 0.03)) * height,
            )
            for x, y in stroke
        ]
        draw.line(points, fill=255, width=pen, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    return np.asarray(canvas.reduce(scale), dtype=np.float32) / 255.0


def _typed(rng: np.random.Generator, font_dir: Path) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font_name = FONTS[int(rng.integers(len(FONTS)))]
    glyphs = ASCII_GLYPHS + (UNICODE_GLYPHS if font_name.startswith("STIX") else "")
    glyph = glyphs[int(rng.integers(len(glyphs)))]
    font = ImageFont.truetype(str(font_dir / font_name), size=int(rng.integers(18, 26)))
    canvas = Image.new("L", (SIDE, SIDE), 0)
    ImageDraw.Draw(canvas).text(
        (SIDE / 2, SIDE / 2),
        glyph,
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=int(rng.random() < 0.4),
        stroke_fill=255,
    )
    image = canvas.rotate(rng.uniform(-10, 10), resample=Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32) / 255.0


def font_folder() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def make_negatives(count: int, seed: int) -> np.ndarray:
    """`count` canonical non-digit images, (count, 400) float32: typed glyphs (35%), hand-drawn
    templates (20%), scribbles (15%) and made-up glyphs of three to five strokes (30%)."""
    from digitcli.preprocess import canonicalize_batch

    rng = np.random.default_rng([seed, 0x0E])
    fonts = font_folder()
    names = sorted(HAND)
    raw = np.zeros((count, SIDE, SIDE), dtype=np.float32)
    for index in range(count):
        kind = rng.random()
        if kind < 0.35:
            raw[index] = _typed(rng, fonts)
        elif kind < 0.55:
            raw[index] = _hand(rng, HAND[names[int(rng.integers(len(names)))]])
        elif kind < 0.7:
            raw[index] = _hand(rng, _scribble(rng))
        else:
            raw[index] = _hand(rng, _pseudo_glyph(rng))
    canonical = canonicalize_batch(raw, Invert.no).reshape(count, INPUT_SIZE)
    # A glyph the font lacks, or one drawn off the canvas, comes out blank: draw no such examples.
    kept: np.ndarray = canonical[canonical.max(axis=1) > 0].astype(np.float32)
    return kept
