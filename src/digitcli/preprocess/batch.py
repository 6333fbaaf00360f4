"""canonicalize_batch: stacks of images, with a vectorised twin of the pipeline for simple ones."""

from __future__ import annotations

import contextlib

import numpy as np

from digitcli.errors import NoInkError
from digitcli.preprocess.background import BORDER_SHARE, GRID_MIN_SIDE, ROOM_MIN
from digitcli.preprocess.components import ndimage
from digitcli.preprocess.digit import CORE_ABOVE_FLOOR
from digitcli.preprocess.geometry import fit_and_center_many, resize_weights
from digitcli.preprocess.levels import (
    FLOOR_SHARE,
    FLOOR_SHARE_OF_THRESHOLD,
    MAD_TO_SD,
    MIN_PEAK,
    NOISE_MARGIN,
    NOISE_PEAK,
    NOISY,
    THRESHOLD,
    clip01,
)
from digitcli.preprocess.morphology import dilate_mask, morph_octagon
from digitcli.preprocess.pipeline import canonicalize
from digitcli.preprocess.strokes import (
    STROKE_LEVEL,
    STROKE_MAX,
    STROKE_MIN,
    STROKE_SIDE,
    THICKEN_TO,
    THIN_TO,
    stroke_widths,
)
from digitcli.vocabulary import IMAGE_SIDE, Invert

# Images per step of the vectorised shortcut: the temporaries (a dozen arrays the size of the
# chunk) stay in cache.
_CHUNK = 2048
# Stacks of images this large on either side are pictures, not dataset digits: one at a time.
_PICTURE_SIDE = 300


def canonicalize_batch(images: np.ndarray, invert: Invert = Invert.no) -> np.ndarray:
    """Canonicalize an (N, H, W) stack of images in [0, 1]; blank images become all-zero.

    Gives the same result as `canonicalize` on each image. Stacks of small clean images (MNIST, the
    scikit-learn digits) take a vectorised shortcut for the common case of a single stroke region;
    the rest go through `canonicalize` one by one.
    """
    stack = np.asarray(images, dtype=np.float32)
    if stack.ndim != 3:
        raise ValueError(f"expected an (N, H, W) stack of images, got shape {stack.shape}")
    out = np.zeros((len(stack), IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    if len(stack) == 0 or stack.shape[1] == 0 or stack.shape[2] == 0:
        return out
    if (
        invert is Invert.auto
        or min(stack.shape[1:]) >= GRID_MIN_SIDE
        or max(stack.shape[1:]) >= _PICTURE_SIDE
    ):
        # Photos, and images whose polarity must be guessed, are canonicalized one at a time.
        pending = np.arange(len(stack))
    else:
        pending = np.concatenate(
            [
                start
                + _batch_small(stack[start : start + _CHUNK], invert is Invert.yes, out[start:])
                for start in range(0, len(stack), _CHUNK)
            ]
        )
    for index in pending:
        with contextlib.suppress(NoInkError):  # blank images stay all zero
            out[index] = canonicalize(stack[index], invert)
    return out


def _batch_small(stack: np.ndarray, flip: bool, out: np.ndarray) -> np.ndarray:
    """Canonicalize the simple images of a stack of small ones into `out`; return the others.

    "Simple" is what `canonicalize` would handle without any of its optional steps: a noise-free
    background (no blur), one connected stroke region (no choice of components) and strokes that
    need no thickening or thinning. Each step below is the vectorised twin of the per-image one.
    """
    count, height, width = stack.shape
    work = clip01(np.nan_to_num(stack, nan=0.0, posinf=1.0, neginf=0.0))
    raw = np.subtract(1.0, work, dtype=np.float32) if flip else work
    # background.border_pixels and flat_background (small images: the border's median).
    edge = max(1, min(height, width) // BORDER_SHARE)
    border = np.concatenate(
        [
            raw[:, :edge].reshape(count, -1),
            raw[:, -edge:].reshape(count, -1),
            raw[:, :, :edge].reshape(count, -1),
            raw[:, :, -edge:].reshape(count, -1),
        ],
        axis=1,
    )
    border.sort(axis=1)
    middle = border.shape[1] // 2
    background = border[:, middle]
    # levels.noise_level, in ink units as canonicalize takes it.
    deviation = np.abs(border - background[:, None])
    deviation.sort(axis=1)
    noise = MAD_TO_SD * deviation[:, middle].astype(np.float64)
    noise /= np.maximum(1.0 - background.astype(np.float64), ROOM_MIN)
    # Noisy images would be blurred first: they take the per-image path.
    quiet = noise <= NOISY
    room = np.maximum(np.float32(1.0) - background, np.float32(ROOM_MIN))
    ink = clip01((raw - background[:, None, None]) / room[:, None, None])
    # levels.ink_levels: thresholds in double precision, compared in single, as canonicalize's
    # Python floats are.
    peak = ink.reshape(count, -1).max(axis=1).astype(np.float64)
    blank = quiet & (peak < np.maximum(MIN_PEAK, NOISE_PEAK * noise))
    threshold = np.maximum(THRESHOLD * peak, NOISE_MARGIN * noise)
    floor = np.minimum(
        np.maximum(NOISE_MARGIN * noise, FLOOR_SHARE * peak), FLOOR_SHARE_OF_THRESHOLD * threshold
    )
    # digit.digit_crop, for a single linked region.
    mask = ink > threshold.astype(np.float32)[:, None, None]
    linked = dilate_mask(mask)
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # connect pixels within an image, never across images
    labels, _ = ndimage().label(linked, structure=structure)
    pieces = np.bincount([box[0].start for box in ndimage().find_objects(labels)], minlength=count)
    simple = quiet & ~blank & (pieces == 1)
    core = np.where(mask, ink, 0.0).reshape(count, -1).max(axis=1).astype(np.float64)
    core = np.maximum(core, floor + CORE_ABOVE_FLOOR)
    scale = (core - floor).astype(np.float32)[:, None, None]
    digit: np.ndarray = clip01(
        np.where(linked, (ink - floor.astype(np.float32)[:, None, None]) / scale, 0.0)
    )
    # Stroke width as normalise_strokes measures it, on the whole image (the crop adds nothing).
    strokes: np.ndarray = digit > STROKE_LEVEL
    area = np.count_nonzero(strokes, axis=(1, 2))
    stroke_width = stroke_widths(strokes)
    rows_any: np.ndarray = np.any(digit, axis=2)
    cols_any: np.ndarray = np.any(digit, axis=1)
    top = rows_any.argmax(axis=1)
    bottom = height - rows_any[:, ::-1].argmax(axis=1)
    left = cols_any.argmax(axis=1)
    right = width - cols_any[:, ::-1].argmax(axis=1)
    longest = np.maximum(bottom - top, right - left)
    scaled = stroke_width * IMAGE_SIDE / np.maximum(longest, 1)
    simple &= (area > 0) & np.any(rows_any, axis=1)
    # strokes.normalise_strokes, vectorised: the factor small crops are enlarged by, and the radius.
    factor = -(-STROKE_SIDE // np.maximum(longest, 1))
    target = np.where(scaled < STROKE_MIN, THICKEN_TO, THIN_TO)
    radius = np.rint(np.abs(target - scaled) * (longest * factor) / IMAGE_SIDE / 2).astype(np.intp)
    keep = ((scaled >= STROKE_MIN) & (scaled <= STROKE_MAX)) | (radius < 1)
    thicken = simple & ~keep & (scaled < STROKE_MIN)
    simple &= keep | thicken  # thinning crops a second time: rare, left to canonicalize
    heights, widths = bottom - top, right - left
    chosen = np.flatnonzero(simple)
    # Crops of the same shape (and, to thicken, the same radius) are processed together.
    groups = (heights[chosen] * (width + 1) + widths[chosen]) * (IMAGE_SIDE * 8 + 1)
    groups += np.where(thicken[chosen], radius[chosen], 0)
    for group_key in np.unique(groups):
        group = chosen[groups == group_key]
        first = group[0]
        crop_h, crop_w = int(heights[first]), int(widths[first])
        rows = top[group, None] + np.arange(crop_h)
        cols = left[group, None] + np.arange(crop_w)
        crops = digit[group[:, None, None], rows[:, :, None], cols[:, None, :]]
        if thicken[first]:
            grow = int(radius[first])
            if factor[first] > 1:
                crops = (
                    resize_weights(crop_h, crop_h * int(factor[first]))
                    @ crops
                    @ resize_weights(crop_w, crop_w * int(factor[first])).T
                )
            padding = ((0, 0), (grow, grow), (grow, grow))
            crops = morph_octagon(np.pad(crops, padding), grow, np.maximum)
        out[group] = fit_and_center_many(crops)
    # Blank images stay zero; everything else not simple goes through canonicalize.
    return np.flatnonzero(~simple & ~blank)
