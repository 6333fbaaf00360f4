"""Render a deterministic, realistic test set of digit pictures like the ones users send.

    python bench/realistic/make_testset.py [OUT_DIR] [--per-kind 60] [--seed 2024]

Writes image files into OUT_DIR (default bench/realistic/images/, git-ignored) and OUT_DIR/labels.csv
with columns path (relative to OUT_DIR), label and kind. Kinds:

- photo_white, photo_beige: phone photos of pen, pencil or marker on white or beige paper: uneven
  lighting, soft shadows, paper texture, sensor noise, blur, JPEG compression, small rotations,
  sometimes a ruled notebook page, a strip of table beyond the paper's edge, dirt specks, a small
  digit in a large frame, or pixels stored sideways with an EXIF Orientation tag;
- photo_blue: the same with blue ballpoint ink, sometimes on light blue paper;
- mouse_28: 28x28 PNG drawings made with a mouse: 1-2 pixel strokes, black on white;
- canvas_thick: 280-500 pixel canvas drawings with very thick strokes that sometimes run off the edge,
  sometimes RGBA with a transparent background;
- light_on_black: thin light strokes on black (drawing apps, chalk on a blackboard).

Digits are drawn from jittered handwriting-like stroke templates; 30% of the photos show a typed
digit instead, in one of the TrueType fonts installed (DejaVu, and those matplotlib ships), as a
printed form or label would. The same seed always gives the same files.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

Point = tuple[float, float]
# A stroke: ("curve", points) goes smoothly through its points, ("line", points) has corners.
Stroke = tuple[str, list[Point]]

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "images"
KINDS = ("photo_white", "photo_beige", "photo_blue", "mouse_28", "canvas_thick", "light_on_black")


# Handwriting templates in a unit box: x to the right, y downwards. Several variants per digit.
def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float, turn: float) -> list[Point]:
    steps = 14
    return [
        (cx + rx * math.cos(start + turn * i / steps), cy + ry * math.sin(start + turn * i / steps))
        for i in range(steps + 1)
    ]


TEMPLATES: dict[int, list[list[Stroke]]] = {
    0: [
        [("curve", _ellipse(0.5, 0.5, 0.4, 0.5, -1.7, 2 * math.pi + 0.25))],
        [("curve", _ellipse(0.5, 0.5, 0.33, 0.5, -1.2, 2 * math.pi + 0.1))],
    ],
    1: [
        [("line", [(0.5, 0.0), (0.5, 1.0)])],
        [("line", [(0.2, 0.25), (0.55, 0.0), (0.55, 1.0)])],
        [("line", [(0.25, 0.2), (0.55, 0.0), (0.55, 1.0)]), ("line", [(0.25, 1.0), (0.85, 1.0)])],
    ],
    2: [
        [
            (
                "curve",
                [(0.12, 0.25), (0.35, 0.02), (0.7, 0.04), (0.86, 0.3), (0.6, 0.62), (0.1, 1.0)],
            ),
            ("line", [(0.1, 1.0), (0.92, 0.98)]),
        ],
        [
            (
                "curve",
                [(0.15, 0.2), (0.45, 0.0), (0.82, 0.18), (0.7, 0.5), (0.15, 0.95), (0.3, 0.85)],
            ),
            ("curve", [(0.3, 0.85), (0.6, 0.98), (0.92, 0.95)]),
        ],
    ],
    3: [
        [
            ("curve", [(0.15, 0.12), (0.5, 0.0), (0.82, 0.2), (0.45, 0.47)]),
            ("curve", [(0.45, 0.47), (0.88, 0.7), (0.55, 1.0), (0.12, 0.88)]),
        ],
        [
            ("line", [(0.12, 0.02), (0.85, 0.02), (0.45, 0.42)]),
            ("curve", [(0.45, 0.42), (0.88, 0.65), (0.55, 1.0), (0.12, 0.85)]),
        ],
    ],
    4: [
        [("line", [(0.68, 1.0), (0.68, 0.0), (0.05, 0.68), (0.95, 0.68)])],
        [("line", [(0.22, 0.0), (0.12, 0.6), (0.92, 0.6)]), ("line", [(0.72, 0.12), (0.72, 1.0)])],
    ],
    5: [
        [
            ("line", [(0.85, 0.0), (0.25, 0.02), (0.2, 0.45)]),
            ("curve", [(0.2, 0.45), (0.6, 0.36), (0.88, 0.65), (0.6, 0.98), (0.12, 0.88)]),
        ],
        [
            ("line", [(0.3, 0.02), (0.9, 0.0)]),
            ("line", [(0.28, 0.04), (0.22, 0.45)]),
            ("curve", [(0.22, 0.45), (0.62, 0.38), (0.88, 0.68), (0.55, 1.0), (0.12, 0.85)]),
        ],
    ],
    6: [
        [
            (
                "curve",
                [
                    (0.75, 0.03),
                    (0.35, 0.25),
                    (0.15, 0.65),
                    (0.35, 0.98),
                    (0.75, 0.9),
                    (0.8, 0.62),
                    (0.5, 0.5),
                    (0.2, 0.66),
                ],
            )
        ],
    ],
    7: [
        [("line", [(0.08, 0.02), (0.92, 0.0), (0.4, 1.0)])],
        [("line", [(0.08, 0.02), (0.92, 0.0), (0.45, 1.0)]), ("line", [(0.35, 0.52), (0.82, 0.5)])],
        [
            ("line", [(0.1, 0.12), (0.15, 0.02), (0.9, 0.02)]),
            ("curve", [(0.9, 0.02), (0.6, 0.5), (0.5, 1.0)]),
        ],
    ],
    8: [
        [
            (
                "curve",
                [
                    (0.55, 0.46),
                    (0.2, 0.25),
                    (0.5, 0.0),
                    (0.8, 0.22),
                    (0.5, 0.48),
                    (0.15, 0.74),
                    (0.5, 1.0),
                    (0.86, 0.74),
                    (0.55, 0.46),
                ],
            )
        ],
        [
            ("curve", _ellipse(0.5, 0.25, 0.3, 0.25, 0.0, 2 * math.pi + 0.2)),
            ("curve", _ellipse(0.5, 0.74, 0.38, 0.26, 0.0, 2 * math.pi + 0.2)),
        ],
    ],
    9: [
        [
            ("curve", [(0.82, 0.22), (0.5, 0.0), (0.18, 0.2), (0.35, 0.45), (0.8, 0.32)]),
            ("line", [(0.82, 0.12), (0.78, 0.6), (0.72, 1.0)]),
        ],
        [
            ("curve", [(0.82, 0.25), (0.5, 0.0), (0.2, 0.22), (0.4, 0.46), (0.82, 0.3)]),
            ("curve", [(0.82, 0.15), (0.8, 0.65), (0.55, 1.0), (0.3, 0.9)]),
        ],
    ],
}

FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path(matplotlib.__path__[0]) / "mpl-data" / "fonts" / "ttf",  # matplotlib ships DejaVu
)
# Fonts whose digits look like digits (no symbol or math-extension fonts).
FONT_PREFIXES = ("DejaVuSans", "DejaVuSerif", "cmr10", "cmss10", "cmtt10", "STIXGeneral")


def find_fonts() -> list[Path]:
    fonts: dict[str, Path] = {}
    for folder in FONT_DIRS:
        if folder.is_dir():
            for path in sorted(folder.rglob("*.ttf")):
                if path.name.startswith(FONT_PREFIXES) and not any(
                    bad in path.name for bad in ("ExtraLight", "Display")
                ):
                    fonts.setdefault(path.name, path)
    return [fonts[name] for name in sorted(fonts)]


def catmull_rom(points: Sequence[Point], per_segment: int = 12) -> list[Point]:
    if len(points) < 3:
        return list(points)
    padded = [points[0], *points, points[-1]]
    out: list[Point] = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = (np.asarray(padded[j]) for j in (i - 1, i, i + 1, i + 2))
        for step in range(per_segment):
            t = step / per_segment
            q = 0.5 * (
                2 * p1
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
            out.append((float(q[0]), float(q[1])))
    out.append(points[-1])
    return out


def densify(points: Sequence[Point], spacing: float) -> list[Point]:
    out: list[Point] = [points[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        steps = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / spacing))
        out.extend(
            (x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps) for k in range(1, steps + 1)
        )
    return out


def hand_digit(
    rng: np.random.Generator, label: int, height: int, stroke: float, aliased: bool = False
) -> np.ndarray:
    """Ink coverage (float32 in [0, 1]) of a jittered handwritten `label`, `height` pixels tall."""
    strokes = TEMPLATES[label][int(rng.integers(len(TEMPLATES[label])))]
    aspect = rng.uniform(0.55, 0.85) if label != 1 else rng.uniform(0.3, 0.6)
    slant = rng.normal(0.0, 0.12)
    wobble = rng.uniform(0.015, 0.045)
    width = height * aspect
    margin = stroke * 2 + 2 + abs(slant) * height
    ss = 1 if aliased else 4  # supersampling gives anti-aliased edges
    size = (int((width + 2 * margin) * ss) + 1, int((height + 2 * margin) * ss) + 1)
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    for kind, points in strokes:
        jittered = [(x + rng.normal(0, wobble), y + rng.normal(0, wobble)) for x, y in points]
        if rng.random() < 0.3:  # a stroke that stops short or overshoots
            x, y = jittered[-1]
            px, py = jittered[-2]
            f = rng.uniform(-0.15, 0.15)
            jittered[-1] = (x + (x - px) * f, y + (y - py) * f)
        path = catmull_rom(jittered) if kind == "curve" else jittered
        pixels = [
            ((margin + (x - slant * (y - 0.5)) * width) * ss, (margin + y * height) * ss)
            for x, y in path
        ]
        pixels = densify(pixels, max(1.0, stroke * ss / 3))
        phase = rng.uniform(0, 2 * math.pi)
        for i, (x0, y0) in enumerate(pixels):
            pressure = 1.0 + 0.25 * math.sin(phase + i * 0.05)
            radius = max(0.5 * ss, stroke * ss * pressure / 2)
            if aliased:
                draw.point((x0, y0), fill=255) if stroke < 1.5 else draw.ellipse(
                    (x0 - radius + 0.5, y0 - radius + 0.5, x0 + radius - 0.5, y0 + radius - 0.5),
                    fill=255,
                )
            else:
                draw.ellipse((x0 - radius, y0 - radius, x0 + radius, y0 + radius), fill=255)
        if aliased and stroke < 1.5:
            draw.line(pixels, fill=255, width=1)
    if ss > 1:
        canvas = canvas.reduce(ss)
    return _tight(np.asarray(canvas, dtype=np.float32) / 255.0)


def font_digit(
    rng: np.random.Generator, fonts: Sequence[Path], label: int, height: int, stroke: float
) -> np.ndarray:
    """Ink coverage of `label` typed in a random font, about `height` pixels tall."""
    font = ImageFont.truetype(
        str(fonts[int(rng.integers(len(fonts)))]), size=max(8, int(height * 1.35))
    )
    extra = max(0, round(stroke / 2 - height * 0.06))  # thicken for markers
    size = (int(height * 1.6) + 4 * extra + 8, int(height * 2) + 4 * extra + 8)
    canvas = Image.new("L", size, 0)
    ImageDraw.Draw(canvas).text(
        (size[0] // 2, size[1] // 2),
        str(label),
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=extra,
        stroke_fill=255,
    )
    return _tight(np.asarray(canvas, dtype=np.float32) / 255.0)


def _tight(coverage: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(coverage.max(axis=1) > 0.02)
    cols = np.flatnonzero(coverage.max(axis=0) > 0.02)
    if rows.size == 0:
        return coverage
    return coverage[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def rotate(coverage: np.ndarray, degrees: float) -> np.ndarray:
    if abs(degrees) < 0.1:
        return coverage
    image = Image.fromarray(coverage.astype(np.float32), mode="F")
    return _tight(
        np.asarray(image.rotate(degrees, Image.Resampling.BILINEAR, expand=True), np.float32)
    )


def paste(layer: np.ndarray, patch: np.ndarray, top: int, left: int) -> None:
    """Add `patch` into `layer` at (top, left), clipping whatever falls outside."""
    h, w = patch.shape
    t0, l0 = max(top, 0), max(left, 0)
    t1, l1 = min(top + h, layer.shape[0]), min(left + w, layer.shape[1])
    if t1 <= t0 or l1 <= l0:
        return
    region = layer[t0:t1, l0:l1]
    np.maximum(region, patch[t0 - top : t1 - top, l0 - left : l1 - left], out=region)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    small = (max(2, int(shape[0] / sigma) + 2), max(2, int(shape[1] / sigma) + 2))
    field = ndimage.gaussian_filter(rng.normal(0, 1, small), 1.0)
    field /= field.std() + 1e-9
    zoomed = np.asarray(
        Image.fromarray(field.astype(np.float32), mode="F").resize(
            shape[::-1], Image.Resampling.BICUBIC
        )
    )
    return zoomed


def digit_for_photo(
    rng: np.random.Generator, fonts: Sequence[Path], label: int, height: int, stroke: float
) -> np.ndarray:
    if rng.random() < 0.3:
        coverage = font_digit(rng, fonts, label, height, stroke)
    else:
        coverage = hand_digit(rng, label, height, stroke)
    return rotate(coverage, rng.uniform(-10, 10))


def lighting(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Multiplicative light field: a gradient, a vignette and sometimes a soft shadow."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = np.cos(angle) * (xx / w - 0.5) + np.sin(angle) * (yy / h - 0.5)
    light = 1.0 + rng.uniform(0.1, 0.5) * ramp
    radius = np.hypot((xx - w / 2) / w, (yy - h / 2) / h)
    light *= 1.0 - rng.uniform(0.0, 0.35) * radius**2
    if rng.random() < 0.6:
        # A shadow cast by the phone or a hand: a half-plane or blob, soft-edged.
        shadow = np.zeros(shape, np.float32)
        if rng.random() < 0.5:
            a = rng.uniform(0, 2 * math.pi)
            offset = rng.uniform(-0.2, 0.35)
            shadow[(np.cos(a) * (xx / w - 0.5) + np.sin(a) * (yy / h - 0.5)) > offset] = 1.0
        else:
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            ry, rx = rng.uniform(0.2, 0.5) * h, rng.uniform(0.2, 0.5) * w
            shadow[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = 1.0
        shadow = ndimage.gaussian_filter(shadow, rng.uniform(0.01, 0.05) * max(h, w))
        light *= 1.0 - rng.uniform(0.2, 0.5) * shadow
    return light.astype(np.float32)


def photo(
    rng: np.random.Generator,
    fonts: Sequence[Path],
    label: int,
    kind: str,
    draw_patch: Callable[[int, float], np.ndarray] | None = None,
) -> tuple[Image.Image, int]:
    """A phone photo of a digit on paper; returns the upright RGB image and an EXIF orientation.

    `draw_patch(height, stroke)` draws something else instead of the digit (ink coverage), for
    bench/nondigits/: letters, symbols and doodles photographed the same way.
    """
    small_in_large = rng.random() < 0.2
    if small_in_large:
        w, h = (1200, 900) if rng.random() < 0.6 else (900, 1200)
        digit_h = int(rng.uniform(0.1, 0.2) * h)
    else:
        w, h = [
            (640, 480),
            (800, 600),
            (480, 640),
            (600, 600),
            (1024, 768),
            (360, 480),
            (300, 300),
        ][int(rng.integers(7))]
        digit_h = int(rng.uniform(0.3, 0.75) * min(h, w))
    tool = rng.choice(["pen", "pen", "pencil", "marker"])
    stroke = {
        "pen": rng.uniform(0.012, 0.03),
        "pencil": rng.uniform(0.01, 0.025),
        "marker": rng.uniform(0.06, 0.12),
    }[str(tool)] * digit_h
    stroke = max(1.2, stroke)
    if kind == "photo_white":
        paper = np.array([rng.uniform(225, 250)] * 3) + rng.normal(0, 3, 3)
    elif kind == "photo_beige":
        paper = np.array([rng.uniform(225, 245), rng.uniform(205, 225), rng.uniform(160, 195)])
    else:
        paper = (
            np.array([rng.uniform(175, 205), rng.uniform(205, 225), rng.uniform(230, 250)])
            if rng.random() < 0.35
            else np.array([rng.uniform(225, 250)] * 3)
        )
    if kind == "photo_blue":
        ink = np.array([rng.uniform(15, 60), rng.uniform(30, 80), rng.uniform(120, 190)])
    elif tool == "pencil":
        ink = np.array([rng.uniform(80, 130)] * 3)
    else:
        ink = np.array([rng.uniform(10, 50)] * 3) + rng.normal(0, 4, 3)
    ink = np.clip(ink, 0, 255)
    coverage = np.zeros((h, w), np.float32)
    if draw_patch is None:
        patch = digit_for_photo(rng, fonts, label, digit_h, stroke)
    else:
        patch = rotate(draw_patch(digit_h, stroke), rng.uniform(-10, 10))
    top = int(rng.uniform(0.15, 0.85) * h - patch.shape[0] / 2)
    left = int(rng.uniform(0.2, 0.8) * w - patch.shape[1] / 2)
    top = int(np.clip(top, 2, max(2, h - patch.shape[0] - 2)))
    left = int(np.clip(left, 2, max(2, w - patch.shape[1] - 2)))
    paste(coverage, patch, top, left)
    if tool == "pencil":
        coverage *= rng.uniform(0.6, 0.9)
    # Paper: colour, a little low-frequency texture and fibre grain.
    texture = 1.0 + 0.015 * smooth_noise(rng, (h, w), 40) + rng.normal(0, 0.01, (h, w))
    rgb = paper[None, None, :] * texture[..., None]
    if kind == "photo_white" and rng.random() < 0.3:
        # A ruled notebook page: faint blue lines.
        spacing = rng.uniform(0.06, 0.1) * h
        line_rgb = np.array([150.0, 180.0, 225.0])
        y = rng.uniform(0, spacing)
        while y < h:
            y0 = int(y)
            rgb[y0 : y0 + max(1, h // 400)] = rgb[y0 : y0 + max(1, h // 400)] * 0.3 + line_rgb * 0.7
            y += spacing
    for _ in range(int(rng.integers(0, 4))):
        # Dirt and pen dots away from the digit.
        cy, cx = int(rng.uniform(0, h)), int(rng.uniform(0, w))
        r = rng.uniform(1, 2.5) * max(1, min(h, w) / 400)
        yy, xx = np.ogrid[0:h, 0:w]
        coverage[((yy - cy) ** 2 + (xx - cx) ** 2) < r * r] = rng.uniform(0.5, 1.0)
    rgb = rgb * (1 - coverage[..., None]) + ink[None, None, :] * coverage[..., None]
    if rng.random() < 0.25:
        # The table beyond the paper's edge along one side, never over the digit.
        side = int(rng.integers(4))
        along = w if side < 2 else h
        margin = [left, w - left - patch.shape[1], top, h - top - patch.shape[0]][side]
        band = int(min(rng.uniform(0.03, 0.12) * along, margin - 0.02 * along))
        table = np.array([rng.uniform(60, 140), rng.uniform(40, 100), rng.uniform(20, 70)])
        if band >= 3:
            if side == 0:
                rgb[:, :band] = table
            elif side == 1:
                rgb[:, w - band :] = table
            elif side == 2:
                rgb[:band] = table
            else:
                rgb[h - band :] = table
    rgb *= lighting(rng, (h, w))[..., None] * rng.uniform(0.75, 1.05)
    blur = rng.uniform(0.3, 1.4) * max(1.0, min(h, w) / 600)
    rgb = ndimage.gaussian_filter(rgb, (blur, blur, 0))
    rgb += rng.normal(0, rng.uniform(2, 7), rgb.shape)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")
    orientation = int(rng.choice([1, 1, 1, 1, 3, 6, 8]))
    return image, orientation


def save_jpeg(image: Image.Image, path: Path, quality: int, orientation: int) -> None:
    """Save the upright `image` the way a phone does: pixels as the sensor saw them plus a tag."""
    stored = {
        1: image,
        3: image.transpose(Image.Transpose.ROTATE_180),
        6: image.transpose(Image.Transpose.ROTATE_90),
        8: image.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=quality, exif=exif.tobytes())
    path.write_bytes(buffer.getvalue())


def mouse_28(rng: np.random.Generator, label: int) -> Image.Image:
    """A 28x28 black-on-white drawing made with a mouse in a paint program."""
    height = int(rng.integers(15, 26))
    stroke = float(rng.choice([1.0, 1.0, 2.0, 2.0, 2.5]))
    coverage = hand_digit(rng, label, height, stroke, aliased=rng.random() < 0.6)
    coverage = rotate(coverage, rng.uniform(-8, 8))
    if coverage.shape[0] > 27 or coverage.shape[1] > 27:
        coverage = coverage[:27, :27]
    canvas = np.zeros((28, 28), np.float32)
    top = int(rng.integers(0, 28 - coverage.shape[0] + 1))
    left = int(rng.integers(0, 28 - coverage.shape[1] + 1))
    paste(canvas, coverage, top, left)
    pixels = np.clip(255 * (1 - canvas), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        return Image.fromarray(np.repeat(pixels[..., None], 3, axis=2), mode="RGB")
    return Image.fromarray(pixels, mode="L")


def canvas_thick(rng: np.random.Generator, label: int) -> Image.Image:
    """A large canvas drawing with very thick strokes, sometimes running off the edge."""
    side = int(rng.choice([280, 400, 400, 500]))
    height = int(rng.uniform(0.65, 1.05) * side)
    stroke = rng.uniform(0.08, 0.16) * height
    coverage = hand_digit(rng, label, height, stroke)
    coverage = rotate(coverage, rng.uniform(-8, 8))
    layer = np.zeros((side, side), np.float32)
    top = int(rng.uniform(-0.05, 0.1) * side + (side - coverage.shape[0]) / 2)
    left = int((side - coverage.shape[1]) / 2 + rng.uniform(-0.15, 0.15) * side)
    paste(layer, coverage, top, left)
    colour = (
        np.array([0, 0, 0], np.float32)
        if rng.random() < 0.7
        else rng.uniform(0, 120, 3).astype(np.float32)
    )
    if rng.random() < 0.4:
        rgba = np.zeros((side, side, 4), np.float32)
        rgba[..., :3] = colour
        rgba[..., 3] = 255 * layer
        return Image.fromarray(rgba.astype(np.uint8), mode="RGBA")
    rgb = 255 * (1 - layer[..., None]) + colour * layer[..., None]
    return Image.fromarray(rgb.astype(np.uint8), mode="RGB")


def light_on_black(rng: np.random.Generator, label: int) -> Image.Image:
    """Thin light strokes on a black or blackboard-dark background."""
    side = int(rng.choice([64, 200, 280, 400]))
    height = int(rng.uniform(0.45, 0.85) * side)
    stroke = max(1.0, rng.uniform(0.02, 0.05) * height)
    coverage = hand_digit(rng, label, height, stroke)
    coverage = rotate(coverage, rng.uniform(-10, 10))
    layer = np.zeros((side, side), np.float32)
    top = int((side - coverage.shape[0]) / 2 + rng.uniform(-0.1, 0.1) * side)
    left = int((side - coverage.shape[1]) / 2 + rng.uniform(-0.15, 0.15) * side)
    paste(layer, coverage, top, left)
    board = rng.uniform(0, 40) if rng.random() < 0.5 else 0.0
    chalk = rng.uniform(190, 255)
    grey = board + (chalk - board) * layer
    if board > 0:  # a photographed blackboard: smudges and noise
        grey = grey + 8 * smooth_noise(rng, (side, side), 30) + rng.normal(0, 4, grey.shape)
    return Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), mode="L")


def drawing(kind: str, rng: np.random.Generator, label: int) -> Image.Image:
    if kind == "mouse_28":
        return mouse_28(rng, label)
    if kind == "canvas_thick":
        return canvas_thick(rng, label)
    return light_on_black(rng, label)


def generate(out: Path, per_kind: int, seed: int) -> int:
    out.mkdir(parents=True, exist_ok=True)
    fonts = find_fonts()
    if not fonts:
        raise SystemExit("no TrueType fonts found (install fonts-dejavu or matplotlib)")
    rows: list[tuple[str, int, str]] = []
    for kind_index, kind in enumerate(KINDS):
        folder = out / kind
        folder.mkdir(exist_ok=True)
        # One generator per kind: changing one kind's recipe leaves the others' images alone.
        rng = np.random.default_rng([seed, kind_index])
        for index in range(per_kind):
            label = index % 10
            if kind.startswith("photo"):
                image, orientation = photo(rng, fonts, label, kind)
                name = f"{index:03d}_{label}.jpg"
                save_jpeg(image, folder / name, int(rng.integers(55, 92)), orientation)
            else:
                name = f"{index:03d}_{label}.png"
                drawing(kind, rng, label).save(folder / name)
            rows.append((f"{kind}/{name}", label, kind))
    with (out / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "kind"])
        writer.writerows(rows)
    return len(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--per-kind", type=int, default=60, help="images per kind (default 60)")
    parser.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    args = parser.parse_args(argv)
    count = generate(args.out, args.per_kind, args.seed)
    print(f"wrote {count} images and labels.csv to {args.out}")


if __name__ == "__main__":
    main()
