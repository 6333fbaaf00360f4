"""The course lab's image format: N x 400 rows, each a 20x20 image stored column by column.

Both the npy data source (`data`) and `predict` on an N x 400 array read it through here.
"""

from __future__ import annotations

import numpy as np

from digitcli.errors import DataError
from digitcli.vocabulary import IMAGE_SHAPE, INPUT_SIZE, PixelOrder


def lab_rows_to_images(rows: np.ndarray, pixel_order: PixelOrder, where: str) -> np.ndarray:
    """The lab's N x 400 rows -> N x 20 x 20 upright images."""
    if rows.ndim != 2 or rows.shape[1] != INPUT_SIZE:
        raise DataError(
            f"{where}: expected N rows of {INPUT_SIZE} pixels (20x20), got shape {rows.shape}"
        )
    images = rows.reshape(-1, *IMAGE_SHAPE)
    # Column-major rows (MATLAB/Octave order) stand upright only after a transpose.
    return images.transpose(0, 2, 1) if pixel_order is PixelOrder.column_major else images
