"""Stroke width: measured as area over half the outline, and brought into MNIST's range."""

from __future__ import annotations

import numpy as np

from digitcli.preprocess.geometry import resize_weights, tight
from digitcli.preprocess.morphology import morph_octagon
from digitcli.vocabulary import IMAGE_SIDE

# A stroke's core: pixels at least this strong (anti-aliased edges are weaker).
STROKE_LEVEL = 0.5
# Stroke width in the 20x20 result, in pixels, kept within MNIST's usual range: thinner
# strokes are thickened to STROKE_MIN, thicker ones thinned to STROKE_MAX...
STROKE_MIN = 1.7
STROKE_MAX = 4.0
THICKEN_TO = 1.7
THIN_TO = 4.0
# ...after crops smaller than this are enlarged (by a whole factor), so that the change of width
# can be finer than a whole pixel of the result.
STROKE_SIDE = 64


def stroke_width(mask: np.ndarray) -> float:
    """`stroke_widths` of one 2-D mask (whole-array counts are much faster than per-axis ones)."""
    area = int(np.count_nonzero(mask))
    outline = int(
        np.count_nonzero(mask[1:] != mask[:-1])
        + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
        + np.count_nonzero(mask[0])
        + np.count_nonzero(mask[-1])
        + np.count_nonzero(mask[:, 0])
        + np.count_nonzero(mask[:, -1])
    )
    return 2.0 * area / max(outline, 1)


def stroke_widths(masks: np.ndarray) -> np.ndarray:
    """Mean stroke width of each (..., H, W) mask, in pixels: its area over half its outline.

    The outline is counted in pixel edges between ink and background (outside counts as
    background), so a one-pixel line of length L has area L and outline 2L + 2: width 1.
    """
    area = np.count_nonzero(masks, axis=(-2, -1))
    outline = (
        np.count_nonzero(masks[..., 1:, :] != masks[..., :-1, :], axis=(-2, -1))
        + np.count_nonzero(masks[..., 1:] != masks[..., :-1], axis=(-2, -1))
        + np.count_nonzero(masks[..., 0, :], axis=-1)
        + np.count_nonzero(masks[..., -1, :], axis=-1)
        + np.count_nonzero(masks[..., 0], axis=-1)
        + np.count_nonzero(masks[..., -1], axis=-1)
    )
    result: np.ndarray = 2.0 * area / np.maximum(outline, 1)
    return result


def normalise_strokes(crop: np.ndarray, core_width: float | None = None) -> np.ndarray:
    """Thicken or thin strokes that would come out far from MNIST's width in the 20x20 box.

    Thin pen lines in a photo shrink to a faint hairline, mouse drawings are one pixel wide and
    marker or brush strokes come out as blobs: the model has seen none of these in MNIST.
    `core_width` is `stroke_width(crop > STROKE_LEVEL)` when the caller has it already.
    """
    if core_width is None:
        core_width = stroke_width(crop > STROKE_LEVEL)
    width = core_width * IMAGE_SIDE / max(crop.shape)
    if STROKE_MIN <= width <= STROKE_MAX:
        return crop
    target = THICKEN_TO if width < STROKE_MIN else THIN_TO
    height, breadth = crop.shape
    factor = -(-STROKE_SIDE // max(height, breadth))
    # From widths in the 20x20 result to a radius in the (enlarged) crop: half the difference.
    radius = round(abs(target - width) * (max(height, breadth) * factor) / IMAGE_SIDE / 2)
    if radius < 1:
        return crop
    if factor > 1:
        crop = (
            resize_weights(height, height * factor)
            @ crop
            @ resize_weights(breadth, breadth * factor).T
        )
    if target > width:
        return morph_octagon(np.pad(crop, radius), radius, np.maximum)
    thinned = morph_octagon(crop, radius, np.minimum)
    return tight(thinned) if thinned.max() > 0 else crop
