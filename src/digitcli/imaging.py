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
# HEIC/HEIF is read when the optional pillow-heif plugin is installed (`digitcli[heif]`); AVIF when
# Pillow was built with it (11.2 and later, in its wheels).
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".avif", ".heic", ".heif"}
)
# Image-like files digitcli cannot read, reported as such when a folder holds them.
UNSUPPORTED_SUFFIXES = {
    ".svg": "an SVG drawing (vector graphics) is not supported; convert it to PNG first",
    ".svgz": "an SVG drawing (vector graphics) is not supported; convert it to PNG first",
}
SUPPORTED_TEXT = "PNG, JPEG, BMP, GIF, TIFF, WebP, AVIF, HEIC with digitcli[heif]"
# A pipe (`predict <(curl …)`) is read whole into memory first: at most this many bytes.
MAX_PIPE_BYTES = 512 * 1024 * 1024
# ISO base media files (HEIC, AVIF) start with a box "ftyp" and a brand naming the codec.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
MAX_PIXELS = MAX_IMAGE_PIXELS
# Smaller than this on either side holds no readable digit (the sklearn digits are 8x8).
MIN_SIDE = 4

_EXIF_ORIENTATION = 0x0112
_TRANSPARENT_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


def _pillow_formats() -> tuple[str, ...]:
    from PIL import features

    try:
        avif = bool(features.check_module("avif"))  # Pillow >= 11.2, when built with libavif
    except ValueError:  # an older Pillow, which does not know the name
        avif = False
    return (*FORMATS, "AVIF") if avif else FORMATS


_FORMATS = _pillow_formats()


def load_image(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Greyscale float32 array in [0, 1] (0 = black) of the first frame of the image at `path`;
    more than `max_pixels` pixels (width x height) is refused before decoding."""
    try:
        # One stat call answers "missing?", "a folder?" and "empty?" (this runs once per file).
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{path}: is a directory, not an image file")
    if stat.S_ISFIFO(info.st_mode):  # a named pipe, or process substitution: read what comes
        return _read(io.BytesIO(_pipe_bytes(path)), str(path), max_pixels)
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket"
        )
        raise ImageError(f"{path}: is {kind}, not an image file")
    if info.st_size == 0:
        raise ImageError(f"{path}: the file is empty (0 bytes)")
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below, after Pillow is done with it)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    with handle:
        return _read(handle, str(path), max_pixels)


def _pipe_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as pipe:
            data = pipe.read(MAX_PIPE_BYTES + 1)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the pipe: {exc.strerror or exc}") from exc
    if not data:
        raise ImageError(f"{path}: the pipe gave no bytes")
    if len(data) > MAX_PIPE_BYTES:
        raise ImageError(f"{path}: the pipe gave more than {MAX_PIPE_BYTES:,} bytes")
    return data


def decode_image(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """`load_image` for an image held in memory (an upload): the same array and the same errors,
    named `name`; more than `max_pixels` pixels raises ImageTooLargeError before decoding."""
    if not data:
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    return _read(io.BytesIO(data), name, max_pixels)


def _formats(handle: BinaryIO, name: str) -> tuple[str, ...]:
    """Pillow's formats to try: those above, plus HEIF (from the optional plugin) for a HEIC file."""
    start = handle.tell()
    head = handle.read(12)
    handle.seek(start)
    if head[4:8] != b"ftyp" or head[8:12] not in _HEIF_BRANDS:
        return _FORMATS
    try:
        import pillow_heif
    except ImportError:
        raise ImageError(
            f"{name}: a HEIC/HEIF picture; reading it needs the optional plugin: "
            "python -m pip install 'digitcli[heif]'"
        ) from None
    pillow_heif.register_heif_opener()
    return (*_FORMATS, "HEIF")


def _read(handle: BinaryIO, name: str, max_pixels: int) -> np.ndarray:
    formats = _formats(handle, name)
    try:
        # `_decode` checks the size against `max_pixels` right after the header is read, before
        # any decoding; Pillow's own check (a fixed ~89 MP) would refuse the pictures that
        # --max-pixels allows, without their size, so it is off.
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(handle, formats=formats) as image:
            return _decode(image, name, max_pixels)
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"{name}: not an image digitcli can read (supported: {SUPPORTED_TEXT})"
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
            f"{_megapixels(max_pixels)} megapixel limit (--max-pixels)"
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
    return _luma(image)


def _opaque(image: Image.Image) -> bool:
    """Whether every pixel of an RGBA image has alpha 255."""
    # Each pixel's 4 bytes read as a little-endian integer put alpha in the top byte.
    pixels = np.asarray(image).view(np.dtype("<u4"))
    return bool(pixels.min() >= 0xFF000000)


def _luma(image: Image.Image) -> np.ndarray:
    """An RGB or RGBA image's brightness (Pillow's L) in [0, 1], float32."""
    result: np.ndarray = np.asarray(image.convert("L"), dtype=np.float32)
    result *= np.float32(1 / 255)
    return result


def _flatten_onto_white(image: Image.Image) -> np.ndarray:
    # Canvas apps export strokes on a transparent background: the "paper" behind them is white,
    # unless the strokes themselves are light (white chalk on a transparent canvas): then every
    # visible pixel has the same light colour, the alpha channel alone draws the digit, and it is
    # shown on black, as light strokes on a dark board (what --invert auto finds, and --invert no
    # says).
    if image.mode == "RGBA":
        if _opaque(image):
            # The drawing page paints its canvas white first: luma x 1 + paper x 0, exactly.
            return _luma(image)
        with_alpha = image  # converting to its own mode would only copy it
        alpha_band: Image.Image | None = image.getchannel("A")
    else:
        with_alpha = (
            image.convert("LA") if image.mode in ("L", "LA", "La", "1") else image.convert("RGBA")
        )
        alpha_band = with_alpha.getchannel("A") if with_alpha.mode == "RGBA" else None
    if alpha_band is not None:
        alpha = np.asarray(alpha_band, dtype=np.float32) * np.float32(1 / 255)
        # RGBA -> L weighs R, G and B as RGB -> L does (alpha ignored): no RGB copy in between.
        luma = np.asarray(with_alpha.convert("L"), dtype=np.float32)
    else:
        pixels = np.asarray(with_alpha, dtype=np.float32)
        luma, alpha = pixels[..., 0], pixels[..., 1] * np.float32(1 / 255)
    luma *= np.float32(1 / 255)
    paper = np.float32(0) if _light_strokes_only(luma, alpha) else np.float32(1)
    result: np.ndarray = luma * alpha + paper * (np.float32(1) - alpha)
    return result


# Visible pixels whose brightness varies less than this (standard deviation, 0-1) are one colour.
_ONE_COLOUR = 0.08


def _light_strokes_only(luma: np.ndarray, alpha: np.ndarray) -> bool:
    """True when the visible pixels are all one light colour (the colour channels carry no
    contrast; only alpha draws) on a partly transparent picture."""
    total = float(alpha.sum())
    if total == 0.0 or float(alpha.min()) > 0.5:  # nothing visible, or no transparent background
        return False
    mean = float((luma * alpha).sum()) / total
    spread = (float((alpha * (luma - mean) ** 2).sum()) / total) ** 0.5
    return mean > 0.5 and spread < _ONE_COLOUR


# Formats whose files may hold several pictures (animation frames, pages).
_MULTI_FRAME_SUFFIXES = frozenset({".gif", ".tif", ".tiff", ".webp"})


def frame_count(path: Path) -> int:
    """How many frames or pages the picture at `path` holds (1 when unreadable: reading it will
    say why). Only GIF, TIFF and WebP are opened; other files count 1."""
    if path.suffix.lower() not in _MULTI_FRAME_SUFFIXES:
        return 1
    try:
        with Image.open(path, formats=FORMATS) as image:
            if not getattr(image, "is_animated", False):
                return 1
            return int(getattr(image, "n_frames", 1))
    except Exception:  # unreadable: load_image reports it
        return 1


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
