"""The one Keras model factory every command uses, and the export of its weights for NumPy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from digitcli.config import Config, ModelConfig

if TYPE_CHECKING:
    import keras


def build_model(model_config: ModelConfig, learning_rate: float = 0.001) -> keras.Model:
    """Build and compile the Dense network described by `model_config`.

    The last layer has linear activation: it emits logits, and the loss applies softmax itself
    (`from_logits=True`), which is more accurate than a softmax layer followed by log.
    """
    from digitcli.tf_runtime import load_tensorflow

    load_tensorflow()
    import keras

    inputs = keras.Input(shape=(model_config.input_size,), name="pixels")
    hidden = inputs
    last = len(model_config.layers) - 1
    for index, layer in enumerate(model_config.layers):
        name = "logits" if index == last else f"dense_{index + 1}"
        hidden = keras.layers.Dense(layer.units, activation=layer.activation.value, name=name)(
            hidden
        )
    model = keras.Model(inputs=inputs, outputs=hidden, name="digitcli")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def build_model_from_config(config: Config) -> keras.Model:
    return build_model(config.model, config.train.learning_rate)


def load_keras_model(path: Path) -> keras.Model:
    """Load a saved `.keras` model (with its optimizer state), with one clear error if it is broken."""
    from digitcli.errors import ModelError
    from digitcli.tf_runtime import load_tensorflow

    load_tensorflow()
    import keras

    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    try:
        return keras.models.load_model(path, compile=True)
    except Exception as exc:
        raise ModelError(
            f"{path}: cannot load the Keras model (truncated or corrupt?): {exc}"
        ) from exc


def save_weights_npz(model: keras.Model, model_config: ModelConfig, path: Path) -> None:
    """Write kernels, biases and activations so `inference.NumpyModel` can run without TensorFlow."""
    arrays: dict[str, np.ndarray] = {}
    dense_layers = [layer for layer in model.layers if layer.weights]
    for index, layer in enumerate(dense_layers):
        kernel, bias = layer.get_weights()
        arrays[f"kernel_{index}"] = np.asarray(kernel, dtype=np.float32)
        arrays[f"bias_{index}"] = np.asarray(bias, dtype=np.float32)
    arrays["activations"] = np.array([layer.activation.value for layer in model_config.layers])
    with path.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub mistypes **kwds
