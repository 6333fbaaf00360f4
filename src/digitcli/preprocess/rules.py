"""Ruled and squared paper: its printed lines found and painted in the paper's tone.

The lines of a notebook page cross the digit and each other: read as ink, they join the digit's
strokes into one lattice, and their edges and mid-tones pass for a photo's texture. They are rows
(or columns) that are mostly a thin line a little darker than the paper, several of them parallel;
the ink that crosses them is darker still and is kept.
"""

from __future__ import annotations

import numpy as np

# A rule is at least RULE_STEP darker than the paper (the picture's median) along at least RULE_SPAN
# of its length, and at most RULE_THICKNESS of the picture thick (a dark area, such as the shadowed
# half of a photo, is thicker). Paper is ruled when MIN_RULES or more run one way: one line may be
# a digit's own bar (a 7's, in a tight crop).
RULE_STEP = 0.05
RULE_SPAN = 0.6
RULE_THICKNESS = 0.02
MIN_RULES = 3
RULE_GAP = 2
# The rules are looked for on every n-th pixel, so that about this many rows and columns are read.
SAMPLE_SIDE = 256


def without_rules(gray: np.ndarray) -> np.ndarray:
    """`gray` with the thin lines of ruled or squared paper painted in the paper's tone (the ink
    crossing them, darker than the lines, is kept, as float32); `gray` itself when it has none."""
    image = np.asarray(gray, dtype=np.float32)
    step = max(1, int(np.ceil(max(image.shape) / SAMPLE_SIDE)))
    sample = image[::step, ::step]
    paper = np.float32(np.median(sample))
    dark = sample < paper - RULE_STEP
    rows = _rules(dark.mean(axis=1), RULE_THICKNESS * sample.shape[0])
    cols = _rules(dark.mean(axis=0), RULE_THICKNESS * sample.shape[1])
    rows, cols = (lines if len(lines) >= MIN_RULES else [] for lines in (rows, cols))
    if not rows and not cols:
        return gray
    cleaned: np.ndarray = image.copy()
    for first, last in rows:
        band = cleaned[max(0, (first - 1) * step) : (last + 1) * step]
        band[band > _line_tone(sample[first:last]) - RULE_STEP] = paper
    for first, last in cols:
        band = cleaned[:, max(0, (first - 1) * step) : (last + 1) * step]
        band[band > _line_tone(sample[:, first:last]) - RULE_STEP] = paper
    return cleaned


def _rules(share: np.ndarray, thickness: float) -> list[tuple[int, int]]:
    """(first, last + 1) of each run of lines (rows or columns of the sample) that are mostly dark
    and at most `thickness` lines thick."""
    lined = np.concatenate([[False], share >= RULE_SPAN, [False]])
    starts = np.flatnonzero(lined[1:] & ~lined[:-1])
    ends = np.flatnonzero(~lined[1:] & lined[:-1])
    # Lines a gap of up to RULE_GAP apart are one band (a tilted edge, dark every other line in
    # the noise, is no set of rules).
    if starts.size == 0:
        return []
    first = np.flatnonzero(np.concatenate([[True], starts[1:] - ends[:-1] > RULE_GAP]))
    starts, ends = starts[first], ends[np.append(first[1:] - 1, ends.size - 1)]
    limit = max(2.0, thickness)
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b - a <= limit]


def _line_tone(lines: np.ndarray) -> float:
    """The tone of a rule: the median of its lines' pixels (ink crossing it is a few of them)."""
    return float(np.median(lines))
