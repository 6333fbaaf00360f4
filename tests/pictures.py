"""Small picture helpers shared by the predict tests."""

from __future__ import annotations

import numpy as np


def paper(image: np.ndarray) -> np.ndarray:
    """A canonical 20x20 light-on-dark image as a 28x28 uint8 picture of dark ink on white paper."""
    return np.round((1.0 - np.pad(image, 4)) * 255).astype(np.uint8)
