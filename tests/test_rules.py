"""Ruled and squared paper (preprocess/rules.py): the printed lines go, the digit stays."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from digitcli.preprocess import read_digits
from digitcli.preprocess.rules import without_rules


def notebook(grid: bool, tone: float = 0.7, spacing: int = 20) -> np.ndarray:
    """A 400x400 page of 2-px lines every `spacing` px (both ways when `grid`), with a thick 7."""
    page = np.full((400, 400), 0.96, dtype=np.float32)
    for start in range(5, 400, spacing):
        page[start : start + 2, :] = tone
        if grid:
            page[:, start : start + 2] = tone
    seven = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(seven).line([(120, 110), (280, 110), (170, 300)], fill=255, width=14)
    ink = np.asarray(seven, dtype=np.float32) / 255
    return page * (1 - 0.85 * ink)


def test_the_lines_of_squared_and_ruled_paper_are_painted_over_and_the_ink_kept() -> None:
    for grid in (True, False):
        picture = notebook(grid)
        cleaned = without_rules(picture)
        ink = picture < 0.5
        assert np.array_equal(cleaned[ink], picture[ink])
        assert np.all(cleaned[~ink] == np.float32(0.96))


def test_a_digit_on_squared_paper_is_read_alone() -> None:
    # Read as ink, the grid joined the 7's strokes into one lattice the size of the page.
    (seven,) = read_digits(notebook(grid=True))
    x0, y0, x1, y1 = seven.box
    assert 105 <= x0 <= 125 and 95 <= y0 <= 115 and 275 <= x1 <= 300 and 290 <= y1 <= 315


def test_one_or_two_lines_are_not_ruled_paper() -> None:
    # A tight crop of a 7 whose bar spans the picture, and a digit underlined: left alone.
    crop = np.full((100, 100), 0.95, dtype=np.float32)
    crop[10:13, 5:95] = 0.1
    crop[13:95, 80:83] = 0.1
    assert without_rules(crop) is crop
    picture = notebook(grid=False, spacing=200)  # two rules
    assert without_rules(picture) is picture


def test_a_small_digit_on_squared_paper_in_uneven_light_is_read() -> None:
    from digitcli.nondigit import scene_reason

    # Light falling off by 15% across the page, lines every 25 px: painted in one paper tone,
    # the lines were left as light and dark stripes, and the page passed for a scene.
    page = np.full((300, 400), 0.96, dtype=np.float32)
    page[7::25, :] = 0.75
    page[:, 7::25] = 0.75
    page[130:180, 300:306] = 0.1  # a small 1, 50 px tall
    photo = (page * np.linspace(0.85, 1.0, 400, dtype=np.float32)).astype(np.float32)
    assert scene_reason(photo) is None
    (one,) = read_digits(photo)
    x0, y0, x1, y1 = one.box
    assert x0 >= 295 and x1 <= 311 and y0 >= 125 and y1 <= 185
