"""Polarity: whether the ink is darker than the paper, so that it can be flipped to bright ink
(`vocabulary.Invert` says whether to guess)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from digitcli.preprocess.background import GRID_MIN_SIDE, MODAL_BORDER, modal_tone

# A border whose middle half spans fewer tones than this is nearly plain (like a modal one).
_UNEVEN_BORDER = 0.1
# In a photo, the darker and lighter extremes must differ by this share of their sum to decide:
# a shadow or glare inside can outdo faint pencil.
_CLEAR = 0.5
# A photo's lighting is followed in blocks of 1/_LIGHT_BLOCKS of its longer side (at least
# _MIN_BLOCK pixels): mostly background even with a bold digit.
_LIGHT_BLOCKS = 4
_MIN_BLOCK = 4
# Added to pixel and background before their ratio, so that black paper does not divide by zero.
_RATIO_OFFSET = 0.1
# Ink is at least this many times darker or lighter than its background; shadows and glare rarely
# halve or double the light.
_INK_RATIO = 2.0


def is_dark_on_light(image: np.ndarray, border: np.ndarray) -> bool:
    """Whether `image` (with its sorted border pixels) has dark ink on light paper."""
    count = len(border)
    spread = float(border[3 * count // 4] - border[count // 4])
    tone, share = modal_tone(border)
    if share >= MODAL_BORDER or spread < _UNEVEN_BORDER:
        # A border of (nearly) one tone is background, even where a thick stroke runs into it.
        # The ink is the extreme farther from it (rather than a fixed 0.5, so that grey scans and
        # photos work too)...
        background = tone if share >= MODAL_BORDER else float(border[count // 2])
        darker = background - float(image.min())
        lighter = float(image.max()) - background
        # ...when that is clear. In a photo, a shadow or glare inside can outdo faint pencil.
        if share >= MODAL_BORDER or min(image.shape) < GRID_MIN_SIDE:
            return darker > lighter
        if abs(darker - lighter) >= _CLEAR * (darker + lighter):
            return darker > lighter
    # Photos: their border is no guide (shadows, a gradient, a table at the edge).
    return _darker_ink(image)


def _darker_ink(image: np.ndarray) -> bool:
    """Whether the ink of a photo is darker than its background."""
    # Light multiplies what the paper and ink reflect, so compare each pixel with the local
    # background as a ratio: blocks of a quarter of the picture are mostly background (paper or
    # board) even with a bold digit, and their medians follow the lighting. Ink is far darker (on
    # paper) or far lighter (chalk on a board) than that.
    height, width = image.shape
    block = max(_MIN_BLOCK, max(height, width) // _LIGHT_BLOCKS)
    rows, cols = max(1, height // block), max(1, width // block)
    block_h, block_w = height // rows, width // cols
    tiles = image[: rows * block_h, : cols * block_w].reshape(rows, block_h, cols, block_w)
    grid = np.median(tiles.transpose(0, 2, 1, 3).reshape(rows, cols, -1), axis=2)
    field = Image.fromarray(grid.astype(np.float32), mode="F").resize(
        (width, height), Image.Resampling.BILINEAR
    )
    ratio = (image + np.float32(_RATIO_OFFSET)) / (np.asarray(field) + np.float32(_RATIO_OFFSET))
    darker = int(np.count_nonzero(ratio < 1 / _INK_RATIO))
    return darker >= int(np.count_nonzero(ratio > _INK_RATIO))
