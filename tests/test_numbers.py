"""Where the digits are: numbers read left to right, broken digits kept whole, a sheet of paper on
a desk, and specks that are no digit. Pictures are made here from digits the fixture model reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from digitcli.predict import InputItem, PredictionRecord, predict_inputs
from digitcli.runs import ModelFiles, resolve_model

# The strokes of each digit, drawn at this height (pixels) on the test's pictures.
HEIGHT = 60


@pytest.fixture(scope="module")
def model_files(trained_run: Path) -> ModelFiles:
    return resolve_model(trained_run)


@pytest.fixture(scope="module")
def strokes(trained_run: Path) -> dict[int, np.ndarray]:
    """label -> HEIGHT-pixel ink map (1 = ink) of the test image the fixture model reads best."""
    from digitcli.config import load_config
    from digitcli.data import load_dataset
    from digitcli.inference import NumpyModel

    config = load_config(trained_run / "config.yaml")
    test = load_dataset(config.data, config.seed).test
    probabilities = NumpyModel.load(trained_run / "weights.npz").probabilities(test.x)
    chosen: dict[int, np.ndarray] = {}
    for index in np.argsort(-probabilities.max(axis=1), kind="stable"):
        label = int(test.y[index])
        if label not in chosen and int(probabilities[index].argmax()) == label:
            image = Image.fromarray(test.x[index].reshape(20, 20).astype(np.float32), mode="F")
            big = image.resize((HEIGHT, HEIGHT), Image.Resampling.BILINEAR)
            chosen[label] = np.clip(np.asarray(big, dtype=np.float32), 0, 1)
    return chosen


def _write(tmp_path: Path, name: str, gray: np.ndarray) -> InputItem:
    path = tmp_path / name
    Image.fromarray(np.round(np.clip(gray, 0, 1) * 255).astype(np.uint8)).save(path)
    return InputItem(path, name)


def _predict(items: list[InputItem], model_files: ModelFiles) -> list[PredictionRecord]:
    return list(predict_inputs(items, model_files))


def number_picture(
    strokes: dict[int, np.ndarray], number: str, gap: int = 6, jitter: tuple[int, ...] = ()
) -> tuple[np.ndarray, list[int]]:
    """Dark ink on white: the digits of `number` side by side (the 20x20 digits' own margins and
    `gap` apart, baselines shifted by `jitter`), and where each digit's cell starts."""
    cells = [strokes[int(character)] for character in number]
    width = sum(cell.shape[1] for cell in cells) + gap * (len(cells) - 1) + 40
    ink = np.zeros((HEIGHT + 40, width), dtype=np.float32)
    starts = []
    left = 20
    for index, cell in enumerate(cells):
        top = 20 + (jitter[index] if index < len(jitter) else 0)
        ink[top : top + HEIGHT, left : left + cell.shape[1]] = np.maximum(
            ink[top : top + HEIGHT, left : left + cell.shape[1]], cell
        )
        starts.append(left)
        left += cell.shape[1] + gap
    return 1.0 - ink, starts


@pytest.mark.parametrize("number", ["42", "2024"])
def test_a_number_is_read_left_to_right(
    number: str, strokes: dict[int, np.ndarray], model_files: ModelFiles, tmp_path: Path
) -> None:
    if not set(map(int, number)) <= set(strokes):
        pytest.fail(f"the fixture model reads none of {set(map(int, number)) - set(strokes)}")
    gray, starts = number_picture(strokes, number, jitter=(0, 3, -2, 1))
    (record,) = _predict([_write(tmp_path, "n.png", gray)], model_files)
    assert record.ok and record.number == number
    # Several digits: the answer is the number, not one of its digits.
    assert record.digit is None and record.probabilities is None
    assert record.confidence == pytest.approx(np.prod([d.confidence for d in record.digits]))
    # Each box is in the picture's pixels, inside its own cell.
    for reading, start in zip(record.digits, starts, strict=True):
        x0, y0, x1, y1 = reading.box
        assert start - 2 <= x0 < x1 <= start + HEIGHT + 2 and 18 <= y0 < y1 <= HEIGHT + 25


def test_asked_for_one_digit_a_number_says_so(
    strokes: dict[int, np.ndarray], trained_run: Path, tmp_path: Path, runner: CliRunner
) -> None:
    from digitcli.cli import app

    gray, _ = number_picture(strokes, "42")
    _write(tmp_path, "n.png", gray)
    args = ["predict", "n.png", "--model", str(trained_run), "--format", "jsonl"]
    plain = json.loads(runner.invoke(app, args).stdout)
    single = json.loads(runner.invoke(app, [*args, "--single"]).stdout)
    assert plain["number"] == single["number"] == "42" and plain["digit"] is None
    # --single: one digit (the largest), unsure, and the reason names the number it is part of.
    assert single["digit"] in (4, 2) and single["status"] == "unsure"
    assert "2 digits (42)" in single["reason"]


def test_a_second_line_of_digits_is_not_dropped_silently(
    strokes: dict[int, np.ndarray], model_files: ModelFiles, tmp_path: Path
) -> None:
    # "12" above "34": one line is read, and the answer says the other was not (it was "34", ok).
    top, _ = number_picture(strokes, "12")
    bottom, _ = number_picture(strokes, "34")
    width = max(top.shape[1], bottom.shape[1])
    lines = [
        np.pad(line, ((0, 0), (0, width - line.shape[1])), constant_values=1.0)
        for line in (top, bottom)
    ]
    (record,) = _predict([_write(tmp_path, "two-lines.png", np.vstack(lines))], model_files)
    assert record.number in ("12", "34") and record.status == "unsure"
    assert (
        record.reason
        == "2 more digit-like marks in the picture not read (another line of writing?)"
    )
    # One line alone is answered as before.
    (alone,) = _predict([_write(tmp_path, "one-line.png", top)], model_files)
    assert alone.reason is None or "not read" not in alone.reason


def test_a_digit_in_pieces_stays_one_digit(model_files: ModelFiles, tmp_path: Path) -> None:
    # A 5 whose bar was written apart from its body, and a 4 written in two strokes.
    five = Image.new("L", (120, 120), 255)
    draw = ImageDraw.Draw(five)
    draw.line([(52, 20), (88, 20)], fill=0, width=6)  # the bar, 8 pixels clear of the body
    draw.line([(42, 22), (40, 56)], fill=0, width=6)
    draw.arc([(34, 46), (86, 100)], start=200, end=140, fill=0, width=6)
    four = Image.new("L", (120, 120), 255)
    draw = ImageDraw.Draw(four)
    draw.line([(50, 16), (34, 70), (86, 70)], fill=0, width=6)
    draw.line([(72, 40), (72, 104)], fill=0, width=6)  # crosses the bar: the second stroke
    five.save(tmp_path / "5.png")
    four.save(tmp_path / "4.png")
    items = [InputItem(tmp_path / "5.png", "5.png"), InputItem(tmp_path / "4.png", "4.png")]
    for record in _predict(items, model_files):
        assert record.ok and len(record.digits) == 1 and record.digit is not None, record


def _page_on_desk(
    stroke: np.ndarray, desk: float, page: float, size: tuple[int, int] = (360, 480)
) -> np.ndarray:
    """A tilted sheet of `page` tone on a `desk` of another tone, a digit written on it."""
    height, width = size
    picture = Image.new("F", (width, height), desk)
    sheet = Image.new("F", (200, 240), page)
    ink = Image.fromarray((page * (1.0 - stroke)).astype(np.float32), mode="F")
    mask = Image.fromarray((stroke > 0.05).astype(np.uint8) * 255)
    sheet.paste(ink, (70, 90), mask)
    tilted_mask = Image.new("L", sheet.size, 255).rotate(8, expand=True)
    tilted = sheet.rotate(8, expand=True, fillcolor=desk)
    picture.paste(tilted, (110, 40), tilted_mask)
    return np.asarray(picture, dtype=np.float32)


@pytest.mark.parametrize(("desk", "page"), [(0.2, 0.9), (0.97, 0.62)], ids=["dark", "light"])
def test_a_sheet_of_paper_on_a_desk_is_read_on_the_page(
    desk: float,
    page: float,
    strokes: dict[int, np.ndarray],
    model_files: ModelFiles,
    tmp_path: Path,
) -> None:
    label = 7 if 7 in strokes else min(strokes)
    gray = _page_on_desk(strokes[label], desk, page)
    (record,) = _predict([_write(tmp_path, "desk.png", gray)], model_files)
    assert record.ok and record.number == str(label), record
    # The box is the digit's on the sheet, not the sheet's.
    x0, y0, x1, y1 = record.digits[0].box
    assert x1 - x0 <= HEIGHT + 10 and y1 - y0 <= HEIGHT + 10


def test_a_bold_blurred_digit_is_not_taken_for_a_page(strokes: dict[int, np.ndarray]) -> None:
    from digitcli.preprocess import read_digits

    # Dark at the core of its strokes, lighter at their edges: not a sheet with ink on it.
    for label, stroke in strokes.items():
        picture = Image.fromarray(np.round((1 - np.pad(stroke, 20)) * 255).astype(np.uint8))
        big = picture.resize((280, 280), Image.Resampling.BILINEAR)
        (digit,) = read_digits(np.asarray(big, dtype=np.float32) / 255)
        x0, y0, x1, y1 = digit.box
        assert (x1 - x0) * (y1 - y0) > 0.15 * 280 * 280, label  # the whole digit, not a piece


@pytest.mark.parametrize("diameter", [4, 10])
def test_a_speck_or_a_dot_on_a_page_is_no_digit(
    diameter: int, model_files: ModelFiles, tmp_path: Path
) -> None:
    page = Image.new("L", (2000, 1500), 255)
    ImageDraw.Draw(page).ellipse([(900, 700), (900 + diameter - 1, 700 + diameter - 1)], fill=0)
    page.save(tmp_path / "speck.png")
    (record,) = _predict([InputItem(tmp_path / "speck.png", "speck.png")], model_files)
    assert record.digit is None and record.number is None
    assert record.status == "no_digit" and record.reason == record.error
    assert record.error is not None and record.error.startswith("no digit found"), record


def _rings(boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    picture = Image.new("L", (160, 100), 255)
    for box in boxes:
        ImageDraw.Draw(picture).ellipse(box, outline=0, width=5)
    return np.asarray(picture, dtype=np.float32) / 255


def test_touching_digits_are_also_read_cut_where_they_touch() -> None:
    from digitcli.preprocess import read_digits

    # Two 0s touching at their sides, beside a third: the pair is one region, also offered cut in
    # two where they touch (predict keeps the reading the network is surer of).
    touching, alone = read_digits(_rings([(4, 20, 38, 80), (36, 20, 70, 80), (90, 20, 124, 80)]))
    assert len(touching.parts) == 2 and alone.parts == ()
    left, right = touching.parts
    assert left.box[0] < 8 and 32 <= left.box[2] <= 42 and 32 <= right.box[0] <= 42
    # One wide 0 beside another: every column in its middle crosses two strokes, never cut.
    wide, _ = read_digits(_rings([(4, 20, 74, 80), (90, 20, 124, 80)]))
    assert wide.parts == ()


@pytest.mark.parametrize(("shape", "brush"), [("8", 36), ("8", 42), ("6", 42)])
def test_a_bold_light_digit_on_a_dark_canvas_is_not_taken_for_a_page(
    shape: str, brush: int
) -> None:
    from digitcli.preprocess import read_digits
    from digitcli.preprocess.page import find_page

    # A thick white brush on a black canvas: the white digit is a light blob on a dark surface
    # and the small holes of its loops are darker than it, like ink on a sheet. Read as a page,
    # a hole was read as the digit (a piece of it, or no digit at all).
    picture = Image.new("L", (280, 280), 0)
    draw = ImageDraw.Draw(picture)
    if shape == "8":
        draw.ellipse([(105, 45), (175, 125)], outline=255, width=brush)
        draw.ellipse([(95, 118), (185, 228)], outline=255, width=brush)
    else:
        draw.ellipse([(90, 130), (190, 230)], outline=255, width=brush)
        draw.arc([(90, 40), (250, 230)], start=180, end=270, fill=255, width=brush)
    gray = np.asarray(picture, dtype=np.float32) / 255
    assert find_page(gray) is None
    (digit,) = read_digits(gray)
    x0, y0, x1, y1 = digit.box
    assert (x1 - x0) * (y1 - y0) > 0.15 * 280 * 280  # the whole digit, not a hole


@pytest.mark.parametrize("drop", [4, 8, 12])
def test_a_flat_stroke_is_not_cut_into_many_digits(drop: int) -> None:
    from digitcli.preprocess import read_digits

    # A 4's cross-bar drawn with a 1-px mouse line, its other strokes broken off far from it (a
    # canvas that draws a dot per mouse event): the bar is the heaviest ink and far wider than
    # tall, but it is no row of touching digits; it was cut into 8-21 one-pixel-high "digits".
    picture = Image.new("L", (200, 200), 255)
    draw = ImageDraw.Draw(picture)
    draw.line([(60, 100), (62, 100 + drop)], fill=0, width=1)
    draw.line([(62, 100 + drop), (134, 98 + drop)], fill=0, width=1)
    draw.line([(62, 30), (60, 70)], fill=0, width=1)  # the stroke above, apart
    assert len(read_digits(np.asarray(picture, dtype=np.float32) / 255)) == 1


def test_a_one_touching_a_digit_off_its_middle_is_also_read_cut() -> None:
    from digitcli.preprocess import read_digits

    # A 0 with a 1 touching its right side, beside another 0: the joint is far off the pair's
    # middle, where the first search for a cut looks; the second looks almost anywhere.
    picture = Image.new("L", (160, 100), 255)
    draw = ImageDraw.Draw(picture)
    draw.ellipse((4, 20, 38, 80), outline=0, width=5)
    draw.line((40, 20, 40, 80), fill=0, width=5)
    draw.ellipse((90, 20, 124, 80), outline=0, width=5)
    pair, alone = read_digits(np.asarray(picture, dtype=np.float32) / 255)
    zero, one = pair.parts
    assert 34 <= zero.box[2] <= 40 and one.box[0] == zero.box[2] and one.box[2] <= 44
    assert alone.parts == ()


def test_a_bar_a_stroke_tall_is_not_cut_into_ones() -> None:
    from digitcli.preprocess import read_digits

    # A face with dots for eyes and a flat mouth in a ring (taken for a frame): the mouth, a bar
    # one stroke tall and ten wide, was cut into four pieces read "1111" at 99%.
    picture = Image.new("L", (100, 100), 255)
    draw = ImageDraw.Draw(picture)
    draw.ellipse((10, 10, 90, 90), outline=0, width=4)
    draw.ellipse((32, 32, 40, 40), fill=0)
    draw.ellipse((60, 32, 68, 40), fill=0)
    draw.line((30, 66, 70, 66), fill=0, width=4)
    (mouth,) = read_digits(np.asarray(picture, dtype=np.float32) / 255)
    assert mouth.box[2] - mouth.box[0] > 35 and mouth.parts == ()
