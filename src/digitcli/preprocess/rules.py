"""Ruled and squared paper: its printed lines found and painted in the paper's tone.

The lines of a notebook page cross the digit and each other: read as ink, they join the digit's
strokes into one lattice, and their edges and mid-tones pass for a photo's texture. They are rows
(or columns) that are mostly a thin line a little darker than the paper, several of them parallel;
the ink that crosses them is darker still and is kept.
"""

from __future__ import annotations

import numpy as np

# A rule is at least RULE_STEP darker than the paper RULE_BESIDE lines away on both sides (the light
# may fall off across the page) along at least RULE_SPAN of its length, and at most RULE_THICKNESS
# of the picture thick (a dark area, such as the shadowed half of a photo, is thicker). Meant for
# pictures of at most preprocess's WORK_MAX pixels, where a notebook's lines are 1-3 pixels wide and
# 10 or more apart.
RULE_STEP = 0.05
RULE_SPAN = 0.6
RULE_THICKNESS = 0.02
RULE_BESIDE = 3
# Lines a gap of up to RULE_GAP apart are one band (a tilted edge, dark every other line in the
# noise, is no set of rules).
RULE_GAP = 3
# Paper is ruled when MIN_RULES or more run one way: one line may be a digit's own bar (a 7's, in
# a tight crop), two a digit between two rules.
MIN_RULES = 3
# Each row (column) is read at about this many pixels along it; the paper's tone (the median) at
# about PAPER_SIDE x PAPER_SIDE pixels.
SAMPLE_SIDE = 256
PAPER_SIDE = 64


def without_rules(gray: np.ndarray) -> np.ndarray:
    """`gray` with the thin lines of ruled or squared paper painted in the paper's tone beside them
    (the ink crossing them, darker than the lines, is kept; float32); `gray` itself when it has
    none."""
    image = np.asarray(gray, dtype=np.float32)
    height, width = image.shape
    # Every row is looked at (a 1-px line must not fall between samples), along every n-th column;
    # and every column along every n-th row.
    along_rows = image[:, :: max(1, -(-width // SAMPLE_SIDE))]
    along_cols = image[:: max(1, -(-height // SAMPLE_SIDE)), :].T
    coarse = max(1, -(-max(height, width) // PAPER_SIDE))
    paper = float(np.median(image[::coarse, ::coarse]))
    rows = _rules(_on_a_line(along_rows, paper), RULE_THICKNESS * height)
    cols = _rules(_on_a_line(along_cols, paper), RULE_THICKNESS * width)
    rows, cols = (lines if len(lines) >= MIN_RULES else [] for lines in (rows, cols))
    if not rows and not cols:
        return gray
    cleaned: np.ndarray = image.copy()
    for first, last in rows:
        _paint(cleaned, first, last, _line_tone(along_rows[first:last]))
    for first, last in cols:
        _paint(cleaned.T, first, last, _line_tone(along_cols[first:last]))
    return cleaned


def _on_a_line(lines: np.ndarray, paper: float) -> np.ndarray:
    """For each line (row) of `lines`, the share of its pixels that may lie on a thin line across
    the paper: darker by RULE_STEP than both lines RULE_BESIDE away (not the edge of a shadow), or
    under ink (it and a line beside darker than the `paper` tone: a digit's stroke over the line)."""
    padded = np.pad(lines, ((RULE_BESIDE, RULE_BESIDE), (0, 0)), mode="edge")
    beside = np.minimum(padded[: -2 * RULE_BESIDE], padded[2 * RULE_BESIDE :])
    step = np.float32(RULE_STEP)
    dark = np.float32(paper) - step
    on_line = (lines < beside - step) | ((lines < dark) & (beside < dark))
    share: np.ndarray = on_line.mean(axis=1)
    return share


def _paint(image: np.ndarray, first: int, last: int, tone: float) -> None:
    """Paint rows first - 1 to last of `image` (in place), where lighter than the line's `tone` less
    RULE_STEP, in the paper's tone beside them (the lighter of the rows just outside: the light
    may fall off across the page)."""
    top, bottom = max(0, first - 1), min(image.shape[0], last + 1)
    above, below = image[max(0, top - 1)], image[min(image.shape[0] - 1, bottom)]
    paper = np.maximum(above, below)  # where ink touches the line on one side, the other
    band = image[top:bottom]
    lighter = band > np.float32(tone - RULE_STEP)
    band[lighter] = np.broadcast_to(paper, band.shape)[lighter]


def _rules(share: np.ndarray, thickness: float) -> list[tuple[int, int]]:
    """(first, last + 1) of each run of lines (rows or columns) that are mostly dark
    and at most `thickness` lines thick."""
    lined = np.concatenate([[False], share >= RULE_SPAN, [False]])
    starts = np.flatnonzero(lined[1:] & ~lined[:-1])
    ends = np.flatnonzero(~lined[1:] & lined[:-1])
    if starts.size == 0:
        return []
    first = np.flatnonzero(np.concatenate([[True], starts[1:] - ends[:-1] > RULE_GAP]))
    starts, ends = starts[first], ends[np.append(first[1:] - 1, ends.size - 1)]
    limit = max(2.0, thickness)
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b - a <= limit]


def _line_tone(lines: np.ndarray) -> float:
    """The tone of a rule: the median of its lines' pixels (ink crossing it is a few of them)."""
    return float(np.median(lines))
