"""Every data source delivers canonical 20x20 images in [0, 1] and labels 0-9, split reproducibly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitcli.config import load_config
from digitcli.data import Dataset, load_dataset, to_canonical
from digitcli.errors import DataError
from digitcli.lab_format import lab_rows_to_images
from digitcli.vocabulary import IMAGE_SHAPE


def dataset(*overrides: str) -> Dataset:
    config = load_config(None, list(overrides))
    return load_dataset(config.data, config.seed)


def assert_canonical(data: Dataset) -> None:
    for split in (data.train, data.validation, data.test):
        assert split.x.dtype == np.float32 and split.x.shape[1] == 400
        assert split.y.dtype == np.int32
        assert split.x.min() >= 0.0 and split.x.max() <= 1.0
        assert set(np.unique(split.y)) <= set(range(10))
        # Fitted into the box: every image touches the frame's full extent along its longer side.
        images = split.x.reshape(-1, *IMAGE_SHAPE)
        rows = (images > 0.1).any(axis=2).sum(axis=1)
        cols = (images > 0.1).any(axis=1).sum(axis=1)
        assert np.all(np.maximum(rows, cols) >= 18)


def upright_seven() -> np.ndarray:
    """An asymmetric 20x20 shape (a 7): flipping or transposing it is easy to detect."""
    image = np.zeros((20, 20), dtype=np.float32)
    image[2:4, 3:17] = 1.0
    for row in range(4, 18):
        col = 16 - (row - 4) // 2
        image[row, col - 1 : col + 1] = 1.0
    return image


def test_digits_source_is_offline_canonical_and_stratified() -> None:
    data = dataset()
    assert data.sizes() == {"train": 1258, "validation": 269, "test": 270}
    assert_canonical(data)
    assert np.bincount(data.test.y, minlength=10).min() >= 26  # stratified: every digit present


def test_splits_are_seeded() -> None:
    assert dataset().fingerprint == dataset().fingerprint
    assert dataset().fingerprint != dataset("seed=99").fingerprint


def test_mnist_source_keeps_its_own_test_split(mnist_npz: Path) -> None:
    data = dataset("data.source=mnist", f"data.path={mnist_npz}", "data.limit=600")
    assert data.sizes()["test"] == 600  # drawn from MNIST's own test set
    assert data.sizes()["train"] + data.sizes()["validation"] == 600
    assert_canonical(data)


def test_lab_npy_column_major_comes_back_upright(tmp_path: Path) -> None:
    seven = upright_seven()
    rows = np.stack([seven.T.reshape(400)] * 20)  # column-major, as the lab stores it
    labels = np.full((20, 1), 7)  # the lab's y.npy is N x 1
    np.save(tmp_path / "X.npy", rows)
    np.save(tmp_path / "y.npy", labels)
    np.testing.assert_array_equal(
        lab_rows_to_images(rows, load_config(None).data.pixel_order, "X.npy")[0], seven
    )
    data = dataset("data.source=npy", f"data.path={tmp_path}")
    expected = to_canonical(seven[None])[0]
    np.testing.assert_allclose(data.train.x[0], expected)
    assert set(data.train.y) == {7}
    # Reading the same rows as row-major gives the transposed (wrong) image.
    sideways = dataset(
        "data.source=npy", f"data.path={tmp_path / 'X.npy'}", "data.pixel_order=row_major"
    )
    assert not np.allclose(sideways.train.x[0], expected)


def test_folder_source_reads_images_per_label(tmp_path: Path) -> None:
    seven = (upright_seven() * 255).astype(np.uint8)
    for label in (1, 7):
        (tmp_path / "imgs" / str(label)).mkdir(parents=True)
        for index in range(6):
            image = 255 - np.roll(seven, index, axis=1) if label == 7 else 255 - seven.T
            Image.fromarray(image).save(tmp_path / "imgs" / str(label) / f"{index}.png")
    (tmp_path / "imgs" / "7" / "notes.txt").write_text("ignored")
    data = dataset("data.source=folder", f"data.path={tmp_path / 'imgs'}")
    assert sum(data.sizes().values()) == 12
    assert_canonical(data)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((5, 400)), np.zeros(4), "X.npy has 5 images but"),
        (
            np.zeros((5, 399)),
            np.zeros(5),
            "expected N rows of 400 pixels (20x20), got shape (5, 399)",
        ),
        (np.full((5, 400), np.nan), np.zeros(5), "pixels contain NaN or infinite values"),
        (np.zeros((5, 400)), np.array([0, 1, 2, 3, 12]), "labels must be in 0-9, found 12"),
        (np.zeros((5, 400)), np.array([0, 1, 2.5, 3, 4]), "labels must be whole numbers 0-9"),
        (np.zeros((5, 400)), np.array(["a"] * 5), "labels must be integers 0-9"),
    ],
)
def test_bad_lab_files_are_rejected(
    tmp_path: Path, x: np.ndarray, y: np.ndarray, message: str
) -> None:
    np.save(tmp_path / "X.npy", x)
    np.save(tmp_path / "y.npy", y)
    with pytest.raises(DataError) as caught:
        dataset("data.source=npy", f"data.path={tmp_path}")
    assert message in caught.value.message


def test_missing_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="X.npy: file not found"):
        dataset("data.source=npy", f"data.path={tmp_path / 'X.npy'}")
    with pytest.raises(DataError, match="no images found in subfolders named 0-9"):
        dataset("data.source=folder", f"data.path={tmp_path}")
    with pytest.raises(DataError, match="MNIST file not found"):
        dataset("data.source=mnist", f"data.path={tmp_path / 'mnist.npz'}")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz: not a readable .npz file"):
        dataset("data.source=mnist", f"data.path={tmp_path / 'bad.npz'}")


def digit_folder(root: Path) -> Path:
    """Subfolders 0-9 with three real digits each, one corrupt image in 3/, and stray entries."""
    from pictures import paper

    digits = dataset("data.limit=300")
    for label in range(10):
        folder = root / str(label)
        folder.mkdir(parents=True)
        for index, image in enumerate(digits.train.x[digits.train.y == label][:3]):
            Image.fromarray(paper(image.reshape(IMAGE_SHAPE))).save(folder / f"{index}.png")
    (root / "3" / "bad.png").write_text("not an image\n")
    (root / "notes.txt").write_text("where these came from\n")
    (root / "extra").mkdir()
    (root / "5" / "readme.md").write_text("fives\n")
    (root / ".DS_Store").write_bytes(b"\0")  # hidden files are not reported
    return root / "3" / "bad.png"


def test_folder_data_skips_unreadable_images_and_reports_strays(tmp_path: Path) -> None:
    bad = digit_folder(tmp_path / "digits")
    data = dataset("data.source=folder", f"data.path={tmp_path / 'digits'}")
    assert sum(data.sizes().values()) == 30
    skipped, count, stray = data.warnings
    assert skipped.startswith(f"{bad}: ") and skipped.endswith("; skipped")
    assert skipped.count(str(bad)) == 1  # the path once, not twice
    assert count == (
        f"{tmp_path / 'digits'}: skipped 1 unreadable image(s), used 30 "
        "(set data.strict: true to refuse the data instead)"
    )
    assert stray == (
        f"{tmp_path / 'digits'}: ignored 3 entries that are not images in subfolders 0-9: "
        "5/readme.md, extra/, notes.txt"
    )
    with pytest.raises(DataError) as refused:
        dataset("data.source=folder", f"data.path={tmp_path / 'digits'}", "data.strict=true")
    assert refused.value.message.startswith(f"{bad}: ")
    assert refused.value.message.endswith(" (data.strict is true)")
    assert refused.value.message.count(str(bad)) == 1
