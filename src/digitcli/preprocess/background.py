"""The paper: its tone read from the border, a lighting model for photos, and its removal."""

from __future__ import annotations

import numpy as np
from PIL import Image

from digitcli.preprocess.components import EIGHT, ndimage
from digitcli.preprocess.levels import NOISY, clip01, denoise, ink_levels, noise_level
from digitcli.preprocess.strokes import stroke_width

# Photos are analysed at most this many pixels on their longer side: plenty for a 20-pixel result,
# and it keeps a 12-megapixel photo to a few tens of milliseconds.
WORK_MAX = 512
# Smaller images are taken to be evenly lit (datasets, mouse drawings): a lighting model needs room.
GRID_MIN_SIDE = 64
# The border strip is 1/BORDER_SHARE of the shorter side wide (at least a pixel): thin enough to
# miss a centred digit, wide enough for a robust median.
BORDER_SHARE = 32
# Tones of the border are counted in TONE_BINS bins; values are scaled by just under TONE_BINS so
# that 1.0 falls in the top bin.
TONE_BINS = 64
_TONE_SCALE = 63.99
# A border with this share of its pixels in one tone (to 1/64) is a drawing's plain background,
# even where a thick stroke runs into the edge.
MODAL_BORDER = 0.5
# Ink strength is divided by the background's room to full strength, at least this much: a
# near-white "background" (a picture that is mostly ink) must not blow up the noise.
ROOM_MIN = 0.05
# Blocks of the coarse lighting grid on the longer side (blocks at least _MIN_BLOCK pixels), and
# the opening (in blocks) that removes blocks filled by thick strokes: strokes up to a sixth of the
# picture wide.
_GRID_BLOCKS = 32
_MIN_BLOCK = 4
_GRID_OPENING = 5
# The percentile of a block that is its paper: ink rarely covers 90% of a block.
_PAPER_PERCENTILE = 10
# The smoothing of the lighting grid (in blocks) before it is stretched to the picture.
_GRID_SMOOTHING = 0.7
# The lighting grid counts as flat when it varies less than this.
_FLAT = 0.04
# Beyond this many pixels, every other row and column is plenty for the noise estimate.
_NOISE_SAMPLE_PIXELS = 16384
# The grey opening that follows a sharp shadow is this many pixels wider than twice the strokes,
# and at most 1/_OPENING_MAX_SHARE of the longer side; a noisy picture is first averaged over
# _OPENING_SMOOTHING pixels so that noise does not pass for paper.
_OPENING_EXTRA = 3
_OPENING_MAX_SHARE = 5
_OPENING_SMOOTHING = 3
# A region touching a side along this share of it is a band along the border (a table).
BAND_CONTACT = 0.4
# The strokes measured for that opening are those of regions at least this share of the largest.
_MEASURED_AREA = 0.1


def shrink(image: np.ndarray) -> np.ndarray:
    """`image` reduced by a whole factor so that its longer side is at most WORK_MAX."""
    longest = max(image.shape)
    if longest <= WORK_MAX:
        return image
    factor = -(-longest // WORK_MAX)
    # reduce() averages factor x factor blocks, which also averages away sensor noise.
    return np.asarray(Image.fromarray(image, mode="F").reduce(factor), dtype=np.float32)


def border_pixels(image: np.ndarray) -> np.ndarray:
    """The pixels of a strip along the four sides (corners twice)."""
    width = max(1, min(image.shape) // BORDER_SHARE)
    return np.concatenate(
        [
            image[:width].ravel(),
            image[-width:].ravel(),
            image[:, :width].ravel(),
            image[:, -width:].ravel(),
        ]
    )


def modal_tone(border: np.ndarray) -> tuple[float, float]:
    """The most common tone of the (sorted) border, to 1/64, and the share of pixels that have it."""
    counts = np.bincount((border * _TONE_SCALE).astype(np.intp), minlength=TONE_BINS)
    top = int(counts.argmax())
    return (top + 0.5) / TONE_BINS, float(counts[top]) / len(border)


def flat_background(raw: np.ndarray, border: np.ndarray) -> float | None:
    """The background level when it is flat (small or clean images), else None."""
    if min(raw.shape) < GRID_MIN_SIDE:
        return float(border[len(border) // 2])
    tone, share = modal_tone(border)
    if share >= MODAL_BORDER and float(border[-1] - border[0]) > 0:
        # A clean canvas: one exact tone along most of the border. Take the median of that tone's
        # pixels rather than the bin's centre.
        in_bin = border[(border * _TONE_SCALE).astype(np.intp) == int(tone * TONE_BINS)]
        return float(in_bin[len(in_bin) // 2])
    if share >= MODAL_BORDER:
        return float(border[0])
    return None


def remove_background(raw: np.ndarray, background: np.ndarray | float) -> np.ndarray:
    """Ink strength in [0, 1]: what `raw` has above the background, relative to its room."""
    # Dividing by the background's room to full strength (the paper's brightness, in a photo) gives
    # ink in a shadow the same strength as ink in full light.
    if isinstance(background, float) and background == 0.0:
        return clip01(raw)  # (raw - 0) / 1, exactly: a clean canvas, without two passes
    room = np.maximum(np.float32(1.0) - background, np.float32(ROOM_MIN))
    return clip01((raw - background) / room)


def photo_ink(raw: np.ndarray) -> tuple[np.ndarray, float]:
    """Ink strength in [0, 1] of a photo, with uneven lighting removed, and the noise level."""
    background = _lighting(raw)
    room = np.maximum(np.float32(1.0) - background, np.float32(ROOM_MIN))
    # The noise in ink units (before clipping): a dim background's noise is amplified with it.
    scaled = (raw - background) / room
    noise = noise_level(
        np.ravel(scaled[::2, ::2] if scaled.size > _NOISE_SAMPLE_PIXELS else scaled)
    )
    ink = denoise(remove_background(raw, background), noise)
    if isinstance(background, float):
        return ink, noise
    # The coarse grid cannot follow a sharp shadow edge, which then looks like a stroke. A grey
    # opening a little wider than the strokes follows it, yet removes the strokes themselves.
    _, threshold, _ = ink_levels(ink, noise, inner=True)
    size = min(
        2 * int(np.ceil(_main_stroke_width(ink > threshold))) + _OPENING_EXTRA,
        max(raw.shape) // _OPENING_MAX_SHARE,
    )
    smooth = ndimage().uniform_filter(raw, _OPENING_SMOOTHING) if noise > NOISY else raw
    opened = ndimage().grey_opening(smooth, size=(size, size), mode="nearest")
    return denoise(remove_background(raw, np.maximum(background, opened)), noise), noise


def _lighting(raw: np.ndarray) -> np.ndarray | float:
    """Smooth background of a photo from a coarse grid of block percentiles."""
    height, width = raw.shape
    block = max(_MIN_BLOCK, max(height, width) // _GRID_BLOCKS)
    rows, cols = height // block, width // block
    tiles = raw[: rows * block, : cols * block].reshape(rows, block, cols, block)
    blocks = tiles.transpose(0, 2, 1, 3).reshape(rows, cols, block * block)
    grid = np.percentile(blocks, _PAPER_PERCENTILE, axis=2).astype(np.float32)
    grid = ndimage().grey_opening(grid, size=(_GRID_OPENING, _GRID_OPENING), mode="nearest")
    if float(grid.max() - grid.min()) < _FLAT:
        return float(np.median(grid))
    grid = ndimage().gaussian_filter(grid, _GRID_SMOOTHING, mode="nearest")
    field = Image.fromarray(grid, mode="F").resize(
        (cols * block, rows * block), Image.Resampling.BILINEAR
    )
    full = np.asarray(field, dtype=np.float32)
    if full.shape != raw.shape:
        full = np.pad(full, ((0, height - full.shape[0]), (0, width - full.shape[1])), mode="edge")
    return full


def _main_stroke_width(mask: np.ndarray) -> float:
    """Stroke width of the larger ink regions, leaving out bands along the border (a table)."""
    labels, count = ndimage().label(mask, structure=EIGHT)
    if count == 0:
        return 0.0
    height, width = mask.shape
    contact = np.zeros(count + 1)
    for side, length in (
        (labels[0], width),
        (labels[-1], width),
        (labels[:, 0], height),
        (labels[:, -1], height),
    ):
        contact = np.maximum(contact, np.bincount(side, minlength=count + 1) / length)
    area = np.bincount(labels.ravel(), minlength=count + 1).astype(np.float64)
    area[0] = 0.0
    area[contact >= BAND_CONTACT] = 0.0
    if area.max() == 0:
        return stroke_width(mask)
    # Too narrow an opening would hollow out the digit's strokes, too wide a one only leaves
    # some shade behind: measure the big regions, where the digit is.
    return stroke_width(np.isin(labels, np.flatnonzero(area >= _MEASURED_AREA * area.max())))
