"""digitcli.predict without the CLI: collecting inputs, every image format and mode, .npy arrays,
polarity, failures, engines, debug images and the worker pool.

Digits that must be read correctly come from the trained_run model's own test split (it is trained
on the small built-in digits for a few epochs), kept only when the model reads them confidently from
a PNG; elsewhere the tests assert consistency (both polarities, both engines, npy vs PNG).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pictures import paper
from PIL import Image

from digitcli.errors import ModelError, UsageError
from digitcli.predict import (
    Classifier,
    PredictionRecord,
    collect_inputs,
    debug_image_name,
    load_classifier,
    npy_images,
    predict_inputs,
)
from digitcli.runs import ModelFiles, resolve_model
from digitcli.vocabulary import InferenceEngine, Invert, PixelOrder


@pytest.fixture(scope="module")
def samples(confident_digits: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """label -> canonical 20x20 image (light on dark) that the model reads confidently from a PNG."""
    return confident_digits


@pytest.fixture(scope="module")
def model_files(trained_run: Path) -> ModelFiles:
    return resolve_model(trained_run)


def predict_paths(
    paths: list[Path], model_files: ModelFiles | Classifier, **options: Any
) -> list[PredictionRecord]:
    return list(predict_inputs(collect_inputs(paths), model_files, **options))


def probs(record: PredictionRecord) -> np.ndarray:
    assert record.probabilities is not None, record.error
    return np.asarray(record.probabilities)


# ------------------------------------------------------------------------------ collect_inputs


def _touch_png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 255).save(path)
    return path


def test_collect_folder_takes_only_its_own_image_files_unless_recursive(tmp_path: Path) -> None:
    _touch_png(tmp_path / "imgs" / "b.png")
    _touch_png(tmp_path / "imgs" / "a.JPG")
    _touch_png(tmp_path / "imgs" / "sub" / "c.png")
    _touch_png(tmp_path / "imgs" / "._a.png")  # macOS resource fork: not an image
    (tmp_path / "imgs" / "notes.txt").write_text("x")
    (tmp_path / "imgs" / "X.npy").write_bytes(b"")

    flat = collect_inputs([Path("imgs")])
    assert [item.name for item in flat] == ["imgs/a.JPG", "imgs/b.png"]
    deep = collect_inputs(["imgs"], recursive=True)
    assert [item.name for item in deep] == ["imgs/a.JPG", "imgs/b.png", "imgs/sub/c.png"]
    assert all(item.kind == "image" and item.error is None for item in deep)


def test_collect_keeps_order_missing_paths_and_npy_files(tmp_path: Path) -> None:
    _touch_png(tmp_path / "z.png")
    items = collect_inputs(["z.png", "missing.png", "data/X.npy", "z.png"])
    assert [(item.name, item.kind) for item in items] == [
        ("z.png", "image"),
        ("missing.png", "image"),
        ("data/X.npy", "npy"),
        ("z.png", "image"),
    ]


def test_collect_reads_paths_from_stdin_ignoring_blank_lines(tmp_path: Path) -> None:
    _touch_png(tmp_path / "a.png")
    _touch_png(tmp_path / "b c.png")
    stdin = io.StringIO("a.png\n\n  \nb c.png\r\n")
    items = collect_inputs(["first.png", "-"], stdin=stdin)
    assert [item.name for item in items] == ["first.png", "a.png", "b c.png"]


def test_collect_dash_without_stdin_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="standard input"):
        collect_inputs(["-"], stdin=None)


def test_an_empty_folder_is_one_failed_input_with_a_hint(tmp_path: Path) -> None:
    _touch_png(tmp_path / "top" / "inner" / "x.png")
    (items,) = collect_inputs(["top"])
    assert (
        items.error == "no image files in this folder (add --recursive to look in its subfolders)"
    )
    (tmp_path / "empty").mkdir()
    (empty,) = collect_inputs(["empty"], recursive=True)
    assert empty.error == "no image files in this folder"


# ------------------------------------------------------------------------- formats and modes


def _save(image: np.ndarray, path: Path, mode: str, fmt: str) -> None:
    """Save a dark-on-light uint8 picture in the given Pillow mode and format."""
    base = Image.fromarray(image)
    if mode == "L":
        picture = base
    elif mode == "RGB":
        rgb = np.stack([image, image, np.minimum(image.astype(int) + 30, 255)], axis=-1)
        picture = Image.fromarray(rgb.astype(np.uint8))
    elif mode == "RGBA":
        # A canvas export: black strokes whose alpha is the ink, on a transparent background.
        rgba = np.zeros((*image.shape, 4), dtype=np.uint8)
        rgba[..., 3] = 255 - image
        picture = Image.fromarray(rgba)
    elif mode == "P":
        picture = base.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    elif mode == "I;16":
        picture = Image.fromarray(image.astype(np.uint16) * 257)
        assert picture.mode == "I;16"
    else:
        raise AssertionError(mode)
    options = {"quality": 95} if fmt == "JPEG" else {}
    if fmt == "WEBP":
        options = {"lossless": True}
    picture.save(path, format=fmt, **options)


CASES = [
    ("PNG", "L"),
    ("PNG", "RGB"),
    ("PNG", "RGBA"),
    ("PNG", "P"),
    ("PNG", "I;16"),
    ("JPEG", "L"),
    ("JPEG", "RGB"),
    ("BMP", "L"),
    ("BMP", "RGB"),
    ("BMP", "P"),
    ("GIF", "P"),
    ("GIF", "L"),
    ("TIFF", "L"),
    ("TIFF", "RGB"),
    ("TIFF", "RGBA"),
    ("TIFF", "I;16"),
    ("WEBP", "RGB"),
    ("WEBP", "RGBA"),
]


@pytest.mark.parametrize(("fmt", "mode"), CASES, ids=[f"{f}-{m}" for f, m in CASES])
def test_every_format_and_mode_reads_the_same_digit(
    fmt: str, mode: str, samples: dict[int, np.ndarray], model_files: ModelFiles, tmp_path: Path
) -> None:
    paths, labels = [], []
    for label, image in samples.items():
        path = tmp_path / f"digit-{label}.{fmt.lower()}"
        _save(paper(image), path, mode, fmt)
        paths.append(path)
        labels.append(label)
    records = predict_paths(paths, model_files)
    assert [record.error for record in records] == [None] * len(paths)
    assert [record.digit for record in records] == labels


def test_record_fields_are_consistent(
    samples: dict[int, np.ndarray], model_files: ModelFiles, tmp_path: Path
) -> None:
    label, image = next(iter(samples.items()))
    Image.fromarray(paper(image)).save(tmp_path / "d.png")
    (record,) = predict_paths([tmp_path / "d.png"], model_files)
    assert record.ok and record.digit == label
    assert record.probabilities is not None and len(record.probabilities) == 10
    assert sum(record.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert record.confidence == max(record.probabilities)
    assert record.top3[0] == (label, record.confidence)
    assert [p for _, p in record.top3] == sorted(record.probabilities, reverse=True)[:3]
    document = record.to_dict()
    assert list(document) == [
        *("path", "digit", "confidence", "probabilities", "top3", "error"),
        *("unsure", "status", "reason", "number", "digits"),
    ]
    assert document["top3"][0] == [label, record.confidence]  # type: ignore[index]
    # One digit: the number is that digit, and its box lies inside the 28x28 picture.
    assert record.number == str(label) and [d.digit for d in record.digits] == [label]
    x0, y0, x1, y1 = record.digits[0].box
    assert 0 <= x0 < x1 <= 28 and 0 <= y0 < y1 <= 28


# ---------------------------------------------------------------------------------- polarity


def test_both_polarities_give_the_same_prediction(
    samples: dict[int, np.ndarray], model_files: ModelFiles, tmp_path: Path
) -> None:
    for label, image in samples.items():
        dark_on_light = paper(image)
        Image.fromarray(dark_on_light).save(tmp_path / f"paper-{label}.png")
        Image.fromarray(255 - dark_on_light).save(tmp_path / f"screen-{label}.png")
    names = sorted(samples)
    paper_paths = [tmp_path / f"paper-{label}.png" for label in names]
    screen_paths = [tmp_path / f"screen-{label}.png" for label in names]
    on_paper = predict_paths(paper_paths, model_files)
    on_screen = predict_paths(screen_paths, model_files)
    assert [r.digit for r in on_paper] == [r.digit for r in on_screen] == names
    for a, b in zip(on_paper, on_screen, strict=True):
        np.testing.assert_allclose(probs(a), probs(b), atol=1e-5)
    # Saying the polarity outright agrees with the guess.
    told = predict_paths(paper_paths, model_files, invert=Invert.yes)
    assert [r.digit for r in told] == names
    told = predict_paths(screen_paths, model_files, invert=Invert.no)
    assert [r.digit for r in told] == names


# ---------------------------------------------------------------------------------- failures


def test_a_blank_image_is_reported_as_no_ink_not_guessed(
    model_files: ModelFiles, tmp_path: Path
) -> None:
    Image.new("L", (28, 28), 255).save(tmp_path / "white.png")
    Image.new("RGB", (40, 30), (0, 0, 0)).save(tmp_path / "black.jpg")
    records = predict_paths([tmp_path / "white.png", tmp_path / "black.jpg"], model_files)
    for record in records:
        assert record.digit is None and record.confidence is None and record.probabilities is None
        assert record.top3 == ()
        assert record.error == "no ink found: the image is blank"


def test_unreadable_inputs_fail_alone(
    samples: dict[int, np.ndarray], model_files: ModelFiles, tmp_path: Path
) -> None:
    label, image = next(iter(samples.items()))
    Image.fromarray(paper(image)).save(tmp_path / "good.png")
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "whole.png")
    whole = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "corrupt.png").write_bytes(whole[: len(whole) // 2])  # a truncated download
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    paths = ["good.png", "corrupt.png", "missing.png", "empty.png", "text.jpg", "good.png"]
    records = list(predict_inputs(collect_inputs(paths), model_files))
    assert [r.path for r in records] == paths
    assert [r.digit for r in records] == [label, None, None, None, None, label]
    errors = [r.error for r in records]
    assert errors[0] is None and errors[-1] is None
    assert errors[1] is not None and errors[1].startswith("cannot decode the image")
    assert errors[2] == "no such file"
    assert errors[3] == "the file is empty (0 bytes)"
    assert errors[4] == (
        "not an image digitcli can read (supported: PNG, JPEG, BMP, GIF, TIFF, WebP, AVIF, "
        "HEIC with digitcli[heif])"
    )


def test_model_input_size_must_be_400(tmp_path: Path) -> None:
    weights = tmp_path / "weights.npz"
    rng = np.random.default_rng(0)
    np.savez(
        weights,
        kernel_0=rng.normal(size=(64, 10)).astype(np.float32),
        bias_0=np.zeros(10, np.float32),
        activations=np.array(["linear"]),
    )
    with pytest.raises(ModelError) as caught:
        load_classifier(resolve_model(weights))
    assert caught.value.message == (
        f"{weights}: the model reads 64 values per image, but predict feeds it 400 (a 20x20 image)"
    )


def test_tf_engine_needs_a_keras_file(trained_run: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copy(trained_run / "weights.npz", tmp_path / "weights.npz")
    with pytest.raises(ModelError, match=r"no model.keras for --engine tf \(use --engine numpy\)"):
        load_classifier(resolve_model(tmp_path / "weights.npz"), InferenceEngine.tf)


# ------------------------------------------------------------------------------------- .npy


def test_npy_column_major_rows_read_like_the_png_of_the_same_digit(
    samples: dict[int, np.ndarray], model_files: ModelFiles, tmp_path: Path
) -> None:
    labels = sorted(samples)
    # On the PNG's 8-bit grey levels, so both inputs hold exactly the same pixels.
    upright = np.round(np.stack([samples[label] for label in labels]) * 255) / 255
    # The lab's layout: each 20x20 image stored column by column (MATLAB order).
    rows = np.stack([image.flatten(order="F") for image in upright])
    assert not np.array_equal(rows[0], upright[0].ravel())
    np.save(tmp_path / "X.npy", rows)
    np.save(tmp_path / "rows.npy", upright.reshape(len(labels), 400))
    for label, image in zip(labels, upright, strict=True):
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(tmp_path / f"{label}.png")

    from_npy = predict_paths([tmp_path / "X.npy"], model_files)
    from_png = predict_paths([tmp_path / f"{label}.png" for label in labels], model_files)
    row_major = predict_paths(
        [tmp_path / "rows.npy"], model_files, pixel_order=PixelOrder.row_major
    )
    assert [r.path for r in from_npy] == [f"{tmp_path / 'X.npy'}[{i}]" for i in range(len(labels))]
    assert [r.error for r in from_npy] == [None] * len(labels)
    assert [r.digit for r in from_npy] == [r.digit for r in from_png] == labels
    assert [r.digit for r in row_major] == labels
    for a, b in zip(from_npy, from_png, strict=True):
        np.testing.assert_allclose(probs(a), probs(b), atol=1e-5)


def test_npy_images_28x28_uint8(
    samples: dict[int, np.ndarray], model_files: ModelFiles, tmp_path: Path
) -> None:
    labels = sorted(samples)
    stack = np.stack([255 - paper(samples[label]) for label in labels])  # light on dark, 0-255
    assert stack.shape == (len(labels), 28, 28) and stack.dtype == np.uint8
    np.save(tmp_path / "mnist.npy", stack)
    records = predict_paths([tmp_path / "mnist.npy"], model_files)
    assert [r.digit for r in records] == labels
    assert records[-1].path.endswith(f"mnist.npy[{len(labels) - 1}]")
    # Dark-on-light arrays need --invert yes (arrays are taken as light-on-dark by default).
    np.save(tmp_path / "paper.npy", 255 - stack)
    inverted = predict_paths([tmp_path / "paper.npy"], model_files, invert=Invert.yes)
    assert [r.digit for r in inverted] == labels


def test_npy_problems_are_per_input_failures(model_files: ModelFiles, tmp_path: Path) -> None:
    np.save(tmp_path / "flat.npy", np.zeros((3, 7)))
    with (tmp_path / "archive.npy").open("wb") as handle:  # np.savez would append .npz
        np.savez(handle, a=np.zeros(3))
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    np.save(tmp_path / "none.npy", np.zeros((0, 400), np.float32))
    with_nan = np.zeros((2, 28, 28), np.float32)
    with_nan[0, 5:20, 12:15] = 1.0
    with_nan[1, 3, 3] = np.nan
    np.save(tmp_path / "nan.npy", with_nan)
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    names = [
        "flat.npy",
        "archive.npy",
        "junk.npy",
        "none.npy",
        "nan.npy",
        "strings.npy",
        "gone.npy",
    ]
    records = {r.path: r for r in predict_inputs(collect_inputs(names), model_files)}
    assert (
        records["flat.npy"].error == "expected N x 400 rows or N x H x W images, got shape (3, 7)"
    )
    assert records["archive.npy"].error == (
        "holds several arrays (an .npz archive?); save one array with numpy.save"
    )
    assert (records["junk.npy"].error or "").startswith("not a readable .npy file")
    assert records["none.npy"].error == "the array holds no images"
    assert records["nan.npy[0]"].error is None and records["nan.npy[0]"].digit is not None
    assert records["nan.npy[1]"].error == "pixels contain NaN or infinite values"
    assert records["strings.npy"].error == "pixels must be numbers, got dtype <U1"
    assert records["gone.npy"].error == "no such file"


def test_npy_images_scales_and_clips() -> None:
    as_bytes = npy_images(np.full((1, 20, 20), 255, np.uint8))
    assert as_bytes.dtype == np.float32 and float(as_bytes.max()) == 1.0
    binary = npy_images(np.ones((1, 20, 20), np.int64))
    assert float(binary.max()) == 1.0
    lab = npy_images(np.full((2, 400), 1.08, np.float64))  # the lab's slight overshoot
    assert lab.shape == (2, 20, 20) and float(lab.max()) == 1.0
    wide = npy_images(np.full((1, 28, 28), 200.0, np.float32))
    assert float(wide.max()) == pytest.approx(200 / 255)
    with pytest.raises(ValueError, match="integer pixels must be 0-255"):
        npy_images(np.full((1, 20, 20), 4096, np.int32))


# ------------------------------------------------------------------------ engines, debug, pool


def test_numpy_and_tensorflow_engines_agree(
    samples: dict[int, np.ndarray], model_files: ModelFiles, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    paths = []
    for label, image in samples.items():
        Image.fromarray(paper(image)).save(tmp_path / f"{label}.png")
        paths.append(tmp_path / f"{label}.png")
    noisy = np.clip(paper(samples[min(samples)]) + rng.normal(0, 20, (28, 28)), 0, 255)
    Image.fromarray(noisy.astype(np.uint8)).save(tmp_path / "noisy.png")
    paths.append(tmp_path / "noisy.png")

    numpy_records = predict_paths(paths, model_files, engine=InferenceEngine.numpy)
    tf_classifier = load_classifier(model_files, InferenceEngine.tf)
    assert tf_classifier.engine is InferenceEngine.tf
    tf_records = predict_paths(paths, tf_classifier)
    for a, b in zip(numpy_records, tf_records, strict=True):
        assert a.digit == b.digit
        np.testing.assert_allclose(probs(a), probs(b), atol=1e-5, rtol=0)


def test_debug_dir_holds_what_the_model_saw(
    samples: dict[int, np.ndarray], model_files: ModelFiles, tmp_path: Path
) -> None:
    image = next(iter(samples.values()))
    (tmp_path / "in" / "a").mkdir(parents=True)
    (tmp_path / "in" / "b").mkdir()
    Image.fromarray(paper(image)).save(tmp_path / "in" / "a" / "x.png")
    Image.fromarray(255 - paper(image)).save(tmp_path / "in" / "b" / "x.png")
    Image.fromarray(paper(image)).convert("RGB").save(tmp_path / "photo.jpg", quality=95)
    Image.new("L", (28, 28), 255).save(tmp_path / "blank.png")
    np.save(tmp_path / "X.npy", image.flatten(order="F")[None, :])
    inputs = ["in", "photo.jpg", "blank.png", "X.npy"]
    records = list(
        predict_inputs(collect_inputs(inputs, recursive=True), model_files, debug_dir=Path("seen"))
    )
    assert len(records) == 5 and records[3].error is not None
    written = sorted(path.name for path in Path("seen").iterdir())
    # NAME.png: what the model saw; NAME.boxes.png: the picture with the digits' boxes drawn.
    names = ["X.npy-0", "in_a_x", "in_b_x", "photo.jpg"]
    assert written == sorted(f"{name}{end}" for name in names for end in (".png", ".boxes.png"))
    with Image.open("seen/in_a_x.boxes.png") as boxes:
        assert boxes.size == (28, 28) and boxes.mode == "RGB"
    with Image.open("seen/in_a_x.png") as picture:
        assert picture.size == (200, 200) and picture.mode == "L"
        pixels = np.asarray(picture)
    # Each 10x10 block is one pixel of the 20x20 input, light digit on black like the training data.
    small = pixels[::10, ::10]
    assert np.array_equal(np.kron(small, np.ones((10, 10), np.uint8)), pixels)
    assert small[0, 0] == 0 and small.max() == 255


def test_debug_image_names_are_safe_and_unique(
    model_files: ModelFiles, samples: dict[int, np.ndarray], tmp_path: Path
) -> None:
    assert debug_image_name("/abs/dir/photo 1.jpg") == "abs_dir_photo_1.jpg.png"
    assert debug_image_name("X.npy[12]") == "X.npy-12.png"
    assert debug_image_name("a.PNG") == "a.PNG"
    image = next(iter(samples.values()))
    Image.fromarray(paper(image)).save(tmp_path / "d.png")
    list(predict_inputs(collect_inputs(["d.png", "d.png"]), model_files, debug_dir=Path("dbg")))
    assert sorted(path.name for path in Path("dbg").iterdir()) == [
        *("d-2.boxes.png", "d-2.png", "d.boxes.png", "d.png")
    ]


def test_worker_pool_gives_the_same_records_in_order(
    samples: dict[int, np.ndarray], model_files: ModelFiles, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    labels = sorted(samples)
    paths = []
    for index in range(40):
        image = samples[labels[index % len(labels)]]
        picture = paper(image) if index % 2 else 255 - paper(image)
        picture = np.clip(picture + rng.normal(0, 8, picture.shape), 0, 255).astype(np.uint8)
        paths.append(tmp_path / f"{index:02d}.png")
        Image.fromarray(picture).save(paths[-1])
    (tmp_path / "07.png").write_bytes(b"broken")
    single = list(predict_inputs(collect_inputs(paths), model_files, workers=1, chunk_size=8))
    pooled = list(
        predict_inputs(collect_inputs(paths), model_files, workers=2, chunk_size=8, pool_min=1)
    )
    assert [r.path for r in pooled] == [str(path) for path in paths]
    assert [r.digit for r in pooled] == [r.digit for r in single]
    assert [r.error for r in pooled] == [r.error for r in single]
    assert pooled[7].error is not None and pooled[7].digit is None
    for a, b in zip(single, pooled, strict=True):
        if a.ok:
            np.testing.assert_allclose(probs(a), probs(b), atol=1e-6)
