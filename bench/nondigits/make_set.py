"""Render a deterministic, labelled set of pictures that hold no digit, drawn like users' digits.

    python bench/nondigits/make_set.py [OUT_DIR] [--purpose measure|train] [--scale 1.0]

Writes image files into OUT_DIR (default bench/nondigits/images/<purpose>/, git-ignored) and
OUT_DIR/labels.csv with columns path (relative to OUT_DIR), kind, glyph and style. Kinds:

- letters_hand, symbols_hand, doodles: letters (A, S, h ...), symbols (%, ?, &, # ...) and
  drawings (smileys, hearts, stars, houses, spirals, scribbles) drawn from jittered stroke templates
  with the same pens as bench/realistic's digits, in three styles: `photo` (phone photos of ink on
  white, beige or blue paper, from bench/realistic's photo recipe), `mouse` (28x28 mouse drawings)
  and `canvas` (thick strokes on a large canvas);
- letters_font, symbols_font: the same typed in a TrueType font, in the same three styles;
- specks: a speck (2-5 px) or a dot (8-14 px), or a few, on a large white or photographed page;
- scenes: crops of real photographs available offline (scikit-learn's sample images, matplotlib's
  sample data, shaded relief of matplotlib's elevation data), at phone and thumbnail sizes.

`--purpose measure` (the default) is the set the README's figures come from; `--purpose train`
is a disjoint set (other glyphs, fonts, photographs and seeds) to tune on without touching the
measured one: its scene photographs are what `nondigit.py`'s texture thresholds were set on.
Outlier-exposure training draws its own non-digits in the package (`digitcli.negatives`, also
disjoint from the measured set; tests/test_outlier_exposure.py checks it). Letters that are digits in
handwriting (O, o, I, l, and the like) are in neither. The same purpose and scale always give the
same files.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "realistic"))

from make_testset import (  # noqa: E402  (bench/realistic is a folder of scripts, not a package)
    Point,
    Stroke,
    _ellipse,
    _tight,
    catmull_rom,
    densify,
    paste,
    photo,
    rotate,
    save_jpeg,
    smooth_noise,
)

MPL_DATA = Path(matplotlib.get_data_path())
FONT_DIR = MPL_DATA / "fonts" / "ttf"
DEFAULT_OUT = HERE / "images"
SEEDS = {"measure": 12, "train": 8128}
# Fonts per purpose: never the same file in both.
FONTS = {
    "measure": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf"),
    "train": ("cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "STIXGeneral.ttf", "DejaVuSerif-Bold.ttf"),
}
STYLES = ("photo", "mouse", "canvas")


def _circle(cx: float, cy: float, r: float, start: float = 0.0) -> list[Point]:
    return _ellipse(cx, cy, r, r, start, 2 * math.pi + 0.15)


def _dot(x: float, y: float) -> Stroke:
    return ("line", [(x, y), (x, y + 0.03)])


# Stroke templates in a unit box (x right, y down), as bench/realistic's digits.
HAND: dict[str, list[Stroke]] = {
    # letters
    "A": [("line", [(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)]), ("line", [(0.22, 0.6), (0.78, 0.6)])],
    "C": [("curve", _ellipse(0.55, 0.5, 0.45, 0.5, -0.7, -(2 * math.pi - 1.4)))],
    "E": [
        ("line", [(0.9, 0.0), (0.1, 0.0), (0.1, 1.0), (0.9, 1.0)]),
        ("line", [(0.1, 0.5), (0.7, 0.5)]),
    ],
    "F": [("line", [(0.9, 0.0), (0.1, 0.0), (0.1, 1.0)]), ("line", [(0.1, 0.5), (0.7, 0.5)])],
    "H": [
        ("line", [(0.1, 0.0), (0.1, 1.0)]),
        ("line", [(0.9, 0.0), (0.9, 1.0)]),
        ("line", [(0.1, 0.5), (0.9, 0.5)]),
    ],
    "K": [
        ("line", [(0.1, 0.0), (0.1, 1.0)]),
        ("line", [(0.9, 0.0), (0.1, 0.6)]),
        ("line", [(0.35, 0.42), (0.9, 1.0)]),
    ],
    "M": [("line", [(0.05, 1.0), (0.1, 0.0), (0.5, 0.6), (0.9, 0.0), (0.95, 1.0)])],
    "N": [("line", [(0.1, 1.0), (0.1, 0.0), (0.9, 1.0), (0.9, 0.0)])],
    "P": [
        ("line", [(0.1, 1.0), (0.1, 0.0)]),
        ("curve", [(0.1, 0.0), (0.6, 0.0), (0.88, 0.25), (0.6, 0.5), (0.1, 0.5)]),
    ],
    "R": [
        ("line", [(0.1, 1.0), (0.1, 0.0)]),
        ("curve", [(0.1, 0.0), (0.6, 0.0), (0.88, 0.25), (0.6, 0.5), (0.1, 0.5)]),
        ("line", [(0.4, 0.5), (0.9, 1.0)]),
    ],
    "S": [
        (
            "curve",
            [
                (0.85, 0.12),
                (0.5, 0.0),
                (0.15, 0.2),
                (0.5, 0.5),
                (0.85, 0.78),
                (0.5, 1.0),
                (0.1, 0.88),
            ],
        )
    ],
    "T": [("line", [(0.0, 0.0), (1.0, 0.0)]), ("line", [(0.5, 0.0), (0.5, 1.0)])],
    "U": [("curve", [(0.1, 0.0), (0.1, 0.7), (0.5, 1.0), (0.9, 0.7), (0.9, 0.0)])],
    "V": [("line", [(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)])],
    "W": [("line", [(0.0, 0.0), (0.25, 1.0), (0.5, 0.35), (0.75, 1.0), (1.0, 0.0)])],
    "X": [("line", [(0.0, 0.0), (1.0, 1.0)]), ("line", [(1.0, 0.0), (0.0, 1.0)])],
    "Y": [("line", [(0.0, 0.0), (0.5, 0.5), (1.0, 0.0)]), ("line", [(0.5, 0.5), (0.5, 1.0)])],
    "Z": [("line", [(0.1, 0.0), (0.9, 0.0), (0.1, 1.0), (0.9, 1.0)])],
    "a": [
        ("curve", _ellipse(0.45, 0.7, 0.35, 0.3, -0.3, -(2 * math.pi - 0.4))),
        ("line", [(0.82, 0.4), (0.85, 1.0)]),
    ],
    "e": [
        ("line", [(0.1, 0.65), (0.9, 0.65)]),
        ("curve", _ellipse(0.5, 0.68, 0.4, 0.32, 0.0, -(2 * math.pi - 0.8))),
    ],
    "h": [
        ("line", [(0.15, 0.0), (0.15, 1.0)]),
        ("curve", [(0.15, 0.6), (0.5, 0.38), (0.85, 0.55), (0.85, 1.0)]),
    ],
    "m": [
        ("line", [(0.05, 0.4), (0.05, 1.0)]),
        ("curve", [(0.05, 0.55), (0.27, 0.38), (0.5, 0.5), (0.5, 1.0)]),
        ("curve", [(0.5, 0.55), (0.73, 0.38), (0.95, 0.5), (0.95, 1.0)]),
    ],
    "n": [
        ("line", [(0.15, 0.4), (0.15, 1.0)]),
        ("curve", [(0.15, 0.6), (0.5, 0.38), (0.85, 0.55), (0.85, 1.0)]),
    ],
    "r": [("line", [(0.2, 0.4), (0.2, 1.0)]), ("curve", [(0.2, 0.65), (0.5, 0.42), (0.85, 0.45)])],
    "x": [("line", [(0.1, 0.4), (0.9, 1.0)]), ("line", [(0.9, 0.4), (0.1, 1.0)])],
    # letters kept for training only
    "B": [
        ("line", [(0.15, 0.0), (0.15, 1.0)]),
        ("curve", [(0.15, 0.0), (0.7, 0.03), (0.75, 0.25), (0.15, 0.48)]),
        ("curve", [(0.15, 0.48), (0.85, 0.55), (0.8, 0.95), (0.15, 1.0)]),
    ],
    "D": [
        ("line", [(0.1, 0.0), (0.1, 1.0)]),
        ("curve", [(0.1, 0.0), (0.7, 0.1), (0.92, 0.5), (0.7, 0.9), (0.1, 1.0)]),
    ],
    "G": [
        ("curve", _ellipse(0.55, 0.5, 0.45, 0.5, -0.7, -(2 * math.pi - 1.3))),
        ("line", [(0.55, 0.6), (0.95, 0.6), (0.95, 0.95)]),
    ],
    "J": [("curve", [(0.8, 0.0), (0.8, 0.75), (0.5, 1.0), (0.15, 0.8)])],
    "L": [("line", [(0.1, 0.0), (0.1, 1.0), (0.85, 1.0)])],
    "Q": [
        ("curve", _ellipse(0.5, 0.48, 0.42, 0.48, 0.0, 2 * math.pi + 0.2)),
        ("line", [(0.6, 0.75), (0.95, 1.0)]),
    ],
    "k": [
        ("line", [(0.15, 0.0), (0.15, 1.0)]),
        ("line", [(0.85, 0.4), (0.15, 0.75), (0.85, 1.0)]),
    ],
    "t": [("line", [(0.45, 0.0), (0.45, 0.9), (0.75, 1.0)]), ("line", [(0.1, 0.35), (0.85, 0.35)])],
    "w": [("line", [(0.0, 0.4), (0.25, 1.0), (0.5, 0.55), (0.75, 1.0), (1.0, 0.4)])],
    "y": [("line", [(0.1, 0.0), (0.5, 0.55)]), ("line", [(0.9, 0.0), (0.25, 1.0)])],
    # symbols
    "%": [
        ("line", [(0.85, 0.0), (0.15, 1.0)]),
        ("curve", _circle(0.22, 0.18, 0.16)),
        ("curve", _circle(0.78, 0.82, 0.16)),
    ],
    "?": [
        ("curve", [(0.15, 0.25), (0.45, 0.0), (0.85, 0.2), (0.5, 0.5), (0.5, 0.72)]),
        _dot(0.5, 0.94),
    ],
    "&": [
        (
            "curve",
            [
                (0.9, 1.0),
                (0.3, 0.45),
                (0.3, 0.1),
                (0.55, 0.05),
                (0.6, 0.25),
                (0.15, 0.65),
                (0.3, 0.95),
                (0.6, 0.9),
                (0.9, 0.55),
            ],
        )
    ],
    "#": [
        ("line", [(0.35, 0.0), (0.25, 1.0)]),
        ("line", [(0.75, 0.0), (0.65, 1.0)]),
        ("line", [(0.0, 0.33), (1.0, 0.33)]),
        ("line", [(0.0, 0.67), (1.0, 0.67)]),
    ],
    "+": [("line", [(0.5, 0.05), (0.5, 0.95)]), ("line", [(0.05, 0.5), (0.95, 0.5)])],
    "=": [("line", [(0.05, 0.3), (0.95, 0.3)]), ("line", [(0.05, 0.7), (0.95, 0.7)])],
    "!": [("line", [(0.5, 0.0), (0.5, 0.72)]), _dot(0.5, 0.94)],
    "@": [
        ("curve", _circle(0.5, 0.5, 0.18)),
        ("curve", [(0.68, 0.35), (0.7, 0.7), (0.88, 0.68), (0.95, 0.4), (0.7, 0.05), (0.25, 0.1)]),
        ("curve", [(0.25, 0.1), (0.02, 0.5), (0.3, 0.95), (0.8, 0.9)]),
    ],
    "$": [
        (
            "curve",
            [
                (0.85, 0.2),
                (0.5, 0.08),
                (0.15, 0.25),
                (0.5, 0.5),
                (0.85, 0.75),
                (0.5, 0.92),
                (0.1, 0.8),
            ],
        ),
        ("line", [(0.5, 0.0), (0.5, 1.0)]),
    ],
    "*": [
        ("line", [(0.5, 0.0), (0.5, 1.0)]),
        ("line", [(0.07, 0.25), (0.93, 0.75)]),
        ("line", [(0.93, 0.25), (0.07, 0.75)]),
    ],
    # symbols kept for training only
    "<": [("line", [(0.9, 0.1), (0.1, 0.5), (0.9, 0.9)])],
    ">": [("line", [(0.1, 0.1), (0.9, 0.5), (0.1, 0.9)])],
    "arrow": [("line", [(0.0, 0.5), (1.0, 0.5)]), ("line", [(0.65, 0.2), (1.0, 0.5), (0.65, 0.8)])],
    "(": [("curve", _ellipse(0.9, 0.5, 0.7, 0.5, 2.2, 1.9))],
    "x_mark": [("line", [(0.0, 0.1), (1.0, 0.9)]), ("line", [(0.1, 0.95), (0.9, 0.0)])],
    # doodles
    "smiley": [
        ("curve", _circle(0.5, 0.5, 0.5)),
        _dot(0.33, 0.33),
        _dot(0.67, 0.33),
        ("curve", _ellipse(0.5, 0.55, 0.27, 0.22, 0.35, math.pi - 0.7)),
    ],
    "sad_face": [
        ("curve", _circle(0.5, 0.5, 0.5)),
        _dot(0.33, 0.35),
        _dot(0.67, 0.35),
        ("curve", _ellipse(0.5, 0.85, 0.25, 0.18, -0.5, -(math.pi - 1.0))),
    ],
    "heart": [
        (
            "curve",
            [
                (0.5, 1.0),
                (0.1, 0.55),
                (0.05, 0.22),
                (0.27, 0.04),
                (0.5, 0.25),
                (0.73, 0.04),
                (0.95, 0.22),
                (0.9, 0.55),
                (0.5, 1.0),
            ],
        )
    ],
    "star": [
        (
            "line",
            [
                (0.5, 0.0),
                (0.79, 0.95),
                (0.03, 0.36),
                (0.97, 0.36),
                (0.21, 0.95),
                (0.5, 0.0),
            ],
        )
    ],
    "house": [
        ("line", [(0.1, 0.45), (0.1, 1.0), (0.9, 1.0), (0.9, 0.45), (0.1, 0.45)]),
        ("line", [(0.0, 0.5), (0.5, 0.0), (1.0, 0.5)]),
        ("line", [(0.42, 1.0), (0.42, 0.7), (0.6, 0.7), (0.6, 1.0)]),
    ],
    "sun": [
        ("curve", _circle(0.5, 0.5, 0.22)),
        *[
            (
                "line",
                [
                    (0.5 + 0.3 * math.cos(a), 0.5 + 0.3 * math.sin(a)),
                    (0.5 + 0.48 * math.cos(a), 0.5 + 0.48 * math.sin(a)),
                ],
            )
            for a in np.linspace(0, 2 * math.pi, 8, endpoint=False)
        ],
    ],
    "spiral": [
        (
            "curve",
            [
                (0.5 + 0.05 * t * math.cos(t), 0.5 + 0.05 * t * math.sin(t))
                for t in np.linspace(0.5, 3 * math.pi, 24)
            ],
        )
    ],
    # doodles kept for training only
    "cloud": [
        (
            "curve",
            [
                (0.1, 0.8),
                (0.0, 0.55),
                (0.2, 0.35),
                (0.4, 0.15),
                (0.65, 0.2),
                (0.8, 0.35),
                (1.0, 0.55),
                (0.9, 0.8),
                (0.1, 0.8),
            ],
        )
    ],
    "tick": [("line", [(0.05, 0.55), (0.35, 0.95), (0.95, 0.05)])],
    "box": [("line", [(0.05, 0.05), (0.95, 0.05), (0.95, 0.95), (0.05, 0.95), (0.05, 0.05)])],
    "triangle": [("line", [(0.5, 0.0), (1.0, 1.0), (0.0, 1.0), (0.5, 0.0)])],
}

# Glyphs per purpose and kind; "scribble" is a random walk, drawn fresh each time.
GLYPHS: dict[str, dict[str, tuple[str, ...]]] = {
    "measure": {
        "letters_hand": tuple("ACEFHKMNPRSTUVWXYZaehmnrx"),
        "symbols_hand": ("%", "?", "&", "#", "+", "=", "!", "@", "$", "*"),
        "doodles": ("smiley", "sad_face", "heart", "star", "house", "sun", "spiral", "scribble"),
        "letters_font": tuple("ACEFHKMNPRSTUVWXYZaehmnrx"),
        "symbols_font": tuple("%?&#+=!@$*"),
    },
    "train": {
        "letters_hand": tuple("BDGJLQktwy"),
        "symbols_hand": ("<", ">", "arrow", "(", "x_mark"),
        "doodles": ("cloud", "tick", "box", "triangle", "scribble"),
        "letters_font": tuple("BDGJLQbdfgjkpqtuvwy"),
        "symbols_font": tuple("<>()[]{}^~;:"),
    },
}
# Images per kind at --scale 1.
COUNTS = {
    "letters_hand": 200,
    "symbols_hand": 150,
    "doodles": 120,
    "letters_font": 120,
    "symbols_font": 90,
    "specks": 40,
    "scenes": 60,
}


@dataclass(frozen=True)
class Scene:
    name: str
    load: Callable[[], np.ndarray]  # RGB uint8


def _sklearn_image(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(name), dtype=np.uint8)

    return load


def _mpl_image(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        with Image.open(MPL_DATA / "sample_data" / name) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)

    return load


def _relief(name: str, key: str | None) -> Callable[[], np.ndarray]:
    """Shaded relief of an elevation grid: looks like an aerial photo of hills."""

    def load() -> np.ndarray:
        from matplotlib.colors import LightSource

        path = MPL_DATA / "sample_data" / name
        if key is None:  # jacksboro_fault_dem.npz
            with np.load(path) as archive:
                elevation = archive["elevation"].astype(np.float64)
        else:
            with np.load(path) as archive:
                elevation = archive[key].astype(np.float64)
        shaded = LightSource(azdeg=315, altdeg=40).shade(
            elevation, cmap=matplotlib.colormaps["gist_earth"], blend_mode="soft"
        )
        return np.round(shaded[..., :3] * 255).astype(np.uint8)

    return load


def _mri() -> np.ndarray:
    with gzip.open(MPL_DATA / "sample_data" / "s1045.ima.gz") as handle:
        data = np.frombuffer(handle.read(), np.uint16).astype(np.float64)
    image = data.reshape(256, 256)
    grey = np.round(255 * image / image.max()).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


SCENES = {
    "measure": (
        Scene("china", _sklearn_image("china.jpg")),
        Scene("grace_hopper", _mpl_image("grace_hopper.jpg")),
        Scene("topobathy", _relief("topobathy.npz", "topo")),
    ),
    "train": (
        Scene("flower", _sklearn_image("flower.jpg")),
        Scene("jacksboro", _relief("jacksboro_fault_dem.npz", None)),
        Scene("present", _mpl_image("Minduka_Present_Blue_Pack.png")),
        Scene("mri", _mri),
    ),
}


# --- drawing ---------------------------------------------------------------------------------


def scribble(rng: np.random.Generator) -> list[Stroke]:
    steps = int(rng.integers(8, 20))
    points = np.cumsum(rng.normal(0, 0.25, (steps, 2)), axis=0)
    points -= points.min(axis=0)
    points /= max(1e-6, float(points.max()))
    return [("curve", [(float(x), float(y)) for x, y in points])]


def hand_glyph(
    rng: np.random.Generator, strokes: Sequence[Stroke], height: int, stroke: float, wide: bool
) -> np.ndarray:
    """Ink coverage of jittered `strokes`, `height` pixels tall (bench/realistic's pen)."""
    aspect = rng.uniform(0.8, 1.1) if wide else rng.uniform(0.55, 0.95)
    slant = rng.normal(0.0, 0.1)
    wobble = rng.uniform(0.015, 0.04)
    width = height * aspect
    margin = stroke * 2 + 2 + abs(slant) * height
    ss = 4
    size = (int((width + 2 * margin) * ss) + 1, int((height + 2 * margin) * ss) + 1)
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    for kind, points in strokes:
        jittered = [(x + rng.normal(0, wobble), y + rng.normal(0, wobble)) for x, y in points]
        path = catmull_rom(jittered) if kind == "curve" else jittered
        pixels = [
            ((margin + (x - slant * (y - 0.5)) * width) * ss, (margin + y * height) * ss)
            for x, y in path
        ]
        pixels = densify(pixels, max(1.0, stroke * ss / 3))
        for x0, y0 in pixels:
            radius = max(0.5 * ss, stroke * ss / 2)
            draw.ellipse((x0 - radius, y0 - radius, x0 + radius, y0 + radius), fill=255)
    return _tight(np.asarray(canvas.reduce(ss), dtype=np.float32) / 255.0)


def font_glyph(font_path: Path, glyph: str, height: int, stroke: float) -> np.ndarray:
    font = ImageFont.truetype(str(font_path), size=max(8, int(height * 1.35)))
    extra = max(0, round(stroke / 2 - height * 0.06))
    size = (int(height * 2.2) + 4 * extra + 8, int(height * 2.2) + 4 * extra + 8)
    canvas = Image.new("L", size, 0)
    ImageDraw.Draw(canvas).text(
        (size[0] // 2, size[1] // 2),
        glyph,
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=extra,
        stroke_fill=255,
    )
    return _tight(np.asarray(canvas, dtype=np.float32) / 255.0)


def on_canvas(
    rng: np.random.Generator, draw: Callable[[int, float], np.ndarray], style: str
) -> Image.Image:
    """A mouse drawing on a 28x28 canvas, or thick strokes on a large one (dark on white)."""
    if style == "mouse":
        side, height = 28, int(rng.integers(15, 26))
        stroke = float(rng.choice([1.0, 1.5, 2.0, 2.5]))
    else:
        side = int(rng.choice([280, 400, 500]))
        height = int(rng.uniform(0.6, 0.9) * side)
        stroke = rng.uniform(0.06, 0.12) * height
    coverage = rotate(draw(height, stroke), rng.uniform(-8, 8))
    coverage = coverage[: side - 1, : side - 1]
    layer = np.zeros((side, side), np.float32)
    top = int(rng.integers(0, side - coverage.shape[0] + 1))
    left = int(rng.integers(0, side - coverage.shape[1] + 1))
    if style == "canvas":
        top, left = (side - coverage.shape[0]) // 2, (side - coverage.shape[1]) // 2
    paste(layer, coverage, top, left)
    return Image.fromarray(np.clip(255 * (1 - layer), 0, 255).astype(np.uint8), mode="L")


def speck_page(rng: np.random.Generator) -> Image.Image:
    """A large page with one speck or dot (or a few), clean or photographed."""
    w, h = [(2000, 1500), (1500, 2000), (1200, 900), (1024, 768)][int(rng.integers(4))]
    yy, xx = np.ogrid[0:h, 0:w]
    coverage = np.zeros((h, w), np.float32)
    for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):
        diameter = rng.uniform(2, 5) if rng.random() < 0.5 else rng.uniform(8, 14)
        cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
        coverage[(yy - cy) ** 2 + (xx - cx) ** 2 < (diameter / 2) ** 2] = 1.0
    paper = rng.uniform(215, 255)
    grey = paper * (1 - coverage) + rng.uniform(10, 60) * coverage
    if rng.random() < 0.5:  # photographed: texture, uneven light and noise
        grey = grey * (1 + 0.03 * smooth_noise(rng, (h, w), 200)) + rng.normal(0, 3, (h, w))
    return Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), mode="L")


def scene_crop(rng: np.random.Generator, pixels: np.ndarray) -> Image.Image:
    h, w = pixels.shape[:2]
    crop_h = int(rng.uniform(0.35, 1.0) * h)
    crop_w = int(min(w, crop_h * rng.uniform(0.75, 1.5)))
    top, left = int(rng.integers(0, h - crop_h + 1)), int(rng.integers(0, w - crop_w + 1))
    image = Image.fromarray(pixels[top : top + crop_h, left : left + crop_w])
    side = int(rng.choice([64, 200, 480, 800]))
    scale = side / max(crop_h, crop_w)
    image = image.resize((max(8, int(crop_w * scale)), max(8, int(crop_h * scale))))
    return image.convert("L") if rng.random() < 0.3 else image


# --- the set -------------------------------------------------------------------------------------


def _save(image: Image.Image, folder: Path, name: str, rng: np.random.Generator) -> str:
    if image.mode == "RGB" and rng.random() < 0.5:
        save_jpeg(image, folder / f"{name}.jpg", int(rng.integers(60, 92)), 1)
        return f"{name}.jpg"
    image.save(folder / f"{name}.png")
    return f"{name}.png"


def generate(out: Path, purpose: str, scale: float = 1.0) -> int:
    out.mkdir(parents=True, exist_ok=True)
    fonts = [FONT_DIR / name for name in FONTS[purpose]]
    glyphs = GLYPHS[purpose]
    rows: list[tuple[str, str, str, str]] = []
    for kind_index, (kind, count) in enumerate(COUNTS.items()):
        folder = out / kind
        folder.mkdir(exist_ok=True)
        # One generator per kind: changing one kind's recipe leaves the others' images alone.
        rng = np.random.default_rng([SEEDS[purpose], kind_index])
        scenes = (
            [(scene.name, scene.load()) for scene in SCENES[purpose]] if kind == "scenes" else []
        )
        for index in range(max(1, round(count * scale))):
            if kind == "specks":
                glyph, style = "speck", "page"
                image = speck_page(rng)
            elif kind == "scenes":
                glyph, pixels = scenes[index % len(scenes)]
                style = "photo"
                image = scene_crop(rng, pixels)
            else:
                choices = glyphs[kind]
                glyph = choices[index % len(choices)]
                style = STYLES[(index // len(choices)) % len(STYLES)]
                if kind.endswith("_font"):
                    font = fonts[int(rng.integers(len(fonts)))]

                    def draw(
                        height: int, stroke: float, g: str = glyph, f: Path = font
                    ) -> np.ndarray:
                        return font_glyph(f, g, height, stroke)
                else:
                    strokes = scribble(rng) if glyph == "scribble" else HAND[glyph]
                    wide = kind == "doodles"

                    def draw(
                        height: int,
                        stroke: float,
                        s: Sequence[Stroke] = strokes,
                        w: bool = wide,
                        r: np.random.Generator = rng,
                    ) -> np.ndarray:
                        return hand_glyph(r, s, height, stroke, w)

                if style == "photo":
                    kind_of_photo = str(rng.choice(["photo_white", "photo_beige", "photo_blue"]))
                    image, _ = photo(rng, fonts, 0, kind_of_photo, draw_patch=draw)
                else:
                    image = on_canvas(rng, draw, style)
            safe = glyph if glyph.isalnum() or "_" in glyph else f"u{ord(glyph[0]):04x}"
            name = _save(image, folder, f"{index:03d}_{safe}_{style}", rng)
            rows.append((f"{kind}/{name}", kind, glyph, style))
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "kind", "glyph", "style"])
        writer.writerows(rows)
    return len(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=None, help="output folder")
    parser.add_argument("--purpose", choices=sorted(SEEDS), default="measure")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every kind's count")
    args = parser.parse_args(argv)
    out = args.out or DEFAULT_OUT / args.purpose
    count = generate(out, args.purpose, args.scale)
    print(f"wrote {count} images and labels.csv to {out}")


if __name__ == "__main__":
    main()
