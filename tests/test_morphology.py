"""Property: the preprocessing's hand-written morphology is exactly scipy.ndimage's, borders included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from digitcli.preprocess.morphology import dilate_mask, morph_octagon, morph_step

SQUARE = np.ones((3, 3), dtype=bool)
CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)

# Images from 1x1 (all border) up; a leading axis of 1-3 makes a stack, as the batch path uses.
shapes = st.one_of(
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=9),
)
pixels = st.floats(-2.0, 2.0, width=32, allow_nan=False)
images = shapes.flatmap(lambda shape: hnp.arrays(np.float32, shape, elements=pixels))


def scipy_step(image: np.ndarray, dilate: bool, square: bool, cval: float | None) -> np.ndarray:
    """The scipy.ndimage operation morph_step mirrors; a stack keeps its images apart."""
    from scipy import ndimage

    footprint = (SQUARE if square else CROSS).reshape((1,) * (image.ndim - 2) + (3, 3))
    operation = ndimage.grey_dilation if dilate else ndimage.grey_erosion
    if cval is None:
        result: np.ndarray = operation(image, footprint=footprint, mode="nearest")
        return result
    result = operation(image, footprint=footprint, mode="constant", cval=cval)
    return result


@settings(max_examples=300, deadline=None)
@given(
    image=images,
    dilate=st.booleans(),
    square=st.booleans(),
    cval=st.one_of(st.none(), st.sampled_from([0.0, 1.0, -3.0])),
)
def test_step_matches_scipy_grey_morphology(
    image: np.ndarray, dilate: bool, square: bool, cval: float | None
) -> None:
    result = morph_step(image, np.maximum if dilate else np.minimum, square=square, cval=cval)
    assert result.dtype == image.dtype
    np.testing.assert_array_equal(result, scipy_step(image, dilate, square, cval))


@settings(max_examples=200, deadline=None)
@given(image=images, radius=st.integers(0, 5), dilate=st.booleans())
def test_octagon_is_alternating_crosses_and_squares(
    image: np.ndarray, radius: int, dilate: bool
) -> None:
    expected = image
    for step in range(radius):
        expected = scipy_step(expected, dilate, square=step % 2 == 1, cval=None)
    result = morph_octagon(image, radius, np.maximum if dilate else np.minimum)
    np.testing.assert_array_equal(result, expected)


@settings(max_examples=200, deadline=None)
@given(shapes.flatmap(lambda shape: hnp.arrays(np.bool_, shape)))
def test_mask_dilation_matches_scipy_binary_dilation(mask: np.ndarray) -> None:
    from scipy import ndimage

    structure = SQUARE.reshape((1,) * (mask.ndim - 2) + (3, 3))
    np.testing.assert_array_equal(
        dilate_mask(mask), ndimage.binary_dilation(mask, structure=structure)
    )


def test_octagon_grows_a_dot_into_an_octagon() -> None:
    """Radius 2 (a cross, then a square) turns one pixel into a 5x5 square less its corners."""
    image = np.zeros((7, 7), dtype=np.float32)
    image[3, 3] = 1.0
    grown = morph_octagon(image, 2, np.maximum)
    expected = np.zeros((7, 7), dtype=np.float32)
    expected[1:6, 1:6] = 1.0
    expected[[1, 1, 5, 5], [1, 5, 1, 5]] = 0.0
    np.testing.assert_array_equal(grown, expected)
