"""Connected ink regions: 8-connected labelling, in NumPy for a lone small image, else scipy."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import cast

import numpy as np

# 8-connectivity: diagonal neighbours join, so a stroke drawn at 45 degrees stays one piece.
EIGHT = np.ones((3, 3), dtype=bool)

# Below this many pixels, labelling in NumPy beats paying for scipy's import in a fresh process.
SMALL_LABEL_PIXELS = 64 * 64


def ndimage() -> ModuleType:
    """scipy.ndimage, imported on first use: its import (~0.2 s) would double the start-up of a
    one-image `predict`, whose clean digit needs none of it."""
    from scipy import ndimage as module

    return cast(ModuleType, module)  # SciPy ships no types: to mypy it is Any


def warm_up() -> None:
    """Import scipy.ndimage now: worth it before canonicalizing more than a few images, since its
    labelling is much faster than the NumPy fallback used for a lone small image."""
    ndimage()


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of `mask`, numbered 1.. in raster order of their first pixel, exactly
    as `scipy.ndimage.label(mask, structure=np.ones((3, 3)))` numbers them."""
    if "scipy.ndimage" in sys.modules or mask.size > SMALL_LABEL_PIXELS:
        return _label_box(mask)
    return label_small(mask)


def _label_box(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """scipy's labelling of the mask's bounding box only (a digit fills a third of a canvas's):
    cropping keeps the raster order of the regions, so their numbers are the same."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return np.zeros(mask.shape, dtype=np.int32), 0
    cols = np.flatnonzero(mask.any(axis=0))
    box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    inside, count = ndimage().label(mask[box], structure=EIGHT)
    labels = np.zeros(mask.shape, dtype=inside.dtype)
    labels[box] = inside
    return labels, int(count)


def label_small(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """NumPy labelling for small masks: every pixel takes the smallest flat index among its linked
    neighbours, with pointer jumping so long strokes converge in a few rounds."""
    height, width = mask.shape
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.int32), 0
    big = np.int64(height * width)
    index = np.arange(height * width, dtype=np.int64).reshape(height, width)
    parent = np.where(mask, index, big)
    padded = np.full((height + 2, width + 2), big, dtype=np.int64)
    while True:
        padded[1:-1, 1:-1] = parent
        rows = np.minimum(np.minimum(padded[:-2, :], padded[1:-1, :]), padded[2:, :])
        smallest = np.minimum(np.minimum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
        updated = np.where(mask, smallest, big)
        # Pointer jumping: follow each pixel's new root to that root's own root.
        flat = np.append(updated.ravel(), big)
        updated = np.where(mask, flat[np.minimum(updated, big)], big)
        if np.array_equal(updated, parent):
            break
        parent = updated
    roots, inverse = np.unique(parent[mask], return_inverse=True)
    labels = np.zeros(mask.shape, dtype=np.int32)
    labels[mask] = inverse.ravel() + 1
    return labels, len(roots)
