"""Turn any greyscale picture of a digit into the canonical 20x20 form the model reads.

Canonical form: float32, shape (20, 20), values in [0, 1], white (1) digit on black (0), the digit's
bounding box scaled so its longer side is 20 pixels (aspect ratio kept) and then shifted so its
centre of mass is as close to the centre as the box allows. Every data source and `predict` use
`canonicalize`, so the model sees the same kind of image in training and in use.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
from PIL import Image
from scipy import ndimage

from digitcli.errors import NoInkError

SIDE = 20


class Invert(str, Enum):
    auto = "auto"  # guess: the background is the majority tone along the border
    yes = "yes"  # dark ink on light paper: flip it
    no = "no"  # already light strokes on dark


def canonicalize(gray: np.ndarray, invert: Invert = Invert.auto) -> np.ndarray:
    """Canonical 20x20 image of the digit in `gray` (2-D, values in [0, 1]).

    Raises NoInkError when the image holds no ink.
    """
    image = np.asarray(gray, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D greyscale image, got shape {image.shape}")
    raise NotImplementedError


def canonicalize_batch(images: np.ndarray, invert: Invert = Invert.no) -> np.ndarray:
    """Canonicalize an (N, H, W) stack of images in [0, 1]; blank images become all-zero."""
    out = np.zeros((len(images), SIDE, SIDE), dtype=np.float32)
    for index, image in enumerate(images):
        try:
            out[index] = canonicalize(image, invert)
        except NoInkError:
            pass
    return out
