"""Random changes to canonical 20x20 training images, so the model copes with real drawings.

Canonical images of MNIST are all alike in ways users' pictures are not: the centring, slant, size
and stroke width of a phone photo or a canvas drawing differ a little after `canonicalize`. Each epoch
`augment_batch` shifts, rotates and scales every image by a small random amount and makes some
strokes thicker or thinner. It works on the whole batch at once (one bilinear gather in NumPy), so
60,000 images take well under a second.
"""

from __future__ import annotations

import numpy as np

from digitcli.preprocess.morphology import morph_step
from digitcli.vocabulary import IMAGE_SHAPE, IMAGE_SIDE

_CENTRE = (IMAGE_SIDE - 1) / 2
_CHUNK = 4096


def augment_batch(
    images: np.ndarray,
    rng: np.random.Generator,
    max_shift: float = 1.5,
    max_rotation: float = 12.0,
    max_scale: float = 0.1,
    stroke_probability: float = 0.3,
) -> np.ndarray:
    """Randomly shifted, rotated, scaled and stroke-adjusted copies of (N, 20, 20) images in [0, 1].

    max_shift is in pixels, max_rotation in degrees, max_scale a fraction (0.1: 90% to 110%);
    stroke_probability is the chance that an image's strokes are thickened or thinned (half each).
    The input is not modified.
    """
    batch = np.asarray(images, dtype=np.float32)
    if batch.ndim != 3 or batch.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"expected (N, {IMAGE_SIDE}, {IMAGE_SIDE}) images, got shape {batch.shape}"
        )
    count = len(batch)
    if count == 0:
        result: np.ndarray = batch.copy()
        return result
    # Chunks keep the temporaries (a few arrays of N x 400) small enough to stay in cache.
    out = np.concatenate(
        [
            _affine(batch[start : start + _CHUNK], rng, max_shift, max_rotation, max_scale)
            for start in range(0, count, _CHUNK)
        ]
    )
    if stroke_probability > 0:
        out = _strokes(out, rng, stroke_probability)
    return out


def _affine(
    batch: np.ndarray,
    rng: np.random.Generator,
    max_shift: float,
    max_rotation: float,
    max_scale: float,
) -> np.ndarray:
    count = len(batch)
    angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation, count))
    scale = 1.0 + rng.uniform(-max_scale, max_scale, count)
    shift = rng.uniform(-max_shift, max_shift, (count, 2))
    # Inverse mapping: for each output pixel, where to sample the input (rotating about the centre).
    cos = (np.cos(angle) / scale).astype(np.float32)[:, None, None]
    sin = (np.sin(angle) / scale).astype(np.float32)[:, None, None]
    grid = np.arange(IMAGE_SIDE, dtype=np.float32) - np.float32(_CENTRE)
    out_r = grid[None, :, None] - shift[:, 0, None, None].astype(np.float32)
    out_c = grid[None, None, :] - shift[:, 1, None, None].astype(np.float32)
    # +1: coordinates in the zero-padded image that _bilinear samples.
    src_r = cos * out_r - sin * out_c + np.float32(_CENTRE + 1)
    src_c = sin * out_r + cos * out_c + np.float32(_CENTRE + 1)
    return _bilinear(batch, src_r, src_c)


def _bilinear(batch: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sample image i at (rows[i], cols[i]) of its one-pixel zero-padded copy, bilinearly."""
    count = len(batch)
    width = IMAGE_SIDE + 2
    # The zero border makes samples just outside the image fade to black instead of clamping.
    padded = np.zeros((count, width, width), np.float32)
    padded[:, 1:-1, 1:-1] = batch
    flat = padded.reshape(-1)
    limit = np.float32(width - 1 - 1e-3)
    rows = np.clip(rows, 0, limit)
    cols = np.clip(cols, 0, limit)
    r0f = np.floor(rows)
    c0f = np.floor(cols)
    fr = rows - r0f
    fc = cols - c0f
    r0 = r0f.astype(np.int64)
    c0 = c0f.astype(np.int64)
    index = (np.arange(count, dtype=np.int64) * (width * width))[:, None, None] + (r0 * width + c0)
    top_left = flat[index]
    top_right = flat[index + 1]
    bottom_left = flat[index + width]
    bottom_right = flat[index + width + 1]
    top = top_left + (top_right - top_left) * fc
    bottom = bottom_left + (bottom_right - bottom_left) * fc
    result: np.ndarray = top + (bottom - top) * fr
    return result


def _strokes(batch: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    count = len(batch)
    change = rng.random(count) < probability
    if not change.any():
        return batch
    thicker = rng.random(count) < 0.5
    # Random strength: widths vary continuously rather than taking two fixed values.
    amount = rng.uniform(0.3, 1.0, count).astype(np.float32)[:, None, None]
    out: np.ndarray = batch.copy()
    grow = change & thicker
    if grow.any():
        chosen = batch[grow]
        # A one-pixel grey dilation with a cross (4-neighbourhood maximum), blended in part way;
        # black beyond the border, as the canonical image's surroundings are.
        dilated = morph_step(chosen, np.maximum, square=False, cval=0.0)
        out[grow] = chosen + (dilated - chosen) * amount[grow]
    shrink = change & ~thicker
    if shrink.any():
        # Thin by dropping the faint edge of each stroke and stretching the rest back to full
        # strength; an erosion would wipe out MNIST's two-pixel strokes altogether.
        cut = 0.45 * amount[shrink]
        out[shrink] = np.clip((batch[shrink] - cut) / (1.0 - cut), 0.0, 1.0)
    return out
