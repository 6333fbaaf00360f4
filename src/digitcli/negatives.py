"""Synthetic pictures that are not digits, for outlier-exposure training (`train.outlier_exposure`).

Outlier exposure (Hendrycks et al., 2019): besides the digits, the network trains on pictures that
are not digits, with the uniform distribution over the ten digits as their target, so it keeps its
ten outputs but learns to be unsure off digits. `predict --min-confidence` then turns that doubt
into an "unsure" answer for letters, symbols and drawings.

The pictures: letters and symbols in Hershey's stroke fonts (ten hands: upright, roman, italic,
script, gothic) and the shapes of its `symbolic` font; letters and symbols typed in matplotlib's
Computer Modern and STIX fonts; drawings (faces, hearts, stars, spirals, suns, houses, waves); a
few hand-made templates; made-up glyphs of random strokes; scribbles. Strokes are warped smoothly
and drawn with pens of several widths, light on dark, 28x28, then go through `canonicalize_batch`
like every data source.

Kept apart from bench/nondigits/ (the set the rejection rate is measured on) by hand, not by glyph:
none of its fonts (DejaVu), stroke templates, renderer or seeds. Letters and symbols are what users
write, so every one that does not pass for a digit is here. Left out because they do in
handwriting: O o Q (0), I i J j l and brackets (1), Z z (2), B (8), b G (6), g q y (9, 4), and the
Hershey circle, dots, bars and arcs; a uniform target for them would teach the network to doubt
real digits.
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
# The letters and symbols that do not look like digits (as in Hershey's below). The cm fonts draw
# < > as ¡ ¿ (like a 1); tiny marks such as ; ~ blow up to blobs in the 20x20 box.
ASCII_GLYPHS = "ACDEFHKLMNPRSTUVWXYacdefhkmnprstuvwx!#$%&*+=?@"
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


def _unit_box(strokes: Sequence[Stroke]) -> list[Stroke]:
    """`strokes` moved to the origin and scaled by their longer side into a unit box."""
    flat = np.array([point for stroke in strokes for point in stroke])
    low, span = flat.min(axis=0), max(1e-6, float(np.ptp(flat, axis=0).max()))
    return [[((x - low[0]) / span, (y - low[1]) / span) for x, y in s] for s in strokes]


def _scribble(rng: np.random.Generator) -> list[Stroke]:
    # Several strokes of a random walk: too busy to be one digit.
    strokes = []
    for _ in range(int(rng.integers(2, 5))):
        points = np.cumsum(rng.normal(0, 0.3, (int(rng.integers(5, 12)), 2)), axis=0)
        strokes.append([(float(x), float(y)) for x, y in points])
    return _unit_box(strokes)


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


# Hershey's stroke fonts (the Hershey-Fonts package): letters and symbols as pen strokes, in
# upright, roman, italic, script and gothic hands, drawn with the pens of `_hand`. Unlike the
# bench's set, these are all letters that do not pass for digits when written, in every hand.
HERSHEY_HANDS = (
    "futural",
    "futuram",
    "rowmans",
    "rowmand",
    "scripts",
    "scriptc",
    "cursive",
    "timesr",
    "timesi",
    "gothgbt",
)
# Left out, as in ASCII_GLYPHS: O o Q (0), I i J j l (1), Z z (2), B (8), b G (6), g q y (9, 4).
HERSHEY_LETTERS = "ACDEFHKLMNPRSTUVWXYacdefhkmnprstuvwx"
HERSHEY_SYMBOLS = "!#$%&*+<=>?@~"
# The `symbolic` font's shapes (by its character codes): caret, triangles, square, diamond, star,
# plus, cross, asterisk, flag, anchor, crossed hammers, tower, Greek cross, star of David, bell,
# trees, clover, heart, diamond, club. Not its circle, dots, bars and arcs, which a network must
# keep reading as 0 and 1, nor its section sign, double dagger and braces (an 8 or 5, a 1).
HERSHEY_SHAPES = "EGIJKLMNOVWXZ[^`abcdhnop"


def hershey_strokes(font: str, glyphs: str) -> list[list[Stroke]]:
    """The pen strokes of each of `glyphs` in Hershey `font`, each in a unit box (x right, y down);
    a glyph the font lacks gives an empty list."""
    from HersheyFonts import HersheyFonts

    hershey = HersheyFonts()
    hershey.load_default_font(font)
    hershey.normalize_rendering(100)
    table: list[list[Stroke]] = []
    for glyph in glyphs:
        strokes = [
            [(float(x), -float(y)) for x, y in stroke]  # Hershey's y points up
            for stroke in hershey.strokes_for_text(glyph)
            if len(stroke) > 1
        ]
        table.append(_unit_box(strokes) if strokes else [])
    return table


def _hershey_table() -> list[list[Stroke]]:
    table = [
        strokes
        for font in HERSHEY_HANDS
        for strokes in hershey_strokes(font, HERSHEY_LETTERS + HERSHEY_SYMBOLS)
    ] + hershey_strokes("symbolic", HERSHEY_SHAPES)
    return [strokes for strokes in table if strokes]


def _wobble(rng: np.random.Generator, strokes: Sequence[Stroke]) -> list[Stroke]:
    # A hand's error is smooth, not per point: a slow random warp of the whole glyph.
    ax, ay = rng.normal(0, 0.04, 2)
    fx, fy = rng.uniform(0.5, 1.5, 2)
    px, py = rng.uniform(0, 2 * math.pi, 2)
    return [
        [
            (
                x + ax * math.sin(2 * math.pi * fx * y + px),
                y + ay * math.sin(2 * math.pi * fy * x + py),
            )
            for x, y in stroke
        ]
        for stroke in strokes
    ]


def _doodle(rng: np.random.Generator) -> list[Stroke]:
    """A drawing people make instead of a digit: a face, heart, star, spiral, sun, house or wave."""
    kind = int(rng.integers(7))
    if kind == 0:  # a face: a round outline with eyes and a mouth inside
        eye = rng.uniform(0.04, 0.1)
        mouth = rng.uniform(0.5, 1.2) * (1 if rng.random() < 0.7 else -1)
        smile_y = 0.62 if mouth > 0 else 0.75
        return [
            _arc(0.5, 0.5, 0.5, 0.5, rng.uniform(0, 6.3), 2 * math.pi + 0.15),
            _arc(0.35, 0.38, eye, eye, 0.0, 6.4),
            _arc(0.65, 0.38, eye, eye, 0.0, 6.4),
            _arc(0.5, smile_y, 0.22, 0.12, math.pi / 2 - mouth, 2 * mouth),
        ]
    if kind == 1:  # a heart
        return [
            [
                (
                    0.5 + 0.03 * 16 * math.sin(t) ** 3,
                    0.45 - 0.03 * (13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t)),
                )
                for t in np.linspace(0, 2 * math.pi, 40)
            ]
        ]
    if kind == 2:  # a star of five to seven points, outlined or drawn in one stroke
        points = int(rng.integers(5, 8))
        inner = rng.uniform(0.2, 0.45)
        corners = [
            (
                0.5 + (0.5 if i % 2 == 0 else inner) * math.sin(math.pi * i / points),
                0.5 - (0.5 if i % 2 == 0 else inner) * math.cos(math.pi * i / points),
            )
            for i in range(2 * points + 1)
        ]
        return [corners]
    if kind == 3:  # a spiral
        turns = rng.uniform(1.8, 3.5)
        return [
            [
                (
                    0.5 + 0.5 * t * math.cos(2 * math.pi * turns * t),
                    0.5 + 0.5 * t * math.sin(2 * math.pi * turns * t),
                )
                for t in np.linspace(0.02, 1, 60)
            ]
        ]
    if kind == 4:  # a sun: a small circle with rays
        rays = int(rng.integers(6, 11))
        strokes = [_arc(0.5, 0.5, 0.22, 0.22, 0.0, 6.4)]
        for i in range(rays):
            angle = 2 * math.pi * i / rays
            strokes.append(
                [
                    (0.5 + 0.3 * math.cos(angle), 0.5 + 0.3 * math.sin(angle)),
                    (0.5 + 0.5 * math.cos(angle), 0.5 + 0.5 * math.sin(angle)),
                ]
            )
        return strokes
    if kind == 5:  # a house: a box with a roof, maybe a door
        strokes = [
            [(0.1, 0.45), (0.1, 1.0), (0.9, 1.0), (0.9, 0.45)],
            [(0.0, 0.5), (0.5, 0.0), (1.0, 0.5)],
        ]
        if rng.random() < 0.6:
            strokes.append([(0.4, 1.0), (0.4, 0.7), (0.6, 0.7), (0.6, 1.0)])
        return strokes
    # a wave or zigzag across
    waves = rng.uniform(1.5, 3.5)
    return [[(t, 0.5 + 0.35 * math.sin(2 * math.pi * waves * t)) for t in np.linspace(0, 1, 40)]]


def make_negatives(count: int, seed: int) -> np.ndarray:
    """`count` canonical non-digit images, (count, 400) float32: letters and symbols in Hershey's
    stroke hands (35%), typed glyphs (15%), drawings (15%), the hand-drawn templates (10%),
    made-up glyphs of three to five strokes (15%) and scribbles (10%)."""
    from digitcli.preprocess import canonicalize_batch

    rng = np.random.default_rng([seed, 0x0E])
    fonts = font_folder()
    names = sorted(HAND)
    hershey = _hershey_table()
    raw = np.zeros((count, SIDE, SIDE), dtype=np.float32)
    for index in range(count):
        kind = rng.random()
        if kind < 0.35:
            raw[index] = _hand(rng, _wobble(rng, hershey[int(rng.integers(len(hershey)))]))
        elif kind < 0.5:
            raw[index] = _typed(rng, fonts)
        elif kind < 0.65:
            raw[index] = _hand(rng, _wobble(rng, _doodle(rng)))
        elif kind < 0.75:
            raw[index] = _hand(rng, HAND[names[int(rng.integers(len(names)))]])
        elif kind < 0.9:
            raw[index] = _hand(rng, _pseudo_glyph(rng))
        else:
            raw[index] = _hand(rng, _scribble(rng))
    canonical = canonicalize_batch(raw, Invert.no).reshape(count, INPUT_SIZE)
    # A glyph the font lacks, or one drawn off the canvas, comes out blank: draw no such examples.
    kept: np.ndarray = canonical[canonical.max(axis=1) > 0].astype(np.float32)
    return kept
