"""canonicalize and read_digits: one picture through every step of the pipeline, in order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitcli.errors import NoDigitError, NoInkError
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
from digitcli.preprocess.page import find_page
from digitcli.preprocess.polarity import is_dark_on_light
from digitcli.preprocess.rules import without_rules
from digitcli.preprocess.segment import find_digits, is_speck
from digitcli.preprocess.strokes import STROKE_LEVEL, normalise_strokes, stroke_width
from digitcli.vocabulary import Invert


@dataclass(frozen=True)
class DigitImage:
    """One digit read from a picture: its canonical 20x20 image and its box in the picture's
    pixels (x0, y0, x1, y1; x1 and y1 exclusive)."""

    image: np.ndarray
    box: tuple[int, int, int, int]
    # Another reading: the same ink as touching digits, left to right (empty when there is none).
    parts: tuple[DigitImage, ...] = ()
    # Digit-like marks elsewhere in the picture that are in no digit of the reading (another line
    # of writing); the same for every digit of one reading.
    unread: int = 0


@dataclass(frozen=True)
class _Ink:
    """A picture's ink strength, its levels, and how its pixels map back to the picture's."""

    ink: np.ndarray
    peak: float
    threshold: float
    floor: float
    noise: float
    origin: tuple[int, int]  # (row, column) of ink's first pixel in the work image
    scale: tuple[float, float]  # picture pixels per work pixel, down and across
    picture: tuple[int, int]  # the picture's shape


def canonicalize(gray: np.ndarray, invert: Invert = Invert.auto) -> np.ndarray:
    """Canonical 20x20 image of the digit in `gray` (2-D, values in [0, 1]).

    Raises NoInkError when the image holds no ink.
    """
    found = _ink(gray, invert)
    crop = digit_crop(found.ink, found.peak, found.threshold, found.floor, found.noise)
    return fit_and_center_one(normalise_strokes(crop))


def read_digits(gray: np.ndarray, invert: Invert = Invert.auto) -> list[DigitImage]:
    """Every digit in `gray`, left to right; one digit gives `canonicalize`'s image.

    Specks and dots are not digits: raises NoDigitError ("no digit found: ...") when nothing else
    is there (NoInkError for a blank image).
    """
    found = _ink(gray, invert)
    segments, unread = find_digits(found.ink, found.peak, found.threshold, found.floor, found.noise)
    digits: list[DigitImage] = []
    specks: list[int] = []
    for segment in segments:
        box = _picture_box(segment.box, found)
        width = stroke_width(segment.crop > STROKE_LEVEL)  # shared by both checks below
        if is_speck(segment, box, found.picture, width):
            specks.append(max(box[2] - box[0], box[3] - box[1]))
            continue
        parts = tuple(
            DigitImage(_canonical(part.crop), _picture_box(part.box, found))
            for part in segment.parts
        )
        digits.append(DigitImage(_canonical(segment.crop, width), box, parts, unread))
    if not digits:
        picture_h, picture_w = found.picture
        raise NoDigitError(
            f"no digit found: only a speck or dot ({max(specks)} px across in a "
            f"{picture_w}x{picture_h} picture)"
        )
    return digits


def _canonical(crop: np.ndarray, core_width: float | None = None) -> np.ndarray:
    return fit_and_center_one(normalise_strokes(crop, core_width))


def _picture_box(box: tuple[int, int, int, int], found: _Ink) -> tuple[int, int, int, int]:
    """A (top, left, bottom, right) box in ink pixels as (x0, y0, x1, y1) in the picture's."""
    top, left, bottom, right = box
    top, bottom = top + found.origin[0], bottom + found.origin[0]
    left, right = left + found.origin[1], right + found.origin[1]
    picture_h, picture_w = found.picture
    scale_r, scale_c = found.scale
    return (
        int(left * scale_c),
        int(top * scale_r),
        min(picture_w, int(np.ceil(right * scale_c))),
        min(picture_h, int(np.ceil(bottom * scale_r))),
    )


def _ink(gray: np.ndarray, invert: Invert) -> _Ink:
    """The pipeline up to the ink's levels: page, ruled lines, polarity, background, threshold."""
    image = np.asarray(gray, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D greyscale image, got shape {image.shape}")
    if image.size == 0:
        raise NoInkError("no ink found: the image is empty")
    if not np.isfinite(image).all():
        image = np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0)
    work = shrink(clip01(image))
    scale = (image.shape[0] / work.shape[0], image.shape[1] / work.shape[1])
    origin = (0, 0)
    if min(work.shape) >= GRID_MIN_SIDE:
        page = find_page(work)
        if page is not None:
            work, origin = page.image, (page.top, page.left)
        work = without_rules(work)
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
    return _Ink(ink, peak, threshold, floor, noise, origin, scale, image.shape)
