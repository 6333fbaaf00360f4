"""Property: any image file, whatever its size, mode and contents, either reads as a canonical 20x20
image or fails with a DigitcliError (which the CLI reports as one line), never anything else."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from digitcli.errors import NO_DIGIT_PREFIXES, DigitcliError
from digitcli.imaging import load_image
from digitcli.preprocess import canonicalize
from digitcli.vocabulary import IMAGE_SHAPE, Invert

MODES = ("L", "RGB", "RGBA", "P", "I;16")
CONTENTS = ("noise", "flat", "strokes", "gradient", "sparse")


def render(kind: str, height: int, width: int, seed: int) -> np.ndarray:
    """8-bit-range float pixels (height, width) of one kind of content."""
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return rng.uniform(0, 255, (height, width))
    if kind == "flat":
        return np.full((height, width), float(rng.integers(0, 256)))
    if kind == "gradient":
        return np.add.outer(np.linspace(0, rng.uniform(0, 255), height), np.linspace(0, 60, width))
    if kind == "sparse":
        pixels = np.full((height, width), 255.0)
        pixels[rng.random((height, width)) < 0.01] = 0.0
        return pixels
    image = Image.new("L", (width, height), int(rng.integers(0, 256)))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 6))):
        points = [(float(rng.uniform(0, width)), float(rng.uniform(0, height))) for _ in range(3)]
        draw.line(points, fill=int(rng.integers(0, 256)), width=int(rng.integers(1, 8)))
    return np.asarray(image, dtype=np.float64)


def save(pixels: np.ndarray, mode: str, path: Path, seed: int) -> None:
    grey = np.clip(pixels, 0, 255).astype(np.uint8)
    if mode == "L":
        image = Image.fromarray(grey, mode="L")
    elif mode == "RGB":
        image = Image.fromarray(
            np.stack([grey, np.roll(grey, 1, axis=1), grey], axis=2), mode="RGB"
        )
    elif mode == "RGBA":
        alpha = np.random.default_rng(seed).choice([0, 128, 255], size=grey.shape).astype(np.uint8)
        image = Image.fromarray(np.stack([grey, grey, grey, alpha], axis=2), mode="RGBA")
    elif mode == "P":
        image = Image.fromarray(grey, mode="L").convert("P")
        if seed % 2:
            image.info["transparency"] = 0
    else:
        image = Image.fromarray((np.clip(pixels, 0, 255) * 257).astype(np.uint16))
    if "transparency" in image.info:
        image.save(path, transparency=image.info["transparency"])
    else:
        image.save(path)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(1, 200),
    width=st.integers(1, 200),
    mode=st.sampled_from(MODES),
    kind=st.sampled_from(CONTENTS),
    invert=st.sampled_from(list(Invert)),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_image_file_canonicalizes_or_fails_cleanly(
    height: int, width: int, mode: str, kind: str, invert: Invert, seed: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "image.png"
        save(render(kind, height, width, seed), mode, path, seed)
        try:
            result = canonicalize(load_image(path), invert)
        except DigitcliError as exc:
            # Read errors name the file; a picture without a digit says so ("no ink found: ...",
            # or "no digit found: ..." for noise).
            assert str(path) in exc.message or exc.message.startswith(NO_DIGIT_PREFIXES)
            assert "\n" not in exc.message
            return
    assert result.shape == IMAGE_SHAPE
    assert result.dtype == np.float32
    assert np.isfinite(result).all()
    assert result.min() >= 0.0 and result.max() <= 1.0


@settings(max_examples=200, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 48), st.integers(1, 48)),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_numpy_labelling_matches_scipy(shape: tuple[int, int], density: float, seed: int) -> None:
    """The scipy-free labelling used for a lone small image numbers components exactly as scipy."""
    from scipy import ndimage

    from digitcli.preprocess.components import EIGHT, label_small

    mask = np.random.default_rng(seed).random(shape) < density
    labels, count = label_small(mask)
    expected, expected_count = ndimage.label(mask, structure=EIGHT)
    assert count == expected_count
    np.testing.assert_array_equal(labels, expected)


@settings(max_examples=100, deadline=None)
@given(
    shape=st.tuples(st.integers(65, 160), st.integers(65, 160)),
    box=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
    density=st.floats(0.0, 0.8),
    seed=st.integers(0, 2**32 - 1),
)
def test_labelling_a_large_mask_by_its_box_matches_scipy(
    shape: tuple[int, int], box: tuple[float, float, float, float], density: float, seed: int
) -> None:
    """`label` on large masks labels only their bounding box: numbers and count stay scipy's."""
    from scipy import ndimage

    from digitcli.preprocess.components import EIGHT, label

    height, width = shape
    top, bottom = sorted(round(x * height) for x in box[:2])
    left, right = sorted(round(x * width) for x in box[2:])
    mask = np.zeros(shape, dtype=bool)
    mask[top:bottom, left:right] = (
        np.random.default_rng(seed).random((bottom - top, right - left)) < density
    )
    labels, count = label(mask)
    expected, expected_count = ndimage.label(mask, structure=EIGHT)
    assert count == expected_count
    assert labels.dtype == expected.dtype
    np.testing.assert_array_equal(labels, expected)
