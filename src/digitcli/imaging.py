"""Read an image file of any common format into a greyscale float array for `preprocess`.

`load_image` returns a 2-D float32 array in [0, 1] with 0 = black, upright (EXIF orientation
applied) and with any transparency flattened onto white, so a drawing exported from a canvas with a
transparent background reads as ink on white paper. Every failure is one `ImageError` line that
names the file.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from digitcli.errors import ImageError, ImageTooLargeError
from digitcli.vocabulary import MAX_IMAGE_PIXELS

# Formats digitcli promises to read (Pillow's JPEG reader also takes the MPO files some phones
# write). Restricting Pillow to them skips probing exotic plugins, some of which run external
# programs (EPS).
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
# File name endings of those formats: what a folder contributes (folder data source, predict DIR).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MAX_PIXELS = MAX_IMAGE_PIXELS
# Smaller than this on either side holds no readable digit (the sklearn digits are 8x8).
MIN_SIDE = 4

_EXIF_ORIENTATION = 0x0112
_TRANSPARENT_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


def load_image(path: Path) -> np.ndarray:
    """Greyscale float32 array in [0, 1] (0 = black) of the first frame of the image at `path`."""
    try:
        # One stat call answers "missing?", "a folder?" and "empty?" (this runs once per file).
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{path}: is a directory, not an image file")
    if info.st_size == 0:
        raise ImageError(f"{path}: the file is empty (0 bytes)")
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below, after Pillow is done with it)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    with handle:
        return _read(handle, str(path), MAX_PIXELS)


def decode_image(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """`load_image` for an image held in memory (an upload): the same array and the same errors,
    named `name`; more than `max_pixels` pixels raises ImageTooLargeError before decoding."""
    if not data:
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    return _read(io.BytesIO(data), name, max_pixels)


def _read(handle: BinaryIO, name: str, max_pixels: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; treat it as the error it is.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle, formats=FORMATS) as image:
                return _decode(image, name, max_pixels)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(
            f"{name}: image is too large to open safely (a decompression bomb?)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"{name}: not an image digitcli can read (supported: PNG, JPEG, BMP, GIF, TIFF, WebP)"
        ) from exc
    except MemoryError as exc:
        raise ImageError(f"{name}: not enough memory to decode the image") from exc
    except Exception as exc:
        # Corrupt files make Pillow's decoders raise OSError, SyntaxError, ValueError, struct.error,
        # zlib.error, EOFError, ...: whatever the type, the file is unreadable, so report it as such.
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageError(
            f"{name}: cannot decode the image (truncated or corrupt?): {detail}"
        ) from exc


def _decode(image: Image.Image, name: str, max_pixels: int) -> np.ndarray:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name}: image is {width}x{height} pixels, more than the "
            f"{_megapixels(max_pixels)} megapixel limit (a decompression bomb?)"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{name}: image is {width}x{height} pixels, too small to hold a digit "
            f"(need at least {MIN_SIDE}x{MIN_SIDE})"
        )
    image = _upright(image)
    if image.mode == "F":
        floats = np.asarray(image, dtype=np.float32)
        # Only float images can hold NaN or infinity; integer pixels are always finite.
        if not np.isfinite(floats).all():
            raise ImageError(f"{name}: image holds NaN or infinite pixel values")
        return _scale_floats(floats)
    return _to_gray(image)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:g}"


def _upright(image: Image.Image) -> Image.Image:
    # exif_transpose copies the image even when there is nothing to do; checking the tag first keeps
    # the common case (no EXIF, or orientation 1) free.
    orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        transposed = ImageOps.exif_transpose(image)
        if transposed is not None:
            return transposed
    return image


def _to_gray(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "L" and "transparency" not in image.info:
        result: np.ndarray = np.asarray(image, dtype=np.float32) * np.float32(1 / 255)
        return result
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        result = np.asarray(image).astype(np.float32) * np.float32(1 / 65535)
        return result
    if mode == "I":
        return _scale_integers(np.asarray(image))
    if mode == "1":
        result = np.asarray(image.convert("L"), dtype=np.float32) * np.float32(1 / 255)
        return result
    if mode in _TRANSPARENT_MODES or "transparency" in image.info:
        return _flatten_onto_white(image)
    if mode != "RGB":
        # CMYK, YCbCr, LAB, HSV, P without transparency, ...: Pillow knows how to reach RGB.
        image = image.convert("RGB")
    result = np.asarray(image.convert("L"), dtype=np.float32) * np.float32(1 / 255)
    return result


def _flatten_onto_white(image: Image.Image) -> np.ndarray:
    # Canvas apps export strokes on a transparent background: the "paper" behind them is white.
    with_alpha = (
        image.convert("LA") if image.mode in ("L", "LA", "La", "1") else image.convert("RGBA")
    )
    if with_alpha.mode == "RGBA":
        alpha = np.asarray(with_alpha.getchannel("A"), dtype=np.float32) * np.float32(1 / 255)
        luma = np.asarray(with_alpha.convert("RGB").convert("L"), dtype=np.float32)
    else:
        pixels = np.asarray(with_alpha, dtype=np.float32)
        luma, alpha = pixels[..., 0], pixels[..., 1] * np.float32(1 / 255)
    result: np.ndarray = (luma * np.float32(1 / 255)) * alpha + (np.float32(1) - alpha)
    return result


def _scale_integers(values: np.ndarray) -> np.ndarray:
    # Mode "I" has no fixed range: 16-bit data (the usual case) or 8-bit data stored wide. Take the
    # smallest usual range that holds the data rather than stretching, so faint images stay faint.
    low, high = int(values.min()), int(values.max())
    if low >= 0:
        for limit in (255, 65535, 2**32 - 1):
            if high <= limit:
                result: np.ndarray = values.astype(np.float32) * np.float32(1 / limit)
                return result
    span = max(high - low, 1)
    return ((values.astype(np.float64) - low) / span).astype(np.float32)


def _scale_floats(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 1.0:
        return values
    if low >= 0.0:
        for limit in (255.0, 65535.0):
            if high <= limit:
                result: np.ndarray = values * np.float32(1 / limit)
                return result
    span = max(high - low, 1e-12)
    return ((values.astype(np.float64) - low) / span).astype(np.float32)
