"""The one Keras model factory every command uses: the layers of `model.layers`, compiled."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from digitcli.config import Config, ModelConfig
from digitcli.layers import IMAGE_INPUT_SHAPE, plan

if TYPE_CHECKING:
    import keras

    from digitcli.runs import ModelFiles


def build_model(model_config: ModelConfig, learning_rate: float = 0.001) -> keras.Model:
    """Build and compile the network described by `model_config`, one Keras layer per entry.

    A spatial first layer reads the flat 400-pixel input as the 20x20x1 image (a Reshape layer,
    row-major as `data.to_canonical` flattens it). The last layer has linear activation: it emits logits, and the loss applies softmax itself
    (`from_logits=True`), which is more accurate than a softmax layer followed by log.
    """
    from digitcli.tf_runtime import load_tensorflow

    load_tensorflow()
    import keras

    inputs = keras.Input(shape=(model_config.input_size,), name="pixels")
    hidden = inputs
    for placed in plan(model_config.layers):
        if placed.reshape:
            hidden = keras.layers.Reshape(IMAGE_INPUT_SHAPE, name="image")(hidden)
        hidden = placed.layer.keras_layer(placed.name)(hidden)
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
        if "safe_mode" in str(exc):  # Keras refuses to run code saved in the file (a Lambda layer)
            raise ModelError(
                f"{path}: the model holds Python code (a Lambda layer), which Keras will not load "
                "from a file, as it could run anything; digitcli's runs never hold one: train "
                "the model with digitcli, or save it without Lambda layers"
            ) from exc
        raise ModelError(
            f"{path}: cannot load the Keras model (truncated or corrupt?): {exc}"
        ) from exc


def model_from_weights(path: Path) -> keras.Model:
    """The Keras model a weights.npz describes, built by the factory and holding those weights
    (the bundled model ships no model.keras: this is its TensorFlow form)."""
    from digitcli.layers import plan
    from digitcli.weights import load_weights

    stored = load_weights(path)
    model = build_model(ModelConfig(input_size=stored.input_size, layers=list(stored.layers)))
    for placed, arrays in zip(plan(stored.layers), stored.weights, strict=True):
        if arrays:
            model.get_layer(placed.name).set_weights(
                [arrays[name] for name in placed.layer.weight_names]
            )
    return model


def load_model_files(files: ModelFiles) -> keras.Model:
    """The Keras model of `files`: its model.keras, else rebuilt from its weights.npz."""
    from digitcli.errors import ModelError

    if files.keras is not None:
        return load_keras_model(files.keras)
    if files.weights is None:
        raise ModelError(f"{files.label}: no model file to load")
    return model_from_weights(files.weights)
