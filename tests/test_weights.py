"""weights.npz: the format-2 layout round-trips, and files written in format 1 still load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitcli.errors import ModelError
from digitcli.inference import NumpyModel
from digitcli.layers import Conv2D, Dense, Flatten, LayerBase
from digitcli.vocabulary import Activation
from digitcli.weights import FORMAT_VERSION, StoredModel, load_weights, save_weights


def _dense_weights(rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    sizes = [(400, 25), (25, 15), (15, 10)]
    return [
        {
            "kernel": rng.normal(0, 0.3, size).astype(np.float32),
            "bias": rng.normal(0, 0.1, size[1]).astype(np.float32),
        }
        for size in sizes
    ]


def test_a_format_1_file_still_loads_and_predicts_as_format_2(tmp_path: Path) -> None:
    """The layout of runs saved before layer types: kernel_i, bias_i, activations, no version."""
    weights = _dense_weights(np.random.default_rng(0))
    old = tmp_path / "old.npz"
    np.savez(
        old,
        kernel_0=weights[0]["kernel"],
        bias_0=weights[0]["bias"],
        kernel_1=weights[1]["kernel"],
        bias_1=weights[1]["bias"],
        kernel_2=weights[2]["kernel"],
        bias_2=weights[2]["bias"],
        activations=np.array(["relu", "relu", "linear"]),
    )
    stored = load_weights(old)
    assert stored.layers == [
        Dense(units=25, activation=Activation.relu),
        Dense(units=15, activation=Activation.relu),
        Dense(units=10, activation=Activation.linear),
    ]
    assert stored.input_size == 400

    new = tmp_path / "new.npz"
    save_weights(stored, new)
    with np.load(new) as archive:
        assert int(archive["format_version"]) == FORMAT_VERSION == 2
        assert "layer_0.kernel" in archive.files and "kernel_0" not in archive.files
    x = np.random.default_rng(1).random((20, 400), dtype=np.float32)
    expected = np.maximum(np.maximum(x @ weights[0]["kernel"] + weights[0]["bias"], 0) @ weights[1]["kernel"] + weights[1]["bias"], 0) @ weights[2]["kernel"] + weights[2]["bias"]  # fmt: skip
    np.testing.assert_allclose(NumpyModel.load(old).logits(x), expected, atol=1e-5)
    np.testing.assert_array_equal(NumpyModel.load(new).logits(x), NumpyModel.load(old).logits(x))


def test_format_2_round_trips_every_layer_and_array(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    layers = [Conv2D(type="conv2d", filters=3, kernel_size=5), Flatten(type="flatten"), Dense(units=10, activation=Activation.linear)]  # fmt: skip
    weights = [
        {"kernel": rng.random((5, 5, 1, 3), np.float32), "bias": rng.random(3, np.float32)},
        {},
        {"kernel": rng.random((768, 10), np.float32), "bias": rng.random(10, np.float32)},
    ]
    save_weights(StoredModel(layers, weights), tmp_path / "w.npz")
    loaded = load_weights(tmp_path / "w.npz")
    assert loaded.layers == layers
    for got, want in zip(loaded.weights, weights, strict=True):
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])


def test_unusable_files_are_one_model_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    layers: list[LayerBase] = [Dense(units=10, activation=Activation.linear)]
    good = [{"kernel": rng.random((400, 10), np.float32), "bias": rng.random(10, np.float32)}]
    save_weights(StoredModel(layers, good), tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as archive:
        arrays = dict(archive)

    np.savez(tmp_path / "newer.npz", **(arrays | {"format_version": np.array(3)}))
    with pytest.raises(ModelError, match="weights format 3 is newer than this digitcli reads"):
        load_weights(tmp_path / "newer.npz")

    np.savez(tmp_path / "wrong.npz", **(arrays | {"layer_0.bias": np.zeros(9, np.float32)}))
    with pytest.raises(ModelError, match="wrong.npz: layer 0 has inconsistent shapes"):
        load_weights(tmp_path / "wrong.npz")

    np.savez(tmp_path / "alien.npz", **(arrays | {"layers": np.array('[{"type": "lstm"}]')}))
    with pytest.raises(ModelError, match="alien.npz: the layer list is not one this digitcli"):
        load_weights(tmp_path / "alien.npz")

    del arrays["layer_0.kernel"]
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(ModelError, match="short.npz: not a readable digitcli weights file"):
        load_weights(tmp_path / "short.npz")
