"""The page: a sheet of paper photographed on a darker or lighter surface, found and cut out.

Left in, the surface beyond the paper decides the polarity (a white sheet on a dark desk looks
like a bright blob of ink on a dark background) and the sheet itself is read as the digit. The
page is the largest region whose tone differs clearly from the picture's border, solid apart from
thin darker strokes written on it (the ink). Everything outside it is painted in the page's tone.
A digit's own strokes never pass for a page: they have no thin darker ink inside, the holes of
a light-on-dark 0 or 8 are blobs, not strokes, and a bold light-on-dark digit (a thick brush on a
dark canvas: its holes are small and look like ink) is not convex like a sheet of paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from digitcli.preprocess.background import border_pixels
from digitcli.preprocess.components import label, ndimage
from digitcli.preprocess.strokes import stroke_width

# The page is looked for at most this many pixels on the longer side: its edges are coarse.
PAGE_WORK_SIDE = 128
# The page differs from the surface (the border's median) by at least this tone.
_SURFACE_STEP = 0.2
# The page covers at least this share of the picture, and its box this share of each side...
_PAGE_AREA = 0.15
_PAGE_SIDE = 0.3
# ...it fills at least this share of its box (a quadrilateral, even tilted by 30 degrees)...
_PAGE_FILL = 0.5
# ...it is convex, as a sheet is in any perspective: it fills this share of its convex hull
# (tilted sheets on a desk: 0.96-0.98; bold light-on-dark 6s, 8s and 9s, whose outlines have bays
# beside the tail or at the waist, fill 0.57-0.90 and their holes were read as the ink)...
_PAGE_CONVEX = 0.93
# ...and it is not the whole picture (nothing to cut) when its box spans this share of both sides.
_WHOLE = 0.97
# Ink on the page is darker than the page's tone by this much...
_INK_STEP = 0.3
# ...covers at most this share of the page, and its strokes are at most this share of the page's
# shorter side wide (the holes of a bold 0 or 8 are far wider).
_INK_SHARE = 0.3
_INK_WIDTH = 0.1
_MIN_INK_PIXELS = 3
# The page's tones outside the ink span at most this much between their quartiles.
_PAPER_SPREAD = 0.12


@dataclass(frozen=True)
class Page:
    """Where the page lies in the picture (work pixels) and the picture cut to it."""

    top: int
    left: int
    image: np.ndarray  # the page's box, the surface in its corners painted in the page's tone


def find_page(work: np.ndarray) -> Page | None:
    """The sheet of paper in `work` (values in [0, 1]), or None when there is no distinct page."""
    height, width = work.shape
    factor = max(1, -(-max(height, width) // PAGE_WORK_SIDE))
    small = (
        np.asarray(Image.fromarray(work, mode="F").reduce(factor), dtype=np.float32)
        if factor > 1
        else work
    )
    surface = float(np.median(border_pixels(small)))
    away = np.abs(small - np.float32(surface)) > _SURFACE_STEP
    if np.count_nonzero(away) < _PAGE_AREA * away.size:
        return None  # the usual picture: paper all round, a little ink
    labels, count = label(away)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    region = labels == int(sizes.argmax())
    tone = float(np.median(small[region]))
    ink_level = np.float32(tone - _INK_STEP)
    if np.count_nonzero(small < ink_level) < _MIN_INK_PIXELS:
        # Nothing anywhere is dark enough to be ink on this region (a bold dark digit on a light
        # canvas is such a region): the ink test below would fail; the shape tests cost more.
        return None
    filled = ndimage().binary_fill_holes(region)
    rows = np.flatnonzero(filled.any(axis=1))
    cols = np.flatnonzero(filled.any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    box_h, box_w = bottom - top, right - left
    small_h, small_w = small.shape
    area = int(np.count_nonzero(filled))
    if (
        box_h < _PAGE_SIDE * small_h
        or box_w < _PAGE_SIDE * small_w
        or area < _PAGE_AREA * small.size
        or area < _PAGE_FILL * box_h * box_w
        or (box_h >= _WHOLE * small_h and box_w >= _WHOLE * small_w)
    ):
        return None
    if area < _PAGE_CONVEX * hull_area(filled):
        return None
    ink = filled & (small < ink_level)
    inked = int(np.count_nonzero(ink))
    if inked < _MIN_INK_PIXELS or inked > _INK_SHARE * area:
        return None
    ink_width = stroke_width(ink)
    if ink_width > _INK_WIDTH * min(box_h, box_w):
        return None
    # Paper is of one tone, give or take the light; a bold, blurred stroke shades from its edges
    # to a dark core that would pass for ink on it.
    paper = small[region & ~ink]
    if float(np.percentile(paper, 75) - np.percentile(paper, 25)) > _PAPER_SPREAD:
        return None
    # Back to work pixels; one small pixel less all round keeps the page's blurred edge out.
    inside = ndimage().binary_erosion(filled) if min(box_h, box_w) > 4 else filled
    mask = np.kron(inside, np.ones((factor, factor), dtype=bool))[:height, :width]
    if mask.shape != work.shape:
        mask = np.pad(mask, ((0, height - mask.shape[0]), (0, width - mask.shape[1])))
    top, left = top * factor, left * factor
    bottom, right = min(height, bottom * factor), min(width, right * factor)
    cut = np.where(mask[top:bottom, left:right], work[top:bottom, left:right], np.float32(tone))
    return Page(top, left, cut.astype(np.float32))


def hull_area(mask: np.ndarray) -> float:
    """Area of the convex hull of a non-empty mask's pixels (as unit squares), in pixels."""
    rows = np.flatnonzero(mask.any(axis=1))
    firsts = mask[rows].argmax(axis=1)
    lasts = mask.shape[1] - 1 - mask[rows, ::-1].argmax(axis=1)
    # Each row's run of pixels spans from its first to its last pixel's outer corners.
    xs = np.concatenate([firsts, firsts, lasts + 1, lasts + 1]).astype(np.float64)
    ys = np.concatenate([rows, rows + 1, rows, rows + 1]).astype(np.float64)
    points = sorted(set(zip(xs.tolist(), ys.tolist(), strict=True)))

    def chain(ordered: list[tuple[float, float]]) -> list[tuple[float, float]]:
        kept: list[tuple[float, float]] = []
        for x, y in ordered:
            while len(kept) >= 2:
                (ox, oy), (ax, ay) = kept[-2], kept[-1]
                if (ax - ox) * (y - oy) - (ay - oy) * (x - ox) > 0:
                    break
                kept.pop()
            kept.append((x, y))
        return kept[:-1]

    hull = np.asarray(chain(points) + chain(points[::-1]))  # Andrew's monotone chain
    x, y = hull[:, 0], hull[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
