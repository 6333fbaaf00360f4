"""Finding the digit among the ink: which regions belong to it, cropped and stretched to full ink.

Connected ink regions are found; bands and lines along the border (paper and table edges), long
thin lines across the picture and specks are dropped; pieces near the main region are kept with it
(the detached bar of a 5). The shares below are of the picture's height or width unless said.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitcli.preprocess.background import BAND_CONTACT
from digitcli.preprocess.components import EIGHT, label, ndimage
from digitcli.preprocess.geometry import tight
from digitcli.preprocess.levels import FLOOR_SHARE_OF_THRESHOLD, NOISE_MARGIN, NOISY, clip01
from digitcli.preprocess.morphology import dilate_mask

# Strokes are linked across gaps of one pixel per LINK_PER pixels of the longer side (at least
# one): enough to bridge a pen skip, too little to merge neighbouring shapes.
LINK_PER = 200
# When only specks or fragments clear the threshold, look again at this share of it.
RETRY_THRESHOLD = 0.5
# A band along one side is thinner than this share of the picture (after BAND_CONTACT)...
_BAND_THICKNESS = 0.25
# ...or spans this share of it within its outer share _BAND_OUTER.
_BAND_SPAN = 0.9
_BAND_OUTER = 0.2
# A line across the picture is at least _LINE_LENGTH long and at most _LINE_THICKNESS thick.
_LINE_LENGTH = 0.6
_LINE_THICKNESS = 0.06
# A region is big when its box is at least _BIG_SIZE of the shorter side and it holds at least
# _BIG_MASS of the heaviest region's ink.
_BIG_SIZE = 0.06
_BIG_MASS = 0.01
# A region is strong when its strongest ink is at least this share of the peak: a shadow's edge
# left over by the lighting model is faint.
_STRONG = 0.5
# A frame around the digit encloses a candidate at least this share of the frame's size (a digit
# encloses at most a dot, like a slashed or dotted zero).
_FRAMED_SIZE = 0.35
# Other pieces belong to the digit when at most _NEAR of its size away, with at least _SPECK of its
# ink (less is a speck) and _NEAR_STRENGTH of its strength.
_NEAR = 0.25
_SPECK = 0.03
_NEAR_STRENGTH = 0.5
# Noisy photos take the stroke core's strength at this percentile (ignoring the odd dark blot)
# when it has more than _PERCENTILE_PIXELS pixels; clean images use the peak.
_CORE_PERCENTILE = 95
_PERCENTILE_PIXELS = 20
# The core stays at least this far above the floor, so that the stretch never divides by zero.
CORE_ABOVE_FLOOR = 1e-3


def digit_crop(
    ink: np.ndarray, peak: float, threshold: float, floor: float, noise: float
) -> np.ndarray:
    """The digit's ink cropped to its box, stretched so the stroke core is 1, other ink removed."""
    mask, region, found = _find_digit(ink, peak, threshold)
    lower = max(RETRY_THRESHOLD * threshold, NOISE_MARGIN * noise)
    if not found and lower < threshold:
        # Only specks or faint fragments cleared the threshold: a faint or thin digit beside a
        # dark speck or edge. Look again with a lower one, which joins the fragments.
        mask, region, found = _find_digit(ink, peak, lower)
        floor = min(floor, FLOOR_SHARE_OF_THRESHOLD * lower)
    return stretch(ink, mask & region, region, floor, noise)


def _find_digit(
    ink: np.ndarray, peak: float, threshold: float
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The ink mask, the digit's region, and whether that region is convincing."""
    mask, labels, count, reach = link(ink, threshold)
    if count <= 1:
        return mask, labels > 0, True
    chosen, found = _choose(labels, count, ink, mask, peak, reach)
    return mask, np.isin(labels, chosen), found


def link(ink: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The ink mask, its linked regions labelled, their count, and the linking reach (pixels)."""
    mask = ink > threshold
    reach = max(1, round(max(ink.shape) / LINK_PER))
    # Join strokes broken by a lighter patch or a pen skip, so a 5 stays one piece.
    linked = dilate_mask(mask) if reach == 1 else ndimage().binary_dilation(mask, EIGHT, reach)
    labels, count = label(linked)
    return mask, labels, count, reach


def stretch(
    ink: np.ndarray, core_mask: np.ndarray, region: np.ndarray, floor: float, noise: float
) -> np.ndarray:
    """The region's ink cropped to its box, stretched so the stroke core (`core_mask`) is 1."""
    return tight(stretched(ink, core_mask, region, floor, noise))


def stretched(
    ink: np.ndarray, core_mask: np.ndarray, region: np.ndarray, floor: float, noise: float
) -> np.ndarray:
    """`stretch` before the crop: the whole picture, zero outside the region."""
    values = ink[core_mask]
    if noise > NOISY and values.size > _PERCENTILE_PIXELS:
        core = float(np.percentile(values, _CORE_PERCENTILE))
    else:
        core = float(values.max())
    core = max(core, floor + CORE_ABOVE_FLOOR)
    digit = np.where(region, (ink - floor) / np.float32(core - floor), np.float32(0.0))
    return clip01(digit)


@dataclass(frozen=True)
class Regions:
    """Per-component measures of the linked ink regions (index i is label i + 1)."""

    labels: np.ndarray
    count: int
    mass: np.ndarray  # ink inside the mask
    strength: np.ndarray  # strongest ink
    extent: np.ndarray  # (count, 4): top, bottom, left, right (exclusive ends)
    band: np.ndarray  # along one side of the picture
    line: np.ndarray  # long and thin across it
    big: np.ndarray
    strong: np.ndarray
    frame: np.ndarray  # encloses another candidate

    @property
    def heights(self) -> np.ndarray:
        result: np.ndarray = self.extent[:, 1] - self.extent[:, 0]
        return result

    @property
    def widths(self) -> np.ndarray:
        result: np.ndarray = self.extent[:, 3] - self.extent[:, 2]
        return result

    @property
    def candidate(self) -> np.ndarray:
        result: np.ndarray = self.big & self.strong & ~self.band & ~self.line
        return result


def measure_regions(
    labels: np.ndarray, count: int, ink: np.ndarray, mask: np.ndarray, peak: float
) -> Regions:
    """Size, strength and kind of each labelled region (see the constants above)."""
    height, width = labels.shape
    index = np.arange(1, count + 1)
    mass = np.asarray(ndimage().sum_labels(np.where(mask, ink, 0), labels, index), dtype=np.float64)
    strength = np.asarray(ndimage().maximum(ink, labels, index), dtype=np.float64)
    extent = np.array(
        [
            [box[0].start, box[0].stop, box[1].start, box[1].stop]
            for box in ndimage().find_objects(labels)
        ]
    )
    box_h = extent[:, 1] - extent[:, 0]
    box_w = extent[:, 3] - extent[:, 2]
    top = np.bincount(labels[0], minlength=count + 1)[1:]
    bottom = np.bincount(labels[-1], minlength=count + 1)[1:]
    left = np.bincount(labels[:, 0], minlength=count + 1)[1:]
    right = np.bincount(labels[:, -1], minlength=count + 1)[1:]
    # A band along one side (the table beyond the paper, a scanner lid): long contact with the
    # side and thin, or spanning the picture within its outer fifth (the band's inner edge, when
    # the lighting model has absorbed the rest of a wide band).
    band = (
        ((top >= BAND_CONTACT * width) | (bottom >= BAND_CONTACT * width))
        & (box_h <= _BAND_THICKNESS * height)
    ) | (
        ((left >= BAND_CONTACT * height) | (right >= BAND_CONTACT * height))
        & (box_w <= _BAND_THICKNESS * width)
    )
    band |= (box_h >= _BAND_SPAN * height) & (
        (extent[:, 3] <= _BAND_OUTER * width) | (extent[:, 2] >= (1 - _BAND_OUTER) * width)
    )
    band |= (box_w >= _BAND_SPAN * width) & (
        (extent[:, 1] <= _BAND_OUTER * height) | (extent[:, 0] >= (1 - _BAND_OUTER) * height)
    )
    # A long thin line across most of the picture: a ruled line, a fold, the edge of the page.
    line = ((box_h >= _LINE_LENGTH * height) & (box_w <= _LINE_THICKNESS * width)) | (
        (box_w >= _LINE_LENGTH * width) & (box_h <= _LINE_THICKNESS * height)
    )
    big = (np.maximum(box_h, box_w) >= _BIG_SIZE * min(height, width)) & (
        mass >= _BIG_MASS * mass.max()
    )
    strong = strength >= _STRONG * peak
    # A box printed or drawn around the digit encloses another candidate of about a digit's size.
    candidate = big & strong & ~band & ~line
    inner = extent[candidate]  # few: big and strong
    inner_size = np.maximum(box_h, box_w)[candidate]
    frame = (
        (extent[:, None, 0] < inner[None, :, 0])
        & (extent[:, None, 1] > inner[None, :, 1])
        & (extent[:, None, 2] < inner[None, :, 2])
        & (extent[:, None, 3] > inner[None, :, 3])
        & (inner_size[None, :] >= _FRAMED_SIZE * np.maximum(box_h, box_w)[:, None])
    ).any(axis=1)
    return Regions(labels, count, mass, strength, extent, band, line, big, strong, frame)


def main_region(regions: Regions) -> int:
    """Index of the digit's main region: the heaviest of the most digit-like ones."""
    big, band, line, strong = regions.big, regions.band, regions.line, regions.strong
    candidate = regions.candidate
    # Prefer a proper candidate; when there is none, relax one condition at a time (a canvas
    # drawing runs into the edge; a 1 drawn from edge to edge is a "line", and it is the digit
    # when nothing else is there).
    tiers = (
        candidate & ~regions.frame,
        candidate,
        big & ~band & ~line,
        big & strong & ~band,
        big & ~band,
        ~band & ~line,
        ~band,
    )
    allowed = next((tier for tier in tiers if tier.any()), np.ones(regions.count, dtype=bool))
    return int(np.argmax(np.where(allowed, regions.mass, -1.0)))


def pieces_near(regions: Regions, main: int, reach: int) -> np.ndarray:
    """Which regions belong with region `main` as parts of one digit (`main` included)."""
    extent, mass, strength = regions.extent, regions.mass, regions.strength
    box_h, box_w = regions.heights, regions.widths
    size = max(box_h[main], box_w[main])
    gap_rows = np.maximum(extent[main, 0] - extent[:, 1], extent[:, 0] - extent[main, 1])
    gap_cols = np.maximum(extent[main, 2] - extent[:, 3], extent[:, 2] - extent[main, 3])
    # The boxes are of the linked (dilated) regions: add back what the dilation took off the gap.
    gap = np.maximum(gap_rows, gap_cols) + 2 * reach
    near = (gap <= _NEAR * size) & ~regions.band & ~regions.line
    near &= (mass >= _SPECK * mass[main]) & (strength >= _NEAR_STRENGTH * strength[main])
    # Parts of a digit are smaller than its main part; anything larger is something else (a frame).
    near &= (np.maximum(box_h, box_w) <= size) & (mass <= mass[main])
    near[main] = True
    result: np.ndarray = near
    return result


def _choose(
    labels: np.ndarray, count: int, ink: np.ndarray, mask: np.ndarray, peak: float, reach: int
) -> tuple[list[int], bool]:
    """Labels of the components that make up the digit, and whether the main one is convincing
    (neither a speck nor faint)."""
    regions = measure_regions(labels, count, ink, mask, peak)
    main = main_region(regions)
    near = pieces_near(regions, main, reach)
    return [int(i) + 1 for i in np.flatnonzero(near)], bool(
        regions.big[main] & regions.strong[main]
    )
