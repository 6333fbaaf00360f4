"""load_image: every supported format and mode to greyscale in [0, 1], and one clear error otherwise."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitcli.errors import ImageError
from digitcli.imaging import MAX_PIXELS, load_image
from digitcli.preprocess import canonicalize
from digitcli.vocabulary import Invert


def seven(size: tuple[int, int] = (60, 80), ink: int = 0, paper: int = 255) -> Image.Image:
    """A 7: asymmetric under every rotation and flip, so orientation mistakes show."""
    image = Image.new("L", size, paper)
    width, height = size
    draw = ImageDraw.Draw(image)
    draw.line([(width * 0.2, height * 0.2), (width * 0.8, height * 0.2)], fill=ink, width=6)
    draw.line([(width * 0.8, height * 0.2), (width * 0.4, height * 0.85)], fill=ink, width=6)
    return image


def test_grey_png_is_scaled_to_unit_range(tmp_path: Path) -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(pixels, mode="L").save(tmp_path / "grey.png")
    gray = load_image(tmp_path / "grey.png")
    assert gray.dtype == np.float32 and gray.shape == (16, 16)
    np.testing.assert_allclose(gray, pixels / 255.0, atol=1e-6)


def test_rgb_becomes_luma(tmp_path: Path) -> None:
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 255  # pure red: luma 0.299
    Image.fromarray(rgb, mode="RGB").save(tmp_path / "red.png")
    np.testing.assert_allclose(load_image(tmp_path / "red.png"), 0.299, atol=0.01)


def test_transparent_background_is_flattened_onto_white(tmp_path: Path) -> None:
    # Canvas apps: black strokes on a fully transparent (and black) background.
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 18:22, 3] = 255
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "canvas.png")
    gray = load_image(tmp_path / "canvas.png")
    assert gray[0, 0] == pytest.approx(1.0)
    assert gray[20, 20] == pytest.approx(0.0)
    la = np.zeros((40, 40, 2), np.uint8)
    la[5:10, 5:10, 1] = 128  # half-transparent black: mid grey
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    gray = load_image(tmp_path / "la.png")
    assert gray[0, 0] == pytest.approx(1.0)
    assert gray[7, 7] == pytest.approx(1 - 128 / 255, abs=0.01)


def test_an_opaque_canvas_reads_as_its_rgb_picture(tmp_path: Path) -> None:
    # The drawing page sends RGBA with alpha 255 everywhere: exactly the RGB picture's luma, and a
    # single transparent pixel takes the flattening path, with the same result elsewhere.
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb, mode="RGB").save(tmp_path / "rgb.png")
    rgba = np.dstack([rgb, np.full((30, 40), 255, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "opaque.png")
    expected = load_image(tmp_path / "rgb.png")
    np.testing.assert_array_equal(load_image(tmp_path / "opaque.png"), expected)
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "hole.png")
    holed = load_image(tmp_path / "hole.png")
    assert holed[0, 0] == 1.0  # paper shows through
    np.testing.assert_array_equal(holed.ravel()[1:], expected.ravel()[1:])


def test_palette_transparency_is_flattened(tmp_path: Path) -> None:
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0, 255, 255, 255, 90, 90, 90] + [0] * 759)
    image.paste(1, (5, 5, 15, 15))
    image.info["transparency"] = 0  # palette entry 0 (black) is transparent
    image.save(tmp_path / "palette.gif", transparency=0)
    gray = load_image(tmp_path / "palette.gif")
    # Only white is visible: it is the ink, on black (issue 15: it used to vanish into white).
    assert (gray[0, 0], gray[10, 10]) == (0.0, 1.0)
    image.paste(2, (8, 8, 12, 12))  # dark grey inside the white: the colours carry contrast
    image.save(tmp_path / "palette.gif", transparency=0)
    gray = load_image(tmp_path / "palette.gif")
    assert gray[0, 0] == 1.0  # transparent became white paper
    assert gray[10, 10] == pytest.approx(90 / 255, abs=0.01)


def test_sixteen_bit_png_keeps_its_range(tmp_path: Path) -> None:
    pixels = np.full((10, 10), 65535, np.uint16)
    pixels[2:8, 4:6] = 32768
    Image.fromarray(pixels).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as saved:  # closed: no ResourceWarning
        assert saved.mode.startswith("I")
    gray = load_image(tmp_path / "deep.png")
    assert gray[0, 0] == pytest.approx(1.0)
    assert gray[4, 4] == pytest.approx(0.5, abs=1e-3)


def test_32_bit_integer_and_float_tiffs(tmp_path: Path) -> None:
    Image.fromarray(np.full((8, 8), 1000, np.int32), mode="I").save(tmp_path / "int.tif")
    assert load_image(tmp_path / "int.tif")[0, 0] == pytest.approx(1000 / 65535)
    floats = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(floats, mode="F").save(tmp_path / "float.tif")
    np.testing.assert_allclose(load_image(tmp_path / "float.tif"), floats)


def test_nan_in_float_image_is_an_error(tmp_path: Path) -> None:
    floats = np.zeros((8, 8), np.float32)
    floats[3, 3] = np.nan
    Image.fromarray(floats, mode="F").save(tmp_path / "nan.tif")
    with pytest.raises(ImageError, match=r"nan\.tif.*NaN"):
        load_image(tmp_path / "nan.tif")


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".gif", ".tif", ".webp"])
def test_every_supported_format_reads(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"seven{suffix}"
    seven().convert("RGB").save(path)
    gray = load_image(path)
    assert gray.shape == (80, 60)
    assert gray.min() < 0.2 and gray.max() > 0.8


def test_first_frame_of_an_animation(tmp_path: Path) -> None:
    frames = [Image.new("L", (10, 10), 255), Image.new("L", (10, 10), 0)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    assert load_image(tmp_path / "anim.gif").min() == pytest.approx(1.0)
    assert load_image(tmp_path / "pages.tif").min() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("orientation", "stored"),
    [
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_90),
        (8, Image.Transpose.ROTATE_270),
    ],
)
def test_exif_orientation_is_applied(
    tmp_path: Path, orientation: int, stored: Image.Transpose
) -> None:
    # A phone stores the sensor's pixels and says in EXIF how to turn them upright.
    upright = seven()
    exif = Image.Exif()
    exif[0x0112] = orientation
    upright.transpose(stored).save(tmp_path / "phone.jpg", quality=95, exif=exif.tobytes())
    upright.save(tmp_path / "upright.png")
    gray = load_image(tmp_path / "phone.jpg")
    assert gray.shape == (80, 60)
    np.testing.assert_allclose(gray, load_image(tmp_path / "upright.png"), atol=0.15)
    np.testing.assert_allclose(
        canonicalize(gray), canonicalize(load_image(tmp_path / "upright.png")), atol=0.1
    )


def test_missing_file_directory_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nothere\.png: no such file"):
        load_image(tmp_path / "nothere.png")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.png: the file is empty"):
        load_image(tmp_path / "empty.png")


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("this is not an image\n")
    with pytest.raises(ImageError, match=r"notes\.png: not an image"):
        load_image(tmp_path / "notes.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"cut{suffix}"
    noise = np.random.default_rng(0).integers(0, 256, (120, 120), dtype=np.uint8)
    Image.fromarray(noise, mode="L").save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=rf"cut\{suffix}: cannot decode"):
        load_image(path)


def test_corrupt_png_data(tmp_path: Path) -> None:
    path = tmp_path / "garbled.png"
    Image.fromarray(np.zeros((50, 50), np.uint8), mode="L").save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 4
    data[start : start + 20] = b"\xff" * 20
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"garbled\.png"):
        load_image(path)


def test_tiny_image_is_too_small(tmp_path: Path) -> None:
    Image.new("L", (1, 1), 0).save(tmp_path / "dot.png")
    with pytest.raises(ImageError, match=r"dot\.png: image is 1x1 pixels, too small"):
        load_image(tmp_path / "dot.png")


def _png_claiming_size(path: Path, width: int, height: int) -> None:
    """A valid-looking PNG header announcing width x height, with a tiny payload."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = zlib.compress(b"\x00" * 100)
    idat = (
        struct.pack(">I", len(data))
        + b"IDAT"
        + data
        + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    )
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + idat + iend)


@pytest.mark.parametrize("side", [15_000, 30_000])
def test_decompression_bomb_is_refused(tmp_path: Path, side: int) -> None:
    # 225 and 900 megapixels: more than the default limit, refused before decoding.
    assert side * side > MAX_PIXELS
    path = tmp_path / "bomb.png"
    _png_claiming_size(path, side, side)
    with pytest.raises(
        ImageError, match=r"bomb\.png: image .* 200 megapixel limit \(--max-pixels\)"
    ):
        load_image(path)
    with pytest.raises(ImageError, match=r"bomb\.png: image .* 1 megapixel limit \(--max-pixels\)"):
        load_image(path, max_pixels=1_000_000)


def test_a_50_megapixel_photo_reads_by_default(tmp_path: Path) -> None:
    # 8160x6144, a 50 MP phone photo (mode 1 keeps the file small; it decodes to full size).
    image = Image.new("1", (8160, 6144), 1)
    ImageDraw.Draw(image).line([(4000, 1000), (4100, 5000)], fill=0, width=200)
    image.save(tmp_path / "phone.png")
    gray = load_image(tmp_path / "phone.png")
    assert gray.shape == (6144, 8160)
    assert gray.min() == 0.0 and gray.max() == 1.0


def test_white_strokes_on_a_transparent_canvas_are_ink(tmp_path: Path) -> None:
    # The colour channels carry no contrast (every visible pixel white): alpha draws the digit.
    alpha = np.asarray(seven(ink=255, paper=0))
    for colour, name in ((255, "white"), (0, "black"), (200, "light")):
        rgba = np.zeros((*alpha.shape, 4), np.uint8)
        rgba[..., :3] = colour
        rgba[..., 3] = alpha
        Image.fromarray(rgba, mode="RGBA").save(tmp_path / f"{name}.png")
    white, black = load_image(tmp_path / "white.png"), load_image(tmp_path / "black.png")
    np.testing.assert_allclose(white, 1.0 - black, atol=1e-6)  # light strokes on black
    assert load_image(tmp_path / "light.png").max() == pytest.approx(200 / 255, abs=0.01)
    expected = canonicalize(black)
    np.testing.assert_allclose(canonicalize(white), expected, atol=1e-6)
    np.testing.assert_allclose(canonicalize(white, Invert.no), expected, atol=1e-6)


def test_avif_reads_when_pillow_has_it(tmp_path: Path) -> None:
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow was built without AVIF")
    seven().convert("RGB").save(tmp_path / "seven.avif", quality=90)
    np.testing.assert_allclose(
        canonicalize(load_image(tmp_path / "seven.avif")), canonicalize(_seven_gray()), atol=0.1
    )


def test_heic_reads_with_the_optional_plugin(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    seven().convert("RGB").save(tmp_path / "seven.heic", quality=90)
    np.testing.assert_allclose(
        canonicalize(load_image(tmp_path / "seven.heic")), canonicalize(_seven_gray()), atol=0.1
    )


def _seven_gray() -> np.ndarray:
    return np.asarray(seven(), dtype=np.float32) / 255


def test_a_named_pipe_is_read_and_a_device_refused(tmp_path: Path) -> None:
    import os
    import threading

    seven().save(tmp_path / "seven.png")
    os.mkfifo(tmp_path / "pipe")

    def write() -> None:
        (tmp_path / "pipe").write_bytes((tmp_path / "seven.png").read_bytes())

    writer = threading.Thread(target=write)
    writer.start()
    gray = load_image(tmp_path / "pipe")  # as `predict <(curl …)` gives it
    writer.join()
    np.testing.assert_array_equal(gray, load_image(tmp_path / "seven.png"))
    with pytest.raises(ImageError, match=r"^/dev/zero: is a device, not an image file$"):
        load_image(Path("/dev/zero"))


def test_heic_without_the_plugin_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")  # to write the file
    pillow_heif.register_heif_opener()
    seven().convert("RGB").save(tmp_path / "IMG_0001.HEIC", quality=90)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as if not installed
    with pytest.raises(
        ImageError,
        match=r"IMG_0001\.HEIC: a HEIC/HEIF picture; reading it needs the optional plugin: "
        r"python -m pip install 'digitcli\[heif\]'$",
    ):
        load_image(tmp_path / "IMG_0001.HEIC")
