"""canonicalize: from real-world pictures (files on disk) and dataset arrays to the 20x20 form."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from digitcli.augment import augment_batch
from digitcli.errors import NoInkError
from digitcli.imaging import load_image
from digitcli.preprocess import canonicalize, canonicalize_batch, fit_and_center
from digitcli.vocabulary import IMAGE_SHAPE, IMAGE_SIDE, Invert


def draw_digit(
    label: int,
    size: tuple[int, int] = (120, 120),
    box: tuple[float, float, float, float] = (0.3, 0.2, 0.7, 0.8),
    width: int = 6,
    ink: int = 0,
    paper: int = 255,
) -> Image.Image:
    """A crude 7, 5 (top bar detached) or 0 drawn inside `box` (fractions of the image)."""
    image = Image.new("L", size, paper)
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = (box[0] * size[0], box[1] * size[1], box[2] * size[0], box[3] * size[1])

    def at(fx: float, fy: float) -> tuple[float, float]:
        return (x0 + fx * (x1 - x0), y0 + fy * (y1 - y0))

    if label == 7:
        draw.line([at(0, 0), at(1, 0), at(0.35, 1)], fill=ink, width=width, joint="curve")
    elif label == 5:
        draw.line([at(0.3, 0), at(1, 0)], fill=ink, width=width)  # the bar, detached
        draw.line([at(0.15, 0.12), at(0.1, 0.45)], fill=ink, width=width)
        points = [
            at(0.5 + 0.45 * math.cos(a), 0.7 + 0.28 * math.sin(a))
            for a in np.linspace(-2.6, 2.6, 30)
        ]
        draw.line([at(0.1, 0.45), *points], fill=ink, width=width, joint="curve")
    else:
        draw.ellipse([at(0, 0), at(1, 1)], outline=ink, width=width)
    return image


def as_gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / 255.0


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two canonical images (1: identical)."""
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def check_canonical(image: np.ndarray) -> None:
    assert image.shape == IMAGE_SHAPE and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() == pytest.approx(1.0)
    rows = np.flatnonzero(image.max(axis=1) > 0)
    cols = np.flatnonzero(image.max(axis=0) > 0)
    # The longer side of the digit's box fills the 20 pixels.
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == IMAGE_SIDE


@pytest.fixture(scope="module")
def reference() -> dict[int, np.ndarray]:
    """Canonical form of each test digit drawn cleanly, black on white."""
    return {label: canonicalize(as_gray(draw_digit(label))) for label in (0, 5, 7)}


def test_canonical_form(reference: dict[int, np.ndarray]) -> None:
    for image in reference.values():
        check_canonical(image)
    seven = reference[7]
    # The 7 is taller than wide, so it spans all rows, and it is centred by its centre of mass
    # across (to within the rounding to whole pixels).
    assert seven[0].any() and seven[-1].any()
    _, cols = np.indices(seven.shape)
    assert abs((cols * seven).sum() / seven.sum() - 9.5) <= 0.5
    # Anti-aliased, not binarised: grey levels between ink and paper survive.
    assert np.count_nonzero((seven > 0.1) & (seven < 0.9)) > 10


def test_polarity_is_detected_both_ways(tmp_path: Path, reference: dict[int, np.ndarray]) -> None:
    draw_digit(7).save(tmp_path / "dark_on_light.png")
    draw_digit(7, ink=255, paper=0).save(tmp_path / "light_on_dark.png")
    dark = canonicalize(load_image(tmp_path / "dark_on_light.png"))
    light = canonicalize(load_image(tmp_path / "light_on_dark.png"))
    np.testing.assert_allclose(dark, light, atol=1e-5)
    assert similarity(dark, reference[7]) > 0.99
    # Grey photos: dark ink on dim paper, light chalk on a grey board.
    dim = draw_digit(7, ink=30, paper=140)
    board = draw_digit(7, ink=200, paper=70)
    assert similarity(canonicalize(as_gray(dim)), reference[7]) > 0.98
    assert similarity(canonicalize(as_gray(board)), reference[7]) > 0.98


def test_invert_yes_and_no_are_obeyed(reference: dict[int, np.ndarray]) -> None:
    dark_on_light = as_gray(draw_digit(7))
    assert similarity(canonicalize(dark_on_light, Invert.yes), reference[7]) > 0.99
    assert similarity(canonicalize(1.0 - dark_on_light, Invert.no), reference[7]) > 0.99
    # Told the wrong polarity, the white paper is the background and the black ink "no ink".
    with pytest.raises(NoInkError):
        canonicalize(dark_on_light, Invert.no)


@pytest.mark.parametrize("level", [0.0, 1.0, 0.5])
def test_blank_images_have_no_ink(level: float) -> None:
    with pytest.raises(NoInkError):
        canonicalize(np.full((50, 40), level, np.float32))
    with pytest.raises(NoInkError):
        canonicalize(np.full((300, 400), level, np.float32))


def test_noisy_blank_photo_has_no_ink() -> None:
    rng = np.random.default_rng(1)
    paper = 0.8 + 0.03 * rng.standard_normal((240, 320)).astype(np.float32)
    with pytest.raises(NoInkError):
        canonicalize(paper)


def test_tiny_and_odd_arrays() -> None:
    with pytest.raises(NoInkError):
        canonicalize(np.zeros((1, 1), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        canonicalize(np.zeros((4, 4, 3), np.float32))
    dot = np.zeros((5, 5), np.float32)
    dot[2, 2] = 1.0
    check_canonical(canonicalize(dot))
    nan = np.full((10, 10), np.nan, np.float32)
    nan[2:8, 4:6] = 1.0
    check_canonical(canonicalize(nan, Invert.no))


def test_shadowed_photo_still_gives_the_digit(
    tmp_path: Path, reference: dict[int, np.ndarray]
) -> None:
    """Uneven light, a soft shadow over half the page, paper grain and JPEG: the same 7."""
    height, width = 480, 640
    page = as_gray(draw_digit(7, size=(width, height), box=(0.4, 0.3, 0.62, 0.75), width=8))
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 0.55 + 0.4 * cols / width  # a gradient across the page
    shadow = (cols + 0.5 * rows > 420).astype(np.float32)
    shadow = np.asarray(
        Image.fromarray(shadow * 255).convert("L").filter(ImageFilter.GaussianBlur(12))
    )
    light = light * (1.0 - 0.45 * shadow / 255.0)
    grain = 0.02 * np.random.default_rng(0).standard_normal((height, width))
    photo = np.clip(page * 0.85 * light + 0.08 + grain, 0, 1)
    Image.fromarray((photo * 255).astype(np.uint8), mode="L").save(
        tmp_path / "photo.jpg", quality=70
    )
    result = canonicalize(load_image(tmp_path / "photo.jpg"))
    check_canonical(result)
    assert similarity(result, reference[7]) > 0.9


def small_seven() -> Image.Image:
    return draw_digit(7, size=(200, 200), box=(0.35, 0.3, 0.6, 0.7))


def test_speck_is_not_the_digit() -> None:
    image = small_seven()
    ImageDraw.Draw(image).ellipse([20, 160, 30, 170], fill=0)  # a dark speck far away
    ImageDraw.Draw(image).ellipse([150, 20, 152, 22], fill=0)  # and a small one
    expected = canonicalize(as_gray(small_seven()))
    assert similarity(canonicalize(as_gray(image)), expected) > 0.99


@pytest.mark.parametrize("lines", ["edge", "rule", "both", "frame"])
def test_border_line_is_ignored(lines: str) -> None:
    image = small_seven()
    draw = ImageDraw.Draw(image)
    if lines in ("edge", "both"):
        draw.rectangle([0, 0, 3, 199], fill=0)  # the edge of a table along the left side
    if lines in ("rule", "both"):
        draw.line([(0, 190), (199, 190)], fill=40, width=2)  # a ruled line across the page
    if lines == "frame":
        draw.rectangle([5, 5, 194, 194], outline=0, width=2)  # a printed box around the digit
    expected = canonicalize(as_gray(small_seven()))
    assert similarity(canonicalize(as_gray(image)), expected) > 0.99


def test_detached_piece_stays_with_the_digit(reference: dict[int, np.ndarray]) -> None:
    five = canonicalize(as_gray(draw_digit(5)))
    check_canonical(five)
    # The bar of the 5 is part of the result: ink in its top rows.
    assert five[:3].sum() > 3.0


def test_thick_canvas_digit_touching_the_edge_is_kept(tmp_path: Path) -> None:
    # A drawing app: very thick strokes, the 7 running off the top, transparent background.
    coverage = draw_digit(
        7, size=(400, 400), box=(0.25, -0.05, 0.8, 0.9), width=50, ink=255, paper=0
    )
    rgba = np.zeros((400, 400, 4), np.uint8)
    rgba[..., 3] = np.asarray(coverage)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "canvas.png")
    on_white = canonicalize(load_image(tmp_path / "canvas.png"))
    check_canonical(on_white)
    # Solid strokes, as in the same drawing made small: nothing hollowed them out.
    small = draw_digit(7, size=(80, 80), box=(0.25, -0.05, 0.8, 0.9), width=10)
    assert similarity(on_white, canonicalize(as_gray(small))) > 0.95
    # The same drawing flattened by hand onto white paper gives the same canonical image.
    paper = 1.0 - np.asarray(coverage, dtype=np.float32) / 255.0
    np.testing.assert_allclose(on_white, canonicalize(paper), atol=0.02)


def test_thin_pen_in_large_photo_is_thickened() -> None:
    image = draw_digit(0, size=(1200, 900), box=(0.45, 0.4, 0.53, 0.58), width=2)
    result = canonicalize(as_gray(image))
    check_canonical(result)
    # About MNIST's stroke width: a ring 2-4 pixels wide, not a faint hairline.
    assert 40 < np.count_nonzero(result > 0.5) < 160


def test_batch_matches_single_images() -> None:
    from sklearn.datasets import load_digits

    digits = load_digits().images[:300].astype(np.float32) / 16.0
    rng = np.random.default_rng(0)
    # Upsampled to 28x28 like a dataset would be, plus a blank, a noisy and a two-piece image.
    stack = np.stack(
        [np.asarray(Image.fromarray(d).resize((28, 28), Image.Resampling.BILINEAR)) for d in digits]
    )
    stack[0] = 0.0
    stack[1] = np.clip(stack[1] + 0.05 * rng.standard_normal((28, 28)), 0, 1)
    stack[2, 2:4, 2:4] = 1.0
    batch = canonicalize_batch(stack)
    assert batch.shape == (len(stack), *IMAGE_SHAPE) and batch.dtype == np.float32
    assert not batch[0].any()
    for image, expected in zip(stack[1:], batch[1:], strict=True):
        np.testing.assert_array_equal(canonicalize(image, Invert.no), expected)
    small = canonicalize_batch(digits[:50])
    for image, expected in zip(digits[:50], small, strict=True):
        np.testing.assert_array_equal(canonicalize(image, Invert.no), expected)


def test_batch_of_large_images_and_auto_polarity() -> None:
    large = np.stack([1.0 - as_gray(draw_digit(7)), np.zeros((120, 120), np.float32)])
    batch = canonicalize_batch(large)
    np.testing.assert_array_equal(batch[0], canonicalize(large[0], Invert.no))
    assert not batch[1].any()
    dark = np.stack([as_gray(draw_digit(0, size=(40, 40)))])
    np.testing.assert_array_equal(canonicalize_batch(dark, Invert.auto)[0], canonicalize(dark[0]))
    assert canonicalize_batch(np.zeros((0, 28, 28), np.float32)).shape == (0, *IMAGE_SHAPE)


def test_fit_and_center_keeps_the_aspect_ratio() -> None:
    bar = np.ones((40, 10), np.float32)
    result = fit_and_center(bar)
    rows = np.flatnonzero(result.max(axis=1) > 0)
    cols = np.flatnonzero(result.max(axis=0) > 0)
    assert len(rows) == IMAGE_SIDE and len(cols) == 5
    assert cols[0] in (7, 8)


def test_augment_batch_is_random_but_faithful() -> None:
    rng = np.random.default_rng(0)
    images = np.stack([canonicalize(as_gray(draw_digit(label))) for label in (0, 5, 7)] * 4)
    same = augment_batch(images, rng, 0.0, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(same, images, atol=1e-6)
    moved = augment_batch(
        images, rng, max_shift=1.5, max_rotation=12, max_scale=0.1, stroke_probability=0.5
    )
    assert moved.shape == images.shape and moved.dtype == np.float32
    assert moved.min() >= 0.0 and moved.max() <= 1.0
    assert not np.allclose(moved, images)
    # Small changes: each image still looks most like its own original.
    for index, image in enumerate(moved):
        scores = [similarity(image, other) for other in images[:3]]
        assert int(np.argmax(scores)) == index % 3
    with pytest.raises(ValueError, match="20, 20"):
        augment_batch(np.zeros((2, 28, 28), np.float32), rng)
