"""Cheap checks for pictures that cannot hold a digit: photos of scenes (before the network), a
detached dot above or below the strokes (on the 20x20 image the network reads: a ? or a !), and a
"5" that is the same upside down (an S).

A digit is ink on a page (or strokes on a canvas): most of the picture is a flat background, and the
margins are background too. A photo of a landscape, a face or a room has texture everywhere, up to
its edges. `scene_reason` measures that on a small copy of the picture (NumPy only, about a
millisecond) and names it; `predict` then answers "no digit found" without asking the network,
which would read some digit into any texture.

Texture is measured as the share of pixels on an edge (a gradient of at least EDGE of the picture's
tonal range). The thresholds were set on scene crops of bench/nondigits' *train* photographs (flower, relief map,
a drawing, an MRI) against bench/realistic's synthetic digit photos and drawings (ruled paper,
shadows, table edges); never on ../shared/data/real, which is measured only.
"""

from __future__ import annotations

import numpy as np

from digitcli.vocabulary import IMAGE_SHAPE

# Pictures smaller than this (on their shorter side) are drawings or dataset images: not checked.
MIN_SIDE = 48
# The small copy the features are measured on: its longer side, in pixels.
WORK_SIDE = 96
# A pixel is on an edge when its gradient is at least this share of the picture's tonal range.
EDGE = 0.12
# The outer ring (this share of the shorter side, on every side) that is paper or canvas in a
# picture of a digit.
RING = 0.15
# A scene: edges in more than this share of all pixels and of the ring's. Measured (edge shares,
# all / ring): synthetic digit photos and canvases at most 0.16 / 0.11; scene crops 0.2-0.8 /
# 0.15-0.8 in nine of ten (the rest, mostly sky or blur, is left to the network).
EDGES_SHARE = 0.18
RING_EDGES = 0.10
# ... and many mid-tones: ink on paper is two tones, a photograph a continuum. A tightly cropped
# number (strokes up to its edges) has as many edges as a scene but few mid-tones: composed
# numbers (bench/numbers, seed 0) at most 0.14 of their pixels; scenes caught by the edge tests at
# least 0.18 (train photographs).
MIDTONES = 0.16
# The picture's tonal range: its 1st to 99th percentile; or its 0.1th to 99.9th when that is at
# least WIDE_RANGE times as wide: thin chalk or ink can be under 1% of a picture, and the range
# was then the board's or the paper's noise alone (a scene's extremes are not so far out).
WIDE_RANGE = 2.0
# Mid-tones are counted on every n-th pixel, so that about this many rows and columns are read.
MIDTONE_SIDE = 256


def _small(gray: np.ndarray) -> np.ndarray:
    """Block means so the longer side is at most WORK_SIDE (float32)."""
    image = np.asarray(gray, dtype=np.float32)
    factor = max(1, int(np.ceil(max(image.shape) / WORK_SIDE)))
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor)
    result: np.ndarray = blocks.mean(axis=(1, 3))
    return result


def scene_features(gray: np.ndarray, midtones: float | None = None) -> dict[str, float]:
    """Edge shares of the whole picture and of its outer ring, its mid-tone share and its tonal
    spread (`midtones`: `midtone_share(gray)` when the caller has it)."""
    small = _small(gray)
    low, high = tonal_range(small)
    spread = float(high - low)
    if spread < 0.05 or min(small.shape) < 8:
        return {"spread": spread, "edges": 0.0, "ring": 0.0, "midtones": 0.0}
    dx = np.abs(np.diff(small, axis=1))[:-1, :]
    dy = np.abs(np.diff(small, axis=0))[:, :-1]
    edges = (dx + dy) / spread >= EDGE
    h, w = edges.shape
    # The ring is as wide on every side, a share of the shorter one: a picture of a long number
    # has paper margins about as wide at its ends as above and below it.
    band_h = band_w = max(1, round(min(h, w) * RING))
    ring = np.ones_like(edges)
    ring[band_h:-band_h, band_w:-band_w] = False
    return {
        "spread": spread,
        "edges": float(edges.mean()),
        "ring": float(edges[ring].mean()),
        "midtones": midtone_share(gray) if midtones is None else midtones,
    }


def tonal_range(values: np.ndarray) -> tuple[float, float]:
    """(low, high) of the picture's tones (see WIDE_RANGE)."""
    outer_low, low, high, outer_high = np.percentile(values, [0.1, 1, 99, 99.9])
    if outer_high - outer_low >= WIDE_RANGE * (high - low):
        return float(outer_low), float(outer_high)
    return float(low), float(high)


def midtone_share(gray: np.ndarray) -> float:
    """The share of pixels between a quarter and three quarters of the picture's tonal range
    (`tonal_range`), on a subsample without averaging (which would make mid-tones)."""
    image = np.asarray(gray, dtype=np.float32)
    step = max(1, int(np.ceil(max(image.shape) / MIDTONE_SIDE)))
    sample = image[::step, ::step]
    low, high = tonal_range(sample)
    if high - low < 0.05:
        return 0.0
    scaled = (sample - low) / (high - low)
    return float(np.mean((scaled > 0.25) & (scaled < 0.75)))


def scene_reason(gray: np.ndarray) -> str | None:
    """Why `gray` (2-D, in [0, 1]) is a photo of a scene rather than a digit; None when it may hold
    a digit (or is too small to tell)."""
    if min(np.shape(gray)) < MIN_SIDE or not _looks_like_scene(gray):
        return None
    # Ruled or squared paper looks like one too: measured again without its lines (only here, as
    # nearly every digit is cleared by the cheap first test).
    from digitcli.preprocess.background import shrink
    from digitcli.preprocess.rules import without_rules

    small = shrink(np.asarray(gray, dtype=np.float32))  # the size the rules are looked for at
    cleaned = without_rules(small)
    if cleaned is not small and not _looks_like_scene(cleaned):
        return None
    return (
        "no digit found: the picture looks like a photo of a scene (texture up to its edges), "
        "not a digit on paper"
    )


def _looks_like_scene(gray: np.ndarray) -> bool:
    # A scene passes all three tests; the mid-tones are the cheapest (a third of the time of the
    # edges) and fail for nearly every digit on paper or a canvas, so they go first.
    midtones = midtone_share(gray)
    if midtones <= MIDTONES:
        return False
    features = scene_features(gray, midtones)
    return (
        features["edges"] > EDGES_SHARE
        and features["ring"] > RING_EDGES
        and features["midtones"] > MIDTONES
    )


# A detached dot, on the 20x20 canonical image: ink above INK_LEVEL in a separate component of at
# most DOT_SIDE x DOT_SIDE pixels (and at least DOT_MIN_PIXELS: one pixel is noise), filling at
# least DOT_FILL of its box, wholly above or below the
# largest component. No digit has one (a 5's bar is long, a dotted zero's dot is inside); a ? and
# a ! have one, an i and a j too. Measured: 22 of 24 hand-drawn and typed ?, 17 of 24 ! of
# bench/nondigits; 14 of MNIST's 10,000 test digits (a stray speck, all read right), 1 of USPS's
# 2,007, none of optdigits, Semeion, photos or drawn_28px.
INK_LEVEL = 0.3
DOT_SIDE = 4
DOT_MIN_PIXELS = 2
DOT_FILL = 0.5


def dot_reason(canonical: np.ndarray) -> str | None:
    """Why a 20x20 canonical image (light on dark, any shape that reshapes to it) is no digit
    because of a detached dot above or below its strokes, or None."""
    from digitcli.preprocess.components import label  # NumPy for so small an image: no scipy

    mask = np.asarray(canonical).reshape(IMAGE_SHAPE) > INK_LEVEL
    labels, count = label(mask)
    if count < 2:
        return None
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    rows_of = [np.flatnonzero((labels == index + 1).any(axis=1)) for index in range(count)]
    cols_of = [np.flatnonzero((labels == index + 1).any(axis=0)) for index in range(count)]
    main = int(np.argmax(sizes))
    top, bottom = int(rows_of[main][0]), int(rows_of[main][-1]) + 1
    for index in range(count):
        if index == main:
            continue
        first, last = int(rows_of[index][0]), int(rows_of[index][-1]) + 1
        rows, cols = last - first, int(cols_of[index][-1] - cols_of[index][0]) + 1
        size = int(sizes[index])
        apart = first >= bottom or last <= top
        small = max(rows, cols) <= DOT_SIDE and size >= DOT_MIN_PIXELS
        if apart and small and size >= DOT_FILL * rows * cols:
            where = "below" if first >= bottom else "above"
            return f"a separate dot {where} the strokes: a ? or a ! rather than a digit"
    return None


# A 5 is not the same upside down (its bar is at the top, its bowl at the bottom); an S is. The
# share of the ink that a half-turn leaves on ink, the turned image shifted by up to SYMMETRY_SHIFT
# pixels each way to the best fit (centring by the ink's mass puts an S's centre a pixel or two off
# the image's): typed S's in 63 fonts mostly above 0.87, typed 5s at most 0.78. POINT_SYMMETRY is
# the 99.9th percentile of MNIST's training 5s (0.864, rounded up); never set on ../shared/data/real.
POINT_SYMMETRY = 0.87
SYMMETRY_SHIFT = 2
SYMMETRIC_FIVE = 5


def point_symmetry(canonical: np.ndarray) -> float:
    """The share of a 20x20 canonical image's ink that a half-turn leaves on ink, at the best
    shift of the turned image (up to SYMMETRY_SHIFT pixels each way)."""
    image = np.asarray(canonical, dtype=np.float32).reshape(IMAGE_SHAPE)
    total = float(image.sum())
    if total <= 0:
        return 0.0
    reach = SYMMETRY_SHIFT
    turned = np.pad(image[::-1, ::-1], reach)
    height, width = IMAGE_SHAPE
    best = max(
        float(np.minimum(image, turned[dy : dy + height, dx : dx + width]).sum())
        for dy in range(2 * reach + 1)
        for dx in range(2 * reach + 1)
    )
    return best / total


def symmetry_reason(canonical: np.ndarray, digit: int) -> str | None:
    """Why `digit` read from a 20x20 canonical image is doubtful because the image is the same
    upside down (an S read as 5), or None."""
    if digit != SYMMETRIC_FIVE or point_symmetry(canonical) < POINT_SYMMETRY:
        return None
    return "the same upside down, as an S is and a 5 is not"
