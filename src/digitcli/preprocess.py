"""Turn any greyscale picture of a digit into the canonical 20x20 form the model reads.

Canonical form: float32, shape (20, 20), values in [0, 1], white (1) digit on black (0), the digit's
bounding box scaled so its longer side is 20 pixels (aspect ratio kept) and then shifted so its
centre of mass is as close to the centre as the box allows. Every data source and `predict` use
`canonicalize`, so the model sees the same kind of image in training and in use.

The same steps serve a phone photo and an MNIST image; the expensive ones are skipped when they
would change nothing (a flat background needs no lighting model, a clean one no blur):

1. polarity: dark ink on light paper is flipped so that ink is bright (`Invert`);
2. lighting: a smooth background, estimated on a coarse grid and refined with a grey opening just
   wider than the strokes, is subtracted, which evens out gradients and shadows;
3. noise: a light blur when the background is noisy, then a threshold relative to the ink's peak;
4. the digit: connected ink regions are found; bands and lines along the border (paper and table
   edges), long thin lines across the picture and specks are dropped; pieces near the main region
   are kept with it (the detached bar of a 5);
5. ink levels are stretched so the stroke core is 1, keeping anti-aliased edges grey;
6. strokes that would come out much thinner or thicker than MNIST's are thickened or thinned;
7. the crop is scaled into the 20x20 box and centred by its centre of mass.
"""

from __future__ import annotations

import contextlib
import sys
from functools import lru_cache
from types import ModuleType

import numpy as np
from PIL import Image

from digitcli.errors import NoInkError
from digitcli.vocabulary import IMAGE_SIDE as SIDE
from digitcli.vocabulary import Invert

# Photos are analysed at most this many pixels on their longer side: plenty for a 20-pixel result,
# and it keeps a 12-megapixel photo to a few tens of milliseconds.
_WORK_MAX = 512
# Smaller images are taken to be evenly lit (datasets, mouse drawings): a lighting model needs room.
_GRID_MIN_SIDE = 64
# Blocks of the coarse lighting grid on the longer side, and the opening (in blocks) that removes
# blocks filled by thick strokes: strokes up to a sixth of the picture wide.
_GRID_BLOCKS = 32
_GRID_OPENING = 5
# The lighting grid counts as flat when it varies less than this.
_FLAT = 0.04
# A border with this share of its pixels in one tone (to 1/64) is a drawing's plain background,
# even where a thick stroke runs into the edge...
_MODAL_BORDER = 0.5
# ...and a border whose middle half spans fewer tones than this is nearly plain.
_UNEVEN_BORDER = 0.1
# Background noise (robust standard deviation) above which the ink map is blurred.
_NOISY = 0.01
# Ink weaker than this (relative to black on white) is no ink.
_MIN_PEAK = 0.08
# The ink mask keeps pixels above this share of the ink's peak.
_THRESHOLD = 0.3
# Other pieces belong to the digit when at most this share of its size away, with at least this
# share of its ink (less is a speck).
_NEAR = 0.25
_SPECK = 0.03
# Stroke width in the 20x20 result, in pixels, kept within MNIST's usual range, and the size to
# which smaller crops are enlarged to change it.
_STROKE_MIN = 1.7
_STROKE_MAX = 4.0
_THICKEN_TO = 1.7
_THIN_TO = 4.0
_STROKE_SIDE = 64

# Images per step of canonicalize_batch's vectorised shortcut.
_CHUNK = 2048

_POSITIONS = np.arange(SIDE, dtype=np.float32)
_EIGHT = np.ones((3, 3), dtype=bool)


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
    work = _shrink(_clip01(image))
    border = np.sort(_border(work))
    flip = _is_dark_on_light(work, border) if invert is Invert.auto else invert is Invert.yes
    raw = np.subtract(1.0, work, dtype=np.float32) if flip else work
    raw_border = 1.0 - border[::-1] if flip else border
    background = _flat_background(raw, raw_border)
    if background is None:
        ink, noise = _photo_ink(raw)
    else:
        # The border is all background here (or mostly): its spread is the noise, in ink units.
        noise = _noise(raw_border) / max(1.0 - background, 0.05)
        ink = _denoise(_remove_background(raw, background), noise)
    peak, threshold, floor = _levels(ink, noise, inner=min(raw.shape) >= _GRID_MIN_SIDE)
    crop = _digit_crop(ink, peak, threshold, floor, noise)
    return _fit_and_center(_normalise_strokes(crop))


def canonicalize_batch(images: np.ndarray, invert: Invert = Invert.no) -> np.ndarray:
    """Canonicalize an (N, H, W) stack of images in [0, 1]; blank images become all-zero.

    Gives the same result as `canonicalize` on each image. Stacks of small clean images (MNIST, the
    scikit-learn digits) take a vectorised shortcut for the common case of a single stroke region;
    the rest go through `canonicalize` one by one.
    """
    stack = np.asarray(images, dtype=np.float32)
    if stack.ndim != 3:
        raise ValueError(f"expected an (N, H, W) stack of images, got shape {stack.shape}")
    out = np.zeros((len(stack), SIDE, SIDE), dtype=np.float32)
    if len(stack) == 0 or stack.shape[1] == 0 or stack.shape[2] == 0:
        return out
    if (
        invert is Invert.auto
        or min(stack.shape[1:]) >= _GRID_MIN_SIDE
        or max(stack.shape[1:]) >= 300
    ):
        # Photos, and images whose polarity must be guessed, are canonicalized one at a time.
        pending = np.arange(len(stack))
    else:
        # Chunks keep the temporaries (a dozen arrays the size of the chunk) in cache.
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


# --- polarity and background -------------------------------------------------------------------


def _clip01(values: np.ndarray) -> np.ndarray:
    """Float32 copy clipped to [0, 1] (np.clip's Python wrapper costs more than the work here)."""
    out = np.maximum(values, np.float32(0.0), dtype=np.float32)
    return np.minimum(out, np.float32(1.0), out=out)


def _shrink(image: np.ndarray) -> np.ndarray:
    longest = max(image.shape)
    if longest <= _WORK_MAX:
        return image
    factor = -(-longest // _WORK_MAX)
    # reduce() averages factor x factor blocks, which also averages away sensor noise.
    return np.asarray(Image.fromarray(image, mode="F").reduce(factor), dtype=np.float32)


def _border(image: np.ndarray) -> np.ndarray:
    width = max(1, min(image.shape) // 32)
    return np.concatenate(
        [
            image[:width].ravel(),
            image[-width:].ravel(),
            image[:, :width].ravel(),
            image[:, -width:].ravel(),
        ]
    )


def _modal(border: np.ndarray) -> tuple[float, float]:
    """The most common tone of the (sorted) border, to 1/64, and the share of pixels that have it."""
    counts = np.bincount((border * 63.99).astype(np.intp), minlength=64)
    top = int(counts.argmax())
    return (top + 0.5) / 64, float(counts[top]) / len(border)


def _is_dark_on_light(image: np.ndarray, border: np.ndarray) -> bool:
    count = len(border)
    spread = float(border[3 * count // 4] - border[count // 4])
    tone, share = _modal(border)
    if share >= _MODAL_BORDER or spread < _UNEVEN_BORDER:
        # A border of (nearly) one tone is background, even where a thick stroke runs into it.
        # The ink is the extreme farther from it (rather than a fixed 0.5, so that grey scans and
        # photos work too)...
        background = tone if share >= _MODAL_BORDER else float(border[count // 2])
        darker = background - float(image.min())
        lighter = float(image.max()) - background
        # ...when that is clear. In a photo, a shadow or glare inside can outdo faint pencil.
        if share >= _MODAL_BORDER or min(image.shape) < _GRID_MIN_SIDE:
            return darker > lighter
        if abs(darker - lighter) >= 0.5 * (darker + lighter):
            return darker > lighter
    # Photos: their border is no guide (shadows, a gradient, a table at the edge).
    return _darker_ink(image)


def _darker_ink(image: np.ndarray) -> bool:
    """Whether the ink of a photo is darker than its background."""
    # Light multiplies what the paper and ink reflect, so compare each pixel with the local
    # background as a ratio: blocks of a quarter of the picture are mostly background (paper or
    # board) even with a bold digit, and their medians follow the lighting. Ink is far darker (on
    # paper) or far lighter (chalk on a board) than that; shadows and glare rarely halve or double
    # the light.
    height, width = image.shape
    block = max(4, max(height, width) // 4)
    rows, cols = max(1, height // block), max(1, width // block)
    block_h, block_w = height // rows, width // cols
    tiles = image[: rows * block_h, : cols * block_w].reshape(rows, block_h, cols, block_w)
    grid = np.median(tiles.transpose(0, 2, 1, 3).reshape(rows, cols, -1), axis=2)
    field = Image.fromarray(grid.astype(np.float32), mode="F").resize(
        (width, height), Image.Resampling.BILINEAR
    )
    ratio = (image + np.float32(0.1)) / (np.asarray(field) + np.float32(0.1))
    return int(np.count_nonzero(ratio < 0.5)) >= int(np.count_nonzero(ratio > 2.0))


def _flat_background(raw: np.ndarray, border: np.ndarray) -> float | None:
    """The background level when it is flat (small or clean images), else None."""
    if min(raw.shape) < _GRID_MIN_SIDE:
        return float(border[len(border) // 2])
    tone, share = _modal(border)
    if share >= _MODAL_BORDER and float(border[-1] - border[0]) > 0:
        # A clean canvas: one exact tone along most of the border. Take the median of that tone's
        # pixels rather than the bin's centre.
        in_bin = border[(border * 63.99).astype(np.intp) == int(tone * 64)]
        return float(in_bin[len(in_bin) // 2])
    if share >= _MODAL_BORDER:
        return float(border[0])
    return None


def _photo_ink(raw: np.ndarray) -> tuple[np.ndarray, float]:
    """Ink strength in [0, 1] of a photo, with uneven lighting removed, and the noise level."""
    background = _lighting(raw)
    room = np.maximum(np.float32(1.0) - background, np.float32(0.05))
    # The noise in ink units (before clipping): a dim background's noise is amplified with it.
    scaled = (raw - background) / room
    noise = _noise(np.ravel(scaled[::2, ::2] if scaled.size > 16384 else scaled))
    ink = _denoise(_remove_background(raw, background), noise)
    if isinstance(background, float):
        return ink, noise
    # The coarse grid cannot follow a sharp shadow edge, which then looks like a stroke. A grey
    # opening a little wider than the strokes follows it, yet removes the strokes themselves.
    _, threshold, _ = _levels(ink, noise, inner=True)
    size = min(2 * int(np.ceil(_main_stroke_width(ink > threshold))) + 3, max(raw.shape) // 5)
    smooth = _ndimage().uniform_filter(raw, 3) if noise > _NOISY else raw
    opened = _ndimage().grey_opening(smooth, size=(size, size), mode="nearest")
    return _denoise(_remove_background(raw, np.maximum(background, opened)), noise), noise


def _main_stroke_width(mask: np.ndarray) -> float:
    """Stroke width of the larger ink regions, leaving out bands along the border (a table)."""
    labels, count = _ndimage().label(mask, structure=_EIGHT)
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
    area[contact >= 0.4] = 0.0
    if area.max() == 0:
        return _stroke_width(mask)
    # Too narrow an opening would hollow out the digit's strokes, too wide a one only leaves
    # some shade behind: measure the big regions, where the digit is.
    return _stroke_width(np.isin(labels, np.flatnonzero(area >= 0.1 * area.max())))


def _remove_background(raw: np.ndarray, background: np.ndarray | float) -> np.ndarray:
    # Dividing by the background's room to full strength (the paper's brightness, in a photo) gives
    # ink in a shadow the same strength as ink in full light.
    room = np.maximum(np.float32(1.0) - background, np.float32(0.05))
    return _clip01((raw - background) / room)


def _denoise(ink: np.ndarray, noise: float) -> np.ndarray:
    if noise > _NOISY:
        return _ndimage().gaussian_filter(ink, 0.8, truncate=3.0)
    return ink


def _lighting(raw: np.ndarray) -> np.ndarray | float:
    """Smooth background of a photo from a coarse grid of block percentiles."""
    height, width = raw.shape
    block = max(4, max(height, width) // _GRID_BLOCKS)
    rows, cols = height // block, width // block
    tiles = raw[: rows * block, : cols * block].reshape(rows, block, cols, block)
    blocks = tiles.transpose(0, 2, 1, 3).reshape(rows, cols, block * block)
    # The 10th percentile of each block is its paper: ink rarely covers 90% of a block.
    grid = np.percentile(blocks, 10, axis=2).astype(np.float32)
    grid = _ndimage().grey_opening(grid, size=(_GRID_OPENING, _GRID_OPENING), mode="nearest")
    if float(grid.max() - grid.min()) < _FLAT:
        return float(np.median(grid))
    grid = _ndimage().gaussian_filter(grid, 0.7, mode="nearest")
    field = Image.fromarray(grid, mode="F").resize(
        (cols * block, rows * block), Image.Resampling.BILINEAR
    )
    full = np.asarray(field, dtype=np.float32)
    if full.shape != raw.shape:
        full = np.pad(full, ((0, height - full.shape[0]), (0, width - full.shape[1])), mode="edge")
    return full


def _noise(values: np.ndarray) -> float:
    """Robust standard deviation (1.4826 x median absolute deviation) of 1-D `values`."""
    ordered = np.sort(values)
    centre = ordered[len(ordered) // 2]
    spread = np.sort(np.abs(ordered - centre))
    return 1.4826 * float(spread[len(spread) // 2])


def _levels(ink: np.ndarray, noise: float, inner: bool) -> tuple[float, float, float]:
    """The ink's peak, the mask threshold and the noise floor; NoInkError when there is no ink."""
    if inner:
        # Judge the ink's strength away from the edges, where a table or the page's edge may be
        # far darker than a pencil digit.
        margin_r, margin_c = ink.shape[0] // 25, ink.shape[1] // 25
        peak = float(
            ink[margin_r : ink.shape[0] - margin_r, margin_c : ink.shape[1] - margin_c].max()
        )
    else:
        peak = float(ink.max())
    if peak < max(_MIN_PEAK, 6.0 * noise):
        raise NoInkError("no ink found: the image is blank")
    threshold = max(_THRESHOLD * peak, 3.0 * noise)
    floor = min(max(3.0 * noise, 0.02 * peak), 0.5 * threshold)
    return peak, threshold, floor


# --- finding the digit -------------------------------------------------------------------------


def _digit_crop(
    ink: np.ndarray, peak: float, threshold: float, floor: float, noise: float
) -> np.ndarray:
    """The digit's ink cropped to its box, stretched so the stroke core is 1, other ink removed."""
    mask, region, found = _find_digit(ink, peak, threshold)
    lower = max(0.5 * threshold, 3.0 * noise)
    if not found and lower < threshold:
        # Only specks or faint fragments cleared the threshold: a faint or thin digit beside a
        # dark speck or edge. Look again with a lower one, which joins the fragments.
        mask, region, found = _find_digit(ink, peak, lower)
        floor = min(floor, 0.5 * lower)
    return _stretch(ink, mask & region, region, floor, noise)


def _find_digit(
    ink: np.ndarray, peak: float, threshold: float
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The ink mask, the digit's region, and whether that region is convincing."""
    mask = ink > threshold
    reach = max(1, round(max(ink.shape) / 200))
    # Join strokes broken by a lighter patch or a pen skip, so a 5 stays one piece.
    linked = _dilate(mask) if reach == 1 else _ndimage().binary_dilation(mask, _EIGHT, reach)
    labels, count = _label(linked)
    if count <= 1:
        return mask, linked, True
    chosen, found = _choose(labels, count, ink, mask, peak, reach)
    return mask, np.isin(labels, chosen), found


def _ndimage() -> ModuleType:
    """scipy.ndimage, imported on first use: its import (~0.2 s) would double the start-up of a
    one-image `predict`, whose clean digit needs none of it."""
    from scipy import ndimage

    return ndimage


def warm_up() -> None:
    """Import scipy.ndimage now: worth it before canonicalizing more than a few images, since its
    labelling is much faster than the NumPy fallback used for a lone small image."""
    _ndimage()


# Below this many pixels, labelling in NumPy beats paying for scipy's import in a fresh process.
_SMALL_LABEL_PIXELS = 64 * 64


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of `mask`, numbered 1.. in raster order of their first pixel, exactly
    as `scipy.ndimage.label(mask, structure=np.ones((3, 3)))` numbers them."""
    if "scipy.ndimage" in sys.modules or mask.size > _SMALL_LABEL_PIXELS:
        labels, count = _ndimage().label(mask, structure=_EIGHT)
        return labels, int(count)
    return _label_small(mask)


def _label_small(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """NumPy labelling for small masks: every pixel takes the smallest flat index among its linked
    neighbours, with pointer jumping so long strokes converge in a few rounds."""
    height, width = mask.shape
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.int32), 0
    big = np.int64(height * width)
    index = np.arange(height * width, dtype=np.int64).reshape(height, width)
    parent = np.where(mask, index, big)
    padded = np.full((height + 2, width + 2), big, dtype=np.int64)
    while True:
        padded[1:-1, 1:-1] = parent
        rows = np.minimum(np.minimum(padded[:-2, :], padded[1:-1, :]), padded[2:, :])
        smallest = np.minimum(np.minimum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
        updated = np.where(mask, smallest, big)
        # Pointer jumping: follow each pixel's new root to that root's own root.
        flat = np.append(updated.ravel(), big)
        updated = np.where(mask, flat[np.minimum(updated, big)], big)
        if np.array_equal(updated, parent):
            break
        parent = updated
    roots, inverse = np.unique(parent[mask], return_inverse=True)
    labels = np.zeros(mask.shape, dtype=np.int32)
    labels[mask] = inverse.ravel() + 1
    return labels, len(roots)


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Binary dilation by one pixel in all eight directions (faster than ndimage for small masks)."""
    padded = np.zeros((*mask.shape[:-2], mask.shape[-2] + 2, mask.shape[-1] + 2), dtype=bool)
    padded[..., 1:-1, 1:-1] = mask
    rows = padded[..., :-2, :] | padded[..., 1:-1, :] | padded[..., 2:, :]
    return rows[..., :-2] | rows[..., 1:-1] | rows[..., 2:]


def _stretch(
    ink: np.ndarray, core_mask: np.ndarray, region: np.ndarray, floor: float, noise: float
) -> np.ndarray:
    values = ink[core_mask]
    if noise > _NOISY and values.size > 20:
        # Noisy photos: the 95th percentile ignores the odd dark blot; clean images use the peak.
        core = float(np.percentile(values, 95))
    else:
        core = float(values.max())
    core = max(core, floor + 1e-3)
    digit = np.where(region, (ink - floor) / np.float32(core - floor), np.float32(0.0))
    return _tight(_clip01(digit))


def _tight(image: np.ndarray) -> np.ndarray:
    # max > 0 rather than any(): the same for ink >= 0, and any()'s Python wrapper costs more.
    rows = np.flatnonzero(image.max(axis=1) > 0)
    cols = np.flatnonzero(image.max(axis=0) > 0)
    if rows.size == 0:
        raise NoInkError("no ink found: the image is blank")
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _choose(
    labels: np.ndarray, count: int, ink: np.ndarray, mask: np.ndarray, peak: float, reach: int
) -> tuple[list[int], bool]:
    """Labels of the components that make up the digit, and whether the main one is convincing
    (neither a speck nor faint)."""
    height, width = labels.shape
    index = np.arange(1, count + 1)
    mass = np.asarray(
        _ndimage().sum_labels(np.where(mask, ink, 0), labels, index), dtype=np.float64
    )
    strength = np.asarray(_ndimage().maximum(ink, labels, index), dtype=np.float64)
    extent = np.array(
        [
            [box[0].start, box[0].stop, box[1].start, box[1].stop]
            for box in _ndimage().find_objects(labels)
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
    band = (((top >= 0.4 * width) | (bottom >= 0.4 * width)) & (box_h <= 0.25 * height)) | (
        ((left >= 0.4 * height) | (right >= 0.4 * height)) & (box_w <= 0.25 * width)
    )
    band |= (box_h >= 0.9 * height) & (
        (extent[:, 3] <= 0.2 * width) | (extent[:, 2] >= 0.8 * width)
    )
    band |= (box_w >= 0.9 * width) & (
        (extent[:, 1] <= 0.2 * height) | (extent[:, 0] >= 0.8 * height)
    )
    # A long thin line across most of the picture: a ruled line, a fold, the edge of the page.
    line = ((box_h >= 0.6 * height) & (box_w <= 0.06 * width)) | (
        (box_w >= 0.6 * width) & (box_h <= 0.06 * height)
    )
    big = (np.maximum(box_h, box_w) >= 0.06 * min(height, width)) & (mass >= 0.01 * mass.max())
    # Ink about as strong as the peak: a shadow's edge left over by the lighting model is faint.
    strong = strength >= 0.5 * peak
    # A box printed or drawn around the digit encloses another candidate of about a digit's size
    # (a digit encloses at most a dot, like a slashed or dotted zero).
    candidate = big & strong & ~band & ~line
    inner = extent[candidate]  # few: big and strong
    inner_size = np.maximum(box_h, box_w)[candidate]
    frame = (
        (extent[:, None, 0] < inner[None, :, 0])
        & (extent[:, None, 1] > inner[None, :, 1])
        & (extent[:, None, 2] < inner[None, :, 2])
        & (extent[:, None, 3] > inner[None, :, 3])
        & (inner_size[None, :] >= 0.35 * np.maximum(box_h, box_w)[:, None])
    ).any(axis=1)
    # Prefer a proper candidate; when there is none, relax one condition at a time (a canvas
    # drawing runs into the edge; a 1 drawn from edge to edge is a "line", and it is the digit
    # when nothing else is there).
    tiers = (
        candidate & ~frame,
        candidate,
        big & ~band & ~line,
        big & strong & ~band,
        big & ~band,
        ~band & ~line,
        ~band,
    )
    allowed = next((tier for tier in tiers if tier.any()), np.ones(count, dtype=bool))
    main = int(np.argmax(np.where(allowed, mass, -1.0)))
    size = max(box_h[main], box_w[main])
    gap_rows = np.maximum(extent[main, 0] - extent[:, 1], extent[:, 0] - extent[main, 1])
    gap_cols = np.maximum(extent[main, 2] - extent[:, 3], extent[:, 2] - extent[main, 3])
    # The boxes are of the linked (dilated) regions: add back what the dilation took off the gap.
    gap = np.maximum(gap_rows, gap_cols) + 2 * reach
    near = (gap <= _NEAR * size) & ~band & ~line
    near &= (mass >= _SPECK * mass[main]) & (strength >= 0.5 * strength[main])
    # Parts of a digit are smaller than its main part; anything larger is something else (a frame).
    near &= (np.maximum(box_h, box_w) <= size) & (mass <= mass[main])
    near[main] = True
    return [int(i) + 1 for i in np.flatnonzero(near)], bool(big[main] & strong[main])


# --- strokes, scaling and centring -------------------------------------------------------------


def _stroke_width(mask: np.ndarray) -> float:
    """_stroke_widths of one 2-D mask (whole-array counts are much faster than per-axis ones)."""
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


def _stroke_widths(masks: np.ndarray) -> np.ndarray:
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
    return 2.0 * area / np.maximum(outline, 1)


def _normalise_strokes(crop: np.ndarray) -> np.ndarray:
    """Thicken or thin strokes that would come out far from MNIST's width in the 20x20 box.

    Thin pen lines in a photo shrink to a faint hairline, mouse drawings are one pixel wide and
    marker or brush strokes come out as blobs: the model has seen none of these in MNIST.
    """
    width = _stroke_width(crop > 0.5) * SIDE / max(crop.shape)
    if _STROKE_MIN <= width <= _STROKE_MAX:
        return crop
    target = _THICKEN_TO if width < _STROKE_MIN else _THIN_TO
    height, breadth = crop.shape
    # Small crops (mouse drawings, dataset images) are enlarged first, so the change of width can
    # be finer than a whole pixel of the result.
    factor = -(-_STROKE_SIDE // max(height, breadth))
    # From widths in the 20x20 result to a radius in the (enlarged) crop: half the difference.
    radius = round(abs(target - width) * (max(height, breadth) * factor) / SIDE / 2)
    if radius < 1:
        return crop
    if factor > 1:
        crop = (
            _resize_weights(height, height * factor)
            @ crop
            @ _resize_weights(breadth, breadth * factor).T
        )
    if target > width:
        return _morph(np.pad(crop, radius), radius, np.maximum)
    thinned = _morph(crop, radius, np.minimum)
    return _tight(thinned) if thinned.max() > 0 else crop


def _morph(image: np.ndarray, radius: int, pick: np.ufunc) -> np.ndarray:
    """Grey dilation (pick=np.maximum) or erosion (np.minimum) by an octagon of `radius`.

    Alternating 3x3 squares and crosses approximate a disk, so strokes grow or shrink evenly in
    all directions; a few shifted whole-array maxima cost far less than a general footprint.
    """
    out = image
    padding = [(0, 0)] * (image.ndim - 2) + [(1, 1), (1, 1)]  # also for stacks of images
    for step in range(radius):
        padded = np.pad(out, padding, mode="edge")
        rows = pick(pick(padded[..., :-2, :], padded[..., 1:-1, :]), padded[..., 2:, :])
        if step % 2:
            out = pick(pick(rows[..., :-2], rows[..., 1:-1]), rows[..., 2:])
        else:
            middle = padded[..., 1:-1, :]
            out = pick(pick(rows[..., 1:-1], middle[..., :-2]), middle[..., 2:])
    return out


@lru_cache(maxsize=4096)
def _resize_weights(size: int, new_size: int) -> np.ndarray:
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
    """Scale a tight crop so its longer side is SIDE pixels, then centre it by its centre of mass."""
    return _fit_and_center(np.asarray(crop, dtype=np.float32))


def _fit_and_center(crop: np.ndarray) -> np.ndarray:
    # The arithmetic of _fit_and_center_many, without its batch bookkeeping (this runs per file).
    height, width = crop.shape
    scale = SIDE / max(height, width)
    new_height = max(1, min(SIDE, round(height * scale)))
    new_width = max(1, min(SIDE, round(width * scale)))
    resized = _resize_weights(height, new_height) @ crop @ _resize_weights(width, new_width).T
    peak = resized.max()
    if not peak > 0:
        raise NoInkError("no ink found: the image is blank")
    resized /= peak
    row_sums = resized.sum(axis=1)
    total = float(row_sums.sum())
    com_row = float((row_sums * _POSITIONS[:new_height]).sum()) / total
    com_col = float((resized.sum(axis=0) * _POSITIONS[:new_width]).sum()) / total
    top = min(max(round((SIDE - 1) / 2 - com_row), 0), SIDE - new_height)
    left = min(max(round((SIDE - 1) / 2 - com_col), 0), SIDE - new_width)
    canvas = np.zeros((SIDE, SIDE), dtype=np.float32)
    canvas[top : top + new_height, left : left + new_width] = resized
    return canvas


def _fit_and_center_many(crops: np.ndarray) -> np.ndarray:
    """`fit_and_center` for a stack of same-shaped crops at once."""
    count, height, width = crops.shape
    scale = SIDE / max(height, width)
    new_height = max(1, min(SIDE, round(height * scale)))
    new_width = max(1, min(SIDE, round(width * scale)))
    resized = _resize_weights(height, new_height) @ crops @ _resize_weights(width, new_width).T
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
    top = np.clip(np.rint((SIDE - 1) / 2 - com_row), 0, SIDE - new_height).astype(np.intp)
    left = np.clip(np.rint((SIDE - 1) / 2 - com_col), 0, SIDE - new_width).astype(np.intp)
    canvas = np.zeros((count, SIDE, SIDE), dtype=np.float32)
    # Scatter each image into its place: flat indices of every resized pixel on its canvas.
    rows = top[:, None, None] + np.arange(new_height)[None, :, None]
    cols = left[:, None, None] + np.arange(new_width)[None, None, :]
    flat = (np.arange(count)[:, None, None] * (SIDE * SIDE) + rows * SIDE + cols).ravel()
    canvas.reshape(-1)[flat] = resized.ravel()
    return canvas


# --- the batch shortcut ------------------------------------------------------------------------


def _batch_small(stack: np.ndarray, flip: bool, out: np.ndarray) -> np.ndarray:
    """Canonicalize the simple images of a stack of small ones into `out`; return the others.

    "Simple" is what `canonicalize` would handle without any of its optional steps: a noise-free
    background (no blur), one connected stroke region (no choice of components) and strokes that
    need no thickening or thinning. Each step below is the vectorised twin of the per-image one.
    """
    count, height, width = stack.shape
    work = _clip01(np.nan_to_num(stack, nan=0.0, posinf=1.0, neginf=0.0))
    raw = np.subtract(1.0, work, dtype=np.float32) if flip else work
    edge = max(1, min(height, width) // 32)
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
    deviation = np.abs(border - background[:, None])
    deviation.sort(axis=1)
    noise = 1.4826 * deviation[:, middle].astype(np.float64)
    noise /= np.maximum(1.0 - background.astype(np.float64), 0.05)
    # Noisy images would be blurred first: they take the per-image path.
    quiet = noise <= _NOISY
    room = np.maximum(np.float32(1.0) - background, np.float32(0.05))
    ink = _clip01((raw - background[:, None, None]) / room[:, None, None])
    # Thresholds in double precision, compared in single, as canonicalize's Python floats are.
    peak = ink.reshape(count, -1).max(axis=1).astype(np.float64)
    blank = quiet & (peak < np.maximum(_MIN_PEAK, 6.0 * noise))
    threshold = np.maximum(_THRESHOLD * peak, 3.0 * noise)
    floor = np.minimum(np.maximum(3.0 * noise, 0.02 * peak), 0.5 * threshold)
    mask = ink > threshold.astype(np.float32)[:, None, None]
    linked = _dilate(mask)
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # connect pixels within an image, never across images
    labels, _ = _ndimage().label(linked, structure=structure)
    pieces = np.bincount([box[0].start for box in _ndimage().find_objects(labels)], minlength=count)
    simple = quiet & ~blank & (pieces == 1)
    core = np.where(mask, ink, 0.0).reshape(count, -1).max(axis=1).astype(np.float64)
    core = np.maximum(core, floor + 1e-3)
    scale = (core - floor).astype(np.float32)[:, None, None]
    digit: np.ndarray = _clip01(
        np.where(linked, (ink - floor.astype(np.float32)[:, None, None]) / scale, 0.0)
    )
    # Stroke width as _normalise_strokes measures it, on the whole image (the crop adds nothing).
    strokes: np.ndarray = digit > 0.5
    area = np.count_nonzero(strokes, axis=(1, 2))
    stroke_width = _stroke_widths(strokes)
    rows_any: np.ndarray = np.any(digit, axis=2)
    cols_any: np.ndarray = np.any(digit, axis=1)
    top = rows_any.argmax(axis=1)
    bottom = height - rows_any[:, ::-1].argmax(axis=1)
    left = cols_any.argmax(axis=1)
    right = width - cols_any[:, ::-1].argmax(axis=1)
    longest = np.maximum(bottom - top, right - left)
    scaled = stroke_width * SIDE / np.maximum(longest, 1)
    simple &= (area > 0) & np.any(rows_any, axis=1)
    # _normalise_strokes, vectorised: the factor small crops are enlarged by, and the radius.
    factor = -(-_STROKE_SIDE // np.maximum(longest, 1))
    target = np.where(scaled < _STROKE_MIN, _THICKEN_TO, _THIN_TO)
    radius = np.rint(np.abs(target - scaled) * (longest * factor) / SIDE / 2).astype(np.intp)
    keep = ((scaled >= _STROKE_MIN) & (scaled <= _STROKE_MAX)) | (radius < 1)
    thicken = simple & ~keep & (scaled < _STROKE_MIN)
    simple &= keep | thicken  # thinning crops a second time: rare, left to canonicalize
    heights, widths = bottom - top, right - left
    chosen = np.flatnonzero(simple)
    # Crops of the same shape (and, to thicken, the same radius) are processed together.
    groups = (heights[chosen] * (width + 1) + widths[chosen]) * (SIDE * 8 + 1)
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
                    _resize_weights(crop_h, crop_h * int(factor[first]))
                    @ crops
                    @ _resize_weights(crop_w, crop_w * int(factor[first])).T
                )
            padding = ((0, 0), (grow, grow), (grow, grow))
            crops = _morph(np.pad(crops, padding), grow, np.maximum)
        out[group] = _fit_and_center_many(crops)
    # Blank images stay zero; everything else not simple goes through canonicalize.
    return np.flatnonzero(~simple & ~blank)
