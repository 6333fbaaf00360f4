"""canonicalize: one picture through every step of the pipeline, in order."""

from __future__ import annotations

import numpy as np

from digitcli.errors import NoInkError
from digitcli.preprocess.background import (
    GRID_MIN_SIDE,
    ROOM_MIN,
    border_pixels,
    flat_background,
    photo_ink,
    remove_background,
    shrink,
)
from digitcli.preprocess.digit import digit_crop
from digitcli.preprocess.geometry import fit_and_center_one
from digitcli.preprocess.levels import clip01, denoise, ink_levels, noise_level
from digitcli.preprocess.polarity import is_dark_on_light
from digitcli.preprocess.strokes import normalise_strokes
from digitcli.vocabulary import Invert


def canonicalize(gray: np.ndarray, invert: Invert = Invert.auto) -> np.ndarray:
    """Canonical 20x20 image of the digit in `gray` (2-D, values in [0, 1]).

    Raises NoInkError when the image holds no ink.
    """
    image = np.asarray(gray, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D greyscale image, got shape {image.shape}")
    if image.size == 0:
        raise NoInkError("no ink found: the image is empty")
    if not np.isfinite(image).all():
        image = np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0)
    work = shrink(clip01(image))
    border = np.sort(border_pixels(work))
    flip = is_dark_on_light(work, border) if invert is Invert.auto else invert is Invert.yes
    raw = np.subtract(1.0, work, dtype=np.float32) if flip else work
    raw_border = 1.0 - border[::-1] if flip else border
    background = flat_background(raw, raw_border)
    if background is None:
        ink, noise = photo_ink(raw)
    else:
        # The border is all background here (or mostly): its spread is the noise, in ink units.
        noise = noise_level(raw_border) / max(1.0 - background, ROOM_MIN)
        ink = denoise(remove_background(raw, background), noise)
    peak, threshold, floor = ink_levels(ink, noise, inner=min(raw.shape) >= GRID_MIN_SIDE)
    crop = digit_crop(ink, peak, threshold, floor, noise)
    return fit_and_center_one(normalise_strokes(crop))
