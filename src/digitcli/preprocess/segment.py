"""Several digits: the ink split into digits, left to right, each with its box.

The digit that `digit.digit_crop` would choose comes first in the search: the heaviest digit-like
region. Other regions as tall as a digit beside it, on the same line, and with a fair share of its
ink, are digits too. Regions whose columns mostly overlap belong to one digit (a 4 written in two
strokes); smaller pieces go with the digit they are near (the bar of a 5, a dotted stroke). A
region much wider than a digit is two or more touching digits, cut where the columns hold the
least ink. A picture of one digit gives exactly `digit_crop`'s crop.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from digitcli.preprocess.digit import (
    RETRY_THRESHOLD,
    Regions,
    link,
    main_region,
    measure_regions,
    pieces_near,
    stretched,
)
from digitcli.preprocess.levels import FLOOR_SHARE_OF_THRESHOLD, NOISE_MARGIN
from digitcli.preprocess.strokes import stroke_width

# Another digit is at least this share of the main one's height...
_DIGIT_HEIGHT = 0.5
# ...shares this share of the shorter one's rows with it (the same line of writing)...
_SAME_LINE = 0.5
# ...and holds at least this share of its ink (a thin 1 beside a bold 8 can hold a tenth).
_DIGIT_MASS = 0.1
# Two digit-like regions whose columns overlap by this share of the narrower one are one digit.
# (Less overlap keeps them apart; from predict.OVERLAPPING_DIGITS up the reading is unsure.)
_SAME_COLUMNS = 0.6
# Among other digits, a region wider than _WIDE of its height is touching digits about
# _DIGIT_WIDTH of their height wide...
_WIDE = 1.2
# ...and so is a lone region wider than _LONE_WIDE of its height, in a picture at least _LONE_MIN_SIDE
# on its shorter side (dataset images are size-normalised one digit each), is touching digits
# about _DIGIT_WIDTH of their height wide.
_LONE_WIDE = 2.0
# Narrower regions may still be touching digits (an 8 and a 0 together are about as wide as tall,
# a 1 and a 0 about half): these are also read cut, and the classifier's confidence chooses
# (`parts`). Set with _MAYBE_CUT_WINDOWS on bench/numbers' seed-0 set (0.75 and one window before:
# 852 of 1,200 read exactly; now 884), checked on seed 1 (72.1% -> 73.8%) and single digits.
_MAYBE_WIDE = 0.5
_MAYBE_LONE_WIDE = 1.25
# Alone in the picture, such a region is cut only where the joint is at most this many stroke
# widths long (two digits meeting at a point; a wide digit would cross its own stroke lengthwise).
_LONE_JOINT = 1.5
_LONE_MIN_SIDE = 64
_DIGIT_WIDTH = 0.7
# A cut is sought within this share of a digit's width either side of where it would fall evenly;
# a maybe-cut (see _MAYBE_WIDE) there first, then almost anywhere (a 1 joins its neighbour far off
# the middle).
_CUT_WINDOW = 0.35
_MAYBE_CUT_WINDOWS = (_CUT_WINDOW, 0.7)
# Ink whose box is shorter than this share of the picture's longer side is a speck or a dot (a
# 10-pixel dot on a 2000-pixel page is 0.5%; digits written small in a photo are a few percent)...
_MIN_SHARE = 0.015
# ...and so is a blob shorter than this many of its stroke widths (a filled disc is about 2.5).
_DOT_LENGTH = 2.8


@dataclass(frozen=True)
class Segment:
    """One digit's ink, cropped and stretched, and its box (top, left, bottom, right) in `ink`.

    `parts` is another reading of a segment wide enough to be touching digits: the same ink cut
    into digits. Only a classifier can tell which reading is right (see `predict`).
    """

    crop: np.ndarray
    box: tuple[int, int, int, int]
    parts: tuple[Segment, ...] = ()


def find_digits(
    ink: np.ndarray, peak: float, threshold: float, floor: float, noise: float
) -> tuple[list[Segment], int]:
    """The digits in `ink`, left to right (at least one; see `digit.digit_crop` for the levels),
    and how many digit-like regions are in none of them (`_unread`)."""
    mask, regions, found, unread = _find(ink, peak, threshold)
    lower = max(RETRY_THRESHOLD * threshold, NOISE_MARGIN * noise)
    if not found and lower < threshold:
        # As digit_crop: only specks or faint fragments cleared the threshold; look again lower.
        mask, regions, found, unread = _find(ink, peak, lower)
        floor = min(floor, FLOOR_SHARE_OF_THRESHOLD * lower)
    segments = []
    several = len(regions) > 1
    lone = not several and min(ink.shape) >= _LONE_MIN_SIDE
    for region in regions:
        core = mask & region
        box = _core_box(core)
        parts = _split_touching(core, region, several, lone, box)
        for part in parts:
            segment = _segment(ink, mask, part, floor, noise)
            if segment is None:
                continue
            if len(parts) == 1:
                # Not wide enough to be cut for sure, but perhaps two digits touching.
                for share in _MAYBE_CUT_WINDOWS:
                    alternative = _split_touching(core, region, several, lone, box, True, share)
                    if len(alternative) > 1:
                        break
                if len(alternative) > 1:
                    pieces = [_segment(ink, mask, piece, floor, noise) for piece in alternative]
                    found_pieces = tuple(piece for piece in pieces if piece is not None)
                    if len(found_pieces) > 1:
                        segment = Segment(segment.crop, segment.box, found_pieces)
            segments.append(segment)
    segments.sort(key=lambda segment: (segment.box[1] + segment.box[3]) / 2)
    return segments, unread


def _segment(
    ink: np.ndarray, mask: np.ndarray, region: np.ndarray, floor: float, noise: float
) -> Segment | None:
    """The stretched ink of `region`, cut to its box (None when it holds none)."""
    # Outside the region's box the stretched ink is zero: stretch the box alone (the same pixels
    # in the same order, so the same result), not the whole picture.
    top, left, bottom, right = _core_box(region)
    if bottom > top:
        ink, mask, region = (image[top:bottom, left:right] for image in (ink, mask, region))
    digit = stretched(ink, mask & region, region, floor, noise)
    rows = np.flatnonzero(digit.max(axis=1) > 0)
    cols = np.flatnonzero(digit.max(axis=0) > 0)
    if rows.size == 0:
        return None
    row0, row1 = int(rows[0]), int(rows[-1]) + 1
    col0, col1 = int(cols[0]), int(cols[-1]) + 1
    return Segment(digit[row0:row1, col0:col1], (top + row0, left + col0, top + row1, left + col1))


def _find(
    ink: np.ndarray, peak: float, threshold: float
) -> tuple[np.ndarray, list[np.ndarray], bool, int]:
    """The ink mask, each digit's region (a mask), whether the main digit is convincing, and how
    many digit-like regions are in no digit (`_unread`)."""
    mask, labels, count, reach = link(ink, threshold)
    if count <= 1:
        return mask, [labels > 0], True, 0
    regions = measure_regions(labels, count, ink, mask, peak)
    main = main_region(regions)
    found = bool(regions.big[main] & regions.strong[main])
    groups = _digit_groups(regions, main, reach)
    return mask, [np.isin(labels, group) for group in groups], found, _unread(regions, main, groups)


def _unread(regions: Regions, main: int, groups: list[list[int]]) -> int:
    """How many regions as tall and as inked as another digit beside the main one would be
    (`_DIGIT_HEIGHT`, `_DIGIT_MASS`) are in no digit: another line of writing, or a digit broken
    so far apart that it was read in part."""
    if not (regions.candidate[main] and not regions.frame[main]):
        return 0  # the digit was found only by relaxing the rules: nothing to compare with
    read = np.zeros(regions.count + 1, dtype=bool)
    for group in groups:
        read[group] = True
    digit_like = (
        regions.candidate
        & ~regions.frame
        & (regions.heights >= _DIGIT_HEIGHT * regions.heights[main])
        & (regions.mass >= _DIGIT_MASS * regions.mass[main])
    )
    return int(np.count_nonzero(digit_like & ~read[1:]))


def _digit_groups(regions: Regions, main: int, reach: int) -> list[list[int]]:
    """The labels of each digit's regions (the main digit's alone when there is one digit)."""
    seeds = _seeds(regions, main)
    if len(seeds) == 1:
        return [[int(i) + 1 for i in np.flatnonzero(pieces_near(regions, main, reach))]]
    extent, mass = regions.extent, regions.mass
    # Digits that share their columns are one (a 4 in two strokes, a 7 with its bar apart).
    merged: list[list[int]] = []
    for seed in sorted(seeds, key=lambda i: int(extent[i, 2])):
        if merged:
            last = merged[-1]
            left = min(int(extent[i, 2]) for i in last)
            right = max(int(extent[i, 3]) for i in last)
            overlap = min(right, int(extent[seed, 3])) - max(left, int(extent[seed, 2]))
            narrower = min(right - left, int(extent[seed, 3] - extent[seed, 2]))
            if overlap >= _SAME_COLUMNS * narrower:
                last.append(seed)
                continue
        merged.append([seed])
    # Every other piece joins the digit it belongs to, the nearest in columns when several claim it.
    is_seed = np.zeros(regions.count, dtype=bool)
    is_seed[seeds] = True
    centres = (extent[:, 2] + extent[:, 3]) / 2
    claims = np.full(regions.count, -1)
    distance = np.full(regions.count, np.inf)
    for number, group in enumerate(merged):
        heaviest = max(group, key=lambda i: float(mass[i]))
        near = pieces_near(regions, heaviest, reach) & ~is_seed
        middle = float(np.mean([centres[i] for i in group]))
        closer = near & (np.abs(centres - middle) < distance)
        claims[closer] = number
        distance[closer] = np.abs(centres - middle)[closer]
    groups = []
    for number, group in enumerate(merged):
        members = group + [int(i) for i in np.flatnonzero(claims == number)]
        groups.append([i + 1 for i in members])
    return groups


def _seeds(regions: Regions, main: int) -> list[int]:
    """The main region and the other regions that are digits in their own right."""
    if not (regions.candidate[main] and not regions.frame[main]):
        return [main]  # the digit was found only by relaxing the rules: read it alone
    heights, extent = regions.heights, regions.extent
    rows_shared = np.minimum(extent[:, 1], extent[main, 1]) - np.maximum(
        extent[:, 0], extent[main, 0]
    )
    seed = (
        regions.candidate
        & ~regions.frame
        & (heights >= _DIGIT_HEIGHT * heights[main])
        & (rows_shared >= _SAME_LINE * np.minimum(heights, heights[main]))
        & (regions.mass >= _DIGIT_MASS * regions.mass[main])
    )
    seed[main] = True
    return [int(i) for i in np.flatnonzero(seed)]


def _core_box(core: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of a mask's pixels; all zero for an empty mask."""
    rows = np.flatnonzero(core.any(axis=1))
    cols = np.flatnonzero(core.any(axis=0))
    if rows.size == 0:
        return 0, 0, 0, 0
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _split_touching(
    core: np.ndarray,
    region: np.ndarray,
    several: bool,
    lone: bool,
    box: tuple[int, int, int, int],
    maybe: bool = False,
    window_share: float = _CUT_WINDOW,
) -> list[np.ndarray]:
    """`region` cut into touching digits where its columns hold the least ink (or as it is).

    `several`: the picture holds other digits; `lone`: it holds none, and is not a dataset image.
    `maybe`: cut a region that could be touching digits, as well as one that must be. `box` is
    the core's `_core_box`. Each cut is sought within `window_share` of a digit's width of where
    it would fall evenly.
    """
    top, left, bottom, right = box
    height, width = bottom - top, right - left
    if maybe:
        cut = width > (_MAYBE_WIDE if several else _MAYBE_LONE_WIDE) * height
    else:
        cut = (several and width > _WIDE * height) or (lone and width > _LONE_WIDE * height)
    if not cut or height < _DOT_LENGTH * stroke_width(core[top:bottom, left:right]):
        # A bar only a stroke or two tall (a dash, a flat mouth) is no row of touching digits:
        # cut, its pieces would each pass for a 1.
        return [region]
    count = max(2, round(width / (_DIGIT_WIDTH * height)))
    columns = core[:, left:right].sum(axis=0).astype(np.float64)
    # Strokes each column crosses: runs of ink from top to bottom.
    span_mask = core[:, left:right]
    runs = span_mask[0].astype(np.int64) + np.count_nonzero(span_mask[1:] & ~span_mask[:-1], axis=0)
    step = width / count
    window = max(1, round(window_share * step))
    cuts = [left]
    for number in range(1, count):
        expected = round(number * step)
        low, high = max(1, expected - window), min(width - 1, expected + window)
        if high <= low:
            continue
        span = columns[low:high]
        # The emptiest column; among equals, the one nearest the even cut. A maybe-cut goes where
        # the fewest strokes cross, and only where one does: touching digits meet in one stroke,
        # while the middle of a wide digit (a 2, a 0) crosses two or three. Alone in the picture
        # (most likely one digit) the joint must also be thin.
        distance = np.abs(np.arange(low, high) - expected)
        if maybe:
            order = np.lexsort((distance, span, runs[low:high]))
            best = low + int(order[0])
            if runs[best] > 1 or (not several and columns[best] > _LONE_JOINT * stroke_width(core)):
                return [region]
        else:
            order = np.lexsort((distance, span))
        cuts.append(left + low + int(order[0]))
    cuts.append(right)
    parts = []
    for start, stop in itertools.pairwise(cuts):
        part = np.zeros_like(region)
        part[:, start:stop] = region[:, start:stop]
        rows = np.flatnonzero(core[:, start:stop].any(axis=1))
        if rows.size == 0:
            continue
        # Touching digits each span most of the line's height, as another digit must
        # (`_DIGIT_HEIGHT`); a piece that does not is a slice of a bar or a flat stroke (a 4's
        # cross-bar, a 5's top in a line broken by the mouse), cut into many "digits".
        if rows[-1] + 1 - rows[0] < _DIGIT_HEIGHT * height:
            return [region]
        parts.append(part)
    return parts


def is_speck(
    segment: Segment, box: tuple[int, int, int, int], picture: tuple[int, int], core_width: float
) -> bool:
    """Whether a segment is a speck or a dot rather than a digit.

    `box` is its box in the picture's pixels (x0, y0, x1, y1), `picture` the picture's shape,
    `core_width` the stroke width of its core (`stroke_width(crop > STROKE_LEVEL)`).
    """
    longest = max(box[2] - box[0], box[3] - box[1])
    if longest < _MIN_SHARE * max(picture):
        return True
    # A dot is about as long as its strokes are wide; a digit is several stroke widths tall.
    return bool(max(segment.crop.shape) < _DOT_LENGTH * core_width)
