"""Cropping, scaling and centring: from the digit's crop to the canonical 20x20 image."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from digitcli.errors import NoInkError
from digitcli.vocabulary import IMAGE_SIDE

# Where each row or column lies, for centres of mass.
_POSITIONS = np.arange(IMAGE_SIDE, dtype=np.float32)
# The centre of the canonical image, where the digit's centre of mass goes.
_CENTRE = (IMAGE_SIDE - 1) / 2


def tight(image: np.ndarray) -> np.ndarray:
    """`image` cropped to the box of its non-zero pixels (which are >= 0); NoInkError if none."""
    # max > 0 rather than any(): the same for ink >= 0, and any()'s Python wrapper costs more.
    rows = np.flatnonzero(image.max(axis=1) > 0)
    cols = np.flatnonzero(image.max(axis=0) > 0)
    if rows.size == 0:
        raise NoInkError("no ink found: the image is blank")
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


@lru_cache(maxsize=4096)
def resize_weights(size: int, new_size: int) -> np.ndarray:
    """(new_size, size) matrix of a triangle (bilinear) filter widened when shrinking.

    Widening the filter by the shrink factor makes it average like an area filter, so thin strokes
    fade rather than vanish between samples (the same filter as Pillow's BILINEAR resize).
    """
    scale = size / new_size
    support = max(scale, 1.0)
    centres = (np.arange(new_size) + 0.5) * scale
    positions = np.arange(size) + 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(positions[None, :] - centres[:, None]) / support)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights.astype(np.float32)


def fit_and_center(crop: np.ndarray) -> np.ndarray:
    """Scale a tight crop so its longer side is IMAGE_SIDE (20) pixels, then centre it by its
    centre of mass."""
    return fit_and_center_one(np.asarray(crop, dtype=np.float32))


def fit_and_center_one(crop: np.ndarray) -> np.ndarray:
    """`fit_and_center` of a float32 crop."""
    # The arithmetic of fit_and_center_many, without its batch bookkeeping (this runs per file).
    height, width = crop.shape
    scale = IMAGE_SIDE / max(height, width)
    new_height = max(1, min(IMAGE_SIDE, round(height * scale)))
    new_width = max(1, min(IMAGE_SIDE, round(width * scale)))
    resized = resize_weights(height, new_height) @ crop @ resize_weights(width, new_width).T
    peak = resized.max()
    if not peak > 0:
        raise NoInkError("no ink found: the image is blank")
    resized /= peak
    row_sums = resized.sum(axis=1)
    total = float(row_sums.sum())
    com_row = float((row_sums * _POSITIONS[:new_height]).sum()) / total
    com_col = float((resized.sum(axis=0) * _POSITIONS[:new_width]).sum()) / total
    top = min(max(round(_CENTRE - com_row), 0), IMAGE_SIDE - new_height)
    left = min(max(round(_CENTRE - com_col), 0), IMAGE_SIDE - new_width)
    canvas = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    canvas[top : top + new_height, left : left + new_width] = resized
    return canvas


def fit_and_center_many(crops: np.ndarray) -> np.ndarray:
    """`fit_and_center` for a stack of same-shaped crops at once."""
    count, height, width = crops.shape
    scale = IMAGE_SIDE / max(height, width)
    new_height = max(1, min(IMAGE_SIDE, round(height * scale)))
    new_width = max(1, min(IMAGE_SIDE, round(width * scale)))
    resized = resize_weights(height, new_height) @ crops @ resize_weights(width, new_width).T
    peak = resized.reshape(count, -1).max(axis=1)
    if not (peak > 0).all():
        raise NoInkError("no ink found: the image is blank")
    # Shrinking a photo fades its strokes: stretch so the strongest ink is 1 again. Weights and
    # ink are >= 0, so this stays within [0, 1].
    resized /= peak[:, None, None]
    row_sums = resized.sum(axis=2)
    total = row_sums.sum(axis=1).astype(np.float64)
    com_row = (row_sums * _POSITIONS[:new_height]).sum(axis=1) / total
    com_col = (resized.sum(axis=1) * _POSITIONS[:new_width]).sum(axis=1) / total
    top = np.clip(np.rint(_CENTRE - com_row), 0, IMAGE_SIDE - new_height).astype(np.intp)
    left = np.clip(np.rint(_CENTRE - com_col), 0, IMAGE_SIDE - new_width).astype(np.intp)
    canvas = np.zeros((count, IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    # Scatter each image into its place: flat indices of every resized pixel on its canvas.
    rows = top[:, None, None] + np.arange(new_height)[None, :, None]
    cols = left[:, None, None] + np.arange(new_width)[None, None, :]
    flat = (
        np.arange(count)[:, None, None] * (IMAGE_SIDE * IMAGE_SIDE) + rows * IMAGE_SIDE + cols
    ).ravel()
    canvas.reshape(-1)[flat] = resized.ravel()
    return canvas
