"""The shared model factory and the NumPy forward pass built from its saved weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitcli.config import load_config
from digitcli.errors import ModelError
from digitcli.inference import NumpyModel, cross_entropy
from digitcli.model import build_model, build_model_from_config, load_keras_model
from digitcli.weights import save_keras_weights


def test_factory_builds_the_reference_network() -> None:
    model = build_model_from_config(load_config(None))
    dense = [layer for layer in model.layers if layer.weights]
    assert [layer.units for layer in dense] == [25, 15, 10]
    assert [layer.activation.__name__ for layer in dense] == ["relu", "relu", "linear"]
    assert model.input_shape == (None, 400)
    assert model.count_params() == 400 * 25 + 25 + 25 * 15 + 15 + 15 * 10 + 10
    assert model.optimizer.learning_rate.numpy() == pytest.approx(0.001)
    assert model.loss.get_config()["from_logits"] is True


def test_factory_follows_other_widths_and_depths() -> None:
    config = load_config(
        None,
        ["model.layers.0.units=64", "train.learning_rate=0.01"],
    )
    config.model.layers.insert(1, config.model.layers[0].model_copy(update={"units": 32}))
    model = build_model(config.model, config.train.learning_rate)
    assert [layer.units for layer in model.layers if layer.weights] == [64, 32, 15, 10]


def test_numpy_forward_pass_matches_keras(tmp_path: Path) -> None:
    config = load_config(None)
    model = build_model_from_config(config)
    save_keras_weights(model, config.model.layers, tmp_path / "weights.npz")
    numpy_model = NumpyModel.load(tmp_path / "weights.npz")
    images = np.random.default_rng(0).random((50, 400), dtype=np.float32)
    np.testing.assert_allclose(
        numpy_model.logits(images), model.predict(images, verbose=0), atol=1e-5
    )
    assert numpy_model.logits(images[0]).shape == (10,)
    with pytest.raises(ModelError, match="expects 400 pixels per image, got shape"):
        numpy_model.logits(np.zeros((2, 784)))


def test_cross_entropy_matches_keras() -> None:
    import keras

    logits = np.random.default_rng(3).normal(0, 4, size=(64, 10)).astype(np.float32)
    labels = np.random.default_rng(4).integers(0, 10, 64)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    assert cross_entropy(logits, labels) == pytest.approx(float(expected), abs=1e-5)


def test_truncated_model_files_give_model_errors(tmp_path: Path) -> None:
    config = load_config(None)
    model = build_model_from_config(config)
    model.save(tmp_path / "model.keras")
    save_keras_weights(model, config.model.layers, tmp_path / "weights.npz")
    for name in ("model.keras", "weights.npz"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="cut-weights.npz: not a readable digitcli weights file"):
        NumpyModel.load(tmp_path / "cut-weights.npz")
    with pytest.raises(ModelError, match="cut-model.keras: cannot load the Keras model"):
        load_keras_model(tmp_path / "cut-model.keras")
    with pytest.raises(ModelError, match="missing.npz: weights file not found"):
        NumpyModel.load(tmp_path / "missing.npz")
