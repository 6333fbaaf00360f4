"""Grey and binary morphology in 3x3 steps, on the last two axes (one image or a stack).

A few shifted whole-array maxima or minima cost far less than scipy.ndimage's general footprints
on these small images, and need no scipy import (a lone `predict` must not pay for it). Each step
is exactly `scipy.ndimage.grey_dilation` / `grey_erosion` with a 3x3 square or cross footprint
(tests/test_morphology.py checks it).
"""

from __future__ import annotations

import numpy as np


def morph_step(
    image: np.ndarray, pick: np.ufunc, *, square: bool, cval: float | None = None
) -> np.ndarray:
    """One grey dilation (pick=np.maximum) or erosion (np.minimum) of the last two axes.

    The footprint is the 3x3 square (`square`) or the cross of a pixel and its four neighbours.
    Beyond the border the nearest edge pixel repeats (cval None: scipy's mode="nearest"), or every
    pixel is `cval` (mode="constant"). On a boolean mask, np.maximum is a binary dilation.
    """
    padded = _pad(image, cval)
    rows = pick(pick(padded[..., :-2, :], padded[..., 1:-1, :]), padded[..., 2:, :])
    if square:
        result: np.ndarray = pick(pick(rows[..., :-2], rows[..., 1:-1]), rows[..., 2:])
        return result
    middle = padded[..., 1:-1, :]
    result = pick(pick(rows[..., 1:-1], middle[..., :-2]), middle[..., 2:])
    return result


def morph_octagon(image: np.ndarray, radius: int, pick: np.ufunc) -> np.ndarray:
    """Grey dilation (pick=np.maximum) or erosion (np.minimum) by an octagon of `radius`.

    Alternating crosses and 3x3 squares approximate a disk, so strokes grow or shrink evenly in
    all directions. The border repeats the edge pixels.
    """
    out = image
    for step in range(radius):
        out = morph_step(out, pick, square=step % 2 == 1)
    return out


def dilate_mask(mask: np.ndarray) -> np.ndarray:
    """Binary dilation of a boolean mask by one pixel in all eight directions."""
    return morph_step(mask, np.maximum, square=True, cval=False)


def _pad(image: np.ndarray, cval: float | None) -> np.ndarray:
    """`image` with one more pixel on each side of its last two axes."""
    if cval is None:
        padding = [(0, 0)] * (image.ndim - 2) + [(1, 1), (1, 1)]
        return np.pad(image, padding, mode="edge")
    padded = np.full(
        (*image.shape[:-2], image.shape[-2] + 2, image.shape[-1] + 2), cval, dtype=image.dtype
    )
    padded[..., 1:-1, 1:-1] = image
    return padded
