"""Every source in `data.SOURCES` loads a tiny real dataset written in tmp_path (digits: the bundled
one) into canonical splits, and keeps the promises of its entry.

A new source is covered by adding a maker for its tiny dataset to MAKERS (the test fails until then).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitcli.config import load_config
from digitcli.data import SOURCES, load_dataset, load_source
from digitcli.errors import DataError
from digitcli.vocabulary import IMAGE_SHAPE, DataSource

PER_DIGIT = 3  # images of each digit 0-9 in the tiny datasets


def bars(count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` light-on-dark size x size images per digit: a bar whose place and length tell the digit."""
    images, labels = [], []
    for digit in range(10):
        for copy in range(count):
            image = np.zeros((size, size), dtype=np.float32)
            top = 1 + (digit + copy) % (size // 3)
            image[top : top + size // 2, 2 + digit % (size - 4) : 4 + digit % (size - 4)] = 1.0
            image[top, 2 : 2 + 1 + digit] = 1.0
            images.append(image)
            labels.append(digit)
    return np.stack(images), np.asarray(labels)


def _digits(tmp_path: Path) -> list[str]:
    return ["data.limit=60"]


def _keras_npz(path: Path, side: int) -> list[str]:
    """Bars of `side` pixels in Keras's MNIST layout (uint8, x/y train/test)."""
    x_train, y_train = bars(PER_DIGIT, side)
    x_test, y_test = bars(1, side)
    np.savez(
        path,
        x_train=(x_train * 255).astype(np.uint8),
        y_train=y_train.astype(np.uint8),
        x_test=(x_test * 255).astype(np.uint8),
        y_test=y_test.astype(np.uint8),
    )
    return [f"data.path={path}"]


def _mnist(tmp_path: Path) -> list[str]:
    return _keras_npz(tmp_path / "mnist.npz", 28)


def _npz(tmp_path: Path) -> list[str]:
    # The Keras layout of ../shared/data/real/*.npz: 16x16 scans, like USPS.
    return _keras_npz(tmp_path / "usps.npz", 16)


def _npy(tmp_path: Path) -> list[str]:
    images, labels = bars(PER_DIGIT, 20)
    # The lab's rows are column-major: transpose each image before flattening.
    np.save(tmp_path / "X.npy", images.transpose(0, 2, 1).reshape(len(images), 400))
    np.save(tmp_path / "y.npy", labels)
    return [f"data.path={tmp_path}"]


def _folder(tmp_path: Path) -> list[str]:
    images, labels = bars(PER_DIGIT, 32)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = tmp_path / "imgs" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - (image * 255).astype(np.uint8)).save(folder / f"{index}.png")
    return [f"data.path={tmp_path / 'imgs'}"]


MAKERS: dict[DataSource, Callable[[Path], list[str]]] = {
    DataSource.digits: _digits,
    DataSource.mnist: _mnist,
    DataSource.npz: _npz,
    DataSource.npy: _npy,
    DataSource.folder: _folder,
}


def test_every_configurable_source_is_registered() -> None:
    assert list(SOURCES) == list(DataSource)
    assert set(MAKERS) == set(SOURCES), "add a maker for the new source's tiny dataset to MAKERS"
    assert all(entry.description for entry in SOURCES.values())


@pytest.mark.parametrize("source", list(SOURCES), ids=lambda source: source.value)
def test_every_source_loads_a_tiny_real_dataset(source: DataSource, tmp_path: Path) -> None:
    entry = SOURCES[source]
    config = load_config(None, [f"data.source={source.value}", *MAKERS[source](tmp_path)])
    pool, own_test = load_source(config.data, config.seed)
    assert pool.x.shape == (len(pool), 400)
    assert (own_test is not None) == entry.own_test_split
    data = load_dataset(config.data, config.seed)
    assert data.source == source.value
    for split in (data.train, data.validation, data.test):
        assert len(split) > 0
        assert split.x.dtype == np.float32 and split.x.shape[1] == 400
        assert split.y.dtype == np.int32 and set(np.unique(split.y)) <= set(range(10))
        assert split.x.min() >= 0.0 and split.x.max() <= 1.0
        # Canonical: every image fitted into the 20x20 box, touching it along its longer side.
        images = split.x.reshape(-1, *IMAGE_SHAPE)
        rows = (images > 0.1).any(axis=2).sum(axis=1)
        cols = (images > 0.1).any(axis=1).sum(axis=1)
        assert np.all(np.maximum(rows, cols) >= 18)
    assert set(np.concatenate([data.train.y, data.validation.y, data.test.y])) == set(range(10))
    if own_test is not None:  # the source's own test split is the test set, as given
        np.testing.assert_array_equal(data.test.x, own_test.x)
    assert load_dataset(config.data, config.seed).fingerprint == data.fingerprint


@pytest.mark.parametrize(
    "source", [s for s, entry in SOURCES.items() if entry.needs_path], ids=lambda s: s.value
)
def test_sources_that_need_a_path_refuse_to_load_without_one(source: DataSource) -> None:
    config = load_config(None, [f"data.source={source.value}"])
    with pytest.raises(DataError, match=f"data.source is {source.value} but data.path is not set"):
        load_dataset(config.data, config.seed)


def _path_of(overrides: list[str]) -> str:
    return overrides[0].split("=", 1)[1]


def test_several_sources_keep_each_test_split_unseen(tmp_path: Path) -> None:
    """Each source is split as it would be alone; training holds none of any test image, the test
    split is the union of the sources' test splits, and `repeat` oversamples training only."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    mnist, folder = _path_of(_mnist(tmp_path / "a")), _path_of(_folder(tmp_path / "b"))
    document = tmp_path / "multi.yaml"
    document.write_text(
        "data:\n"
        "  sources:\n"
        f"    - {{source: mnist, path: {mnist}}}\n"
        f"    - {{source: folder, path: {folder}, name: drawn, repeat: 3}}\n",
        encoding="utf-8",
    )
    config = load_config(document)
    data = load_dataset(config.data, config.seed)
    assert data.source == "mnist+drawn"
    assert list(data.tests) == ["mnist", "drawn"]
    alone = {}
    for name, override in (("mnist", f"data.path={mnist}"), ("drawn", f"data.path={folder}")):
        source = "mnist" if name == "mnist" else "folder"
        single = load_config(None, [f"data.source={source}", override])
        alone[name] = load_dataset(single.data, single.seed)
        np.testing.assert_array_equal(data.tests[name].x, alone[name].test.x)
        np.testing.assert_array_equal(data.tests[name].y, alone[name].test.y)
    assert len(data.test) == sum(len(part.test) for part in alone.values())
    assert len(data.validation) == sum(len(part.validation) for part in alone.values())
    # Training is exactly each source's own training part (the drawn one three times): no test
    # or validation image of any source is in it.
    expected = [alone["mnist"].train, *[alone["drawn"].train] * 3]
    np.testing.assert_array_equal(data.train.x, np.concatenate([part.x for part in expected]))
    np.testing.assert_array_equal(data.train.y, np.concatenate([part.y for part in expected]))
    assert load_dataset(config.data, config.seed).fingerprint == data.fingerprint


def test_sources_and_a_single_source_are_not_mixed(tmp_path: Path) -> None:
    from digitcli.errors import ConfigError

    with pytest.raises(ConfigError, match="data.source/data.path or data.sources, not both"):
        load_config(None, ["data.source=mnist", "data.sources=[{source: digits}]"])
    with pytest.raises(ConfigError, match="two sources are named 'digits'"):
        load_config(None, ["data.sources=[{source: digits}, {source: digits}]"])


def test_training_on_several_sources_says_what_it_loads(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from digitcli.cli import app

    folder = _path_of(_folder(tmp_path))
    document = tmp_path / "multi.yaml"
    document.write_text(
        "data:\n"
        "  sources:\n"
        "    - {source: digits}\n"
        f"    - {{source: folder, path: {folder}, name: drawn}}\n"
        "train: {epochs: 1}\n"
        f"output: {{dir: {tmp_path / 'results'}}}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["train", "--config", str(document)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == f"loading data: digits (built in), drawn ({folder})"
