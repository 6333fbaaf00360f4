"""Ink levels: clipping, the background's noise, the blur that quiets it, and the ink's thresholds."""

from __future__ import annotations

import numpy as np

from digitcli.errors import NoInkError
from digitcli.preprocess.components import ndimage

# Background noise (robust standard deviation) above which the ink map is blurred.
NOISY = 0.01
# Turns a median absolute deviation into a standard deviation (for normally distributed noise).
MAD_TO_SD = 1.4826
# The blur of a noisy ink map: just enough to average sensor noise, not enough to merge strokes.
_BLUR_SIGMA = 0.8
_BLUR_TRUNCATE = 3.0
# Ink weaker than this (relative to black on white) is no ink...
MIN_PEAK = 0.08
# ...nor is a peak within this many noise deviations of the background (noise alone reaches ~4).
NOISE_PEAK = 6.0
# The ink mask keeps pixels above this share of the ink's peak...
THRESHOLD = 0.3
# ...and this many noise deviations above the background, as does the floor (the level stretched to
# 0): 3 deviations leave about one noise pixel in a thousand.
NOISE_MARGIN = 3.0
# The floor is this share of the peak (haze), at most FLOOR_SHARE_OF_THRESHOLD of the threshold, so
# the anti-aliased edges between floor and threshold keep their grey.
FLOOR_SHARE = 0.02
FLOOR_SHARE_OF_THRESHOLD = 0.5
# In pictures large enough for a lighting model, the peak is judged inside a margin of 1/25 of
# each side: a table or the page's edge there may be far darker than a pencil digit.
_EDGE_MARGIN = 25


def clip01(values: np.ndarray) -> np.ndarray:
    """Float32 copy clipped to [0, 1] (np.clip's Python wrapper costs more than the work here)."""
    out = np.maximum(values, np.float32(0.0), dtype=np.float32)
    result: np.ndarray = np.minimum(out, np.float32(1.0), out=out)
    return result


def noise_level(values: np.ndarray) -> float:
    """Robust standard deviation (MAD_TO_SD x median absolute deviation) of 1-D `values`."""
    ordered = np.sort(values)
    centre = ordered[len(ordered) // 2]
    spread = np.sort(np.abs(ordered - centre))
    return MAD_TO_SD * float(spread[len(spread) // 2])


def denoise(ink: np.ndarray, noise: float) -> np.ndarray:
    """`ink`, lightly blurred when the background is noisy."""
    if noise > NOISY:
        result: np.ndarray = ndimage().gaussian_filter(ink, _BLUR_SIGMA, truncate=_BLUR_TRUNCATE)
        return result
    return ink


def ink_levels(ink: np.ndarray, noise: float, inner: bool) -> tuple[float, float, float]:
    """The ink's peak, the mask threshold and the noise floor; NoInkError when there is no ink."""
    if inner:
        margin_r, margin_c = ink.shape[0] // _EDGE_MARGIN, ink.shape[1] // _EDGE_MARGIN
        peak = float(
            ink[margin_r : ink.shape[0] - margin_r, margin_c : ink.shape[1] - margin_c].max()
        )
    else:
        peak = float(ink.max())
    if peak < MIN_PEAK:
        raise NoInkError("no ink found: the image is blank")
    if peak < NOISE_PEAK * noise:  # it varies, but nothing stands out of its noise
        raise NoInkError("no digit found: the picture is noise, with no digit-like shape in it")
    threshold = max(THRESHOLD * peak, NOISE_MARGIN * noise)
    floor = min(max(NOISE_MARGIN * noise, FLOOR_SHARE * peak), FLOOR_SHARE_OF_THRESHOLD * threshold)
    return peak, threshold, floor
