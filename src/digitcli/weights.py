"""`weights.npz`, the one place that writes and reads it: a model's layers and weights for NumPy.

Format 2 (this version) holds
- `format_version`: 2;
- `input_size`: values per image (400);
- `layers`: the layer list as JSON (the `model.layers` config), so the file alone rebuilds the model;
- `layer_<i>.<name>`: layer i's weight arrays in float32, named by its type (`kernel`, `bias`).

Format 1 (runs written before layer types; no `format_version`) holds only Dense layers:
`kernel_<i>`, `bias_<i>` and `activations`. It is still read, as the equivalent dense layers.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from digitcli.errors import ModelError
from digitcli.layers import Dense, LayerBase, LayerFitError, plan
from digitcli.vocabulary import INPUT_SIZE, Activation

if TYPE_CHECKING:
    import keras

FORMAT_VERSION = 2


@dataclass(frozen=True)
class StoredModel:
    """What a weights file holds: the layers, each one's named arrays, and the input size."""

    layers: Sequence[LayerBase]
    weights: list[dict[str, np.ndarray]]  # one mapping per layer, {} for layers without weights
    input_size: int = INPUT_SIZE


def weights_from_keras(
    model: keras.Model, layers: Sequence[LayerBase]
) -> list[dict[str, np.ndarray]]:
    """Each layer's arrays from the Keras model `model.build_model` made from `layers`."""
    stored = []
    for placed in plan(layers):
        values = model.get_layer(placed.name).get_weights() if placed.layer.weight_names else []
        stored.append(
            {
                name: np.asarray(value, dtype=np.float32)
                for name, value in zip(placed.layer.weight_names, values, strict=True)
            }
        )
    return stored


def save_weights(stored: StoredModel, path: Path) -> None:
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION),
        "input_size": np.array(stored.input_size),
        "layers": np.array(json.dumps([layer.model_dump(mode="json") for layer in stored.layers])),
    }
    for index, weights in enumerate(stored.weights):
        for name, value in weights.items():
            arrays[f"layer_{index}.{name}"] = np.asarray(value, dtype=np.float32)
    with path.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub mistypes **kwds


def save_keras_weights(model: keras.Model, layers: Sequence[LayerBase], path: Path) -> None:
    """Write the weights of the Keras model built from `layers` (what `train` saves)."""
    save_weights(StoredModel(layers, weights_from_keras(model, layers)), path)


def _read_format_1(archive: Any, path: Path) -> StoredModel:
    activations = [str(name) for name in archive["activations"]]
    known = {activation.value for activation in Activation}
    unknown = sorted(set(activations) - known)
    if unknown:
        raise ModelError(f"{path}: unknown activation(s) {', '.join(unknown)}")
    weights = [
        {
            "kernel": archive[f"kernel_{i}"].astype(np.float32),
            "bias": archive[f"bias_{i}"].astype(np.float32),
        }
        for i in range(len(activations))
    ]
    for index, arrays in enumerate(weights):
        if arrays["kernel"].ndim != 2 or arrays["bias"].ndim != 1:
            raise ModelError(f"{path}: layer {index} has inconsistent shapes")
    layers: list[LayerBase] = [
        Dense(units=arrays["kernel"].shape[1], activation=Activation(name))
        for arrays, name in zip(weights, activations, strict=True)
    ]
    return StoredModel(layers, weights, int(weights[0]["kernel"].shape[0]))


def _read_format_2(archive: Any, path: Path) -> StoredModel:
    from pydantic import TypeAdapter, ValidationError

    from digitcli.layers import LayerConfig, LayerList

    try:
        layers: list[LayerConfig] = TypeAdapter(LayerList).validate_python(
            json.loads(str(archive["layers"]))
        )
    except (ValidationError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: the layer list is not one this digitcli knows ({exc})") from exc
    weights = []
    for index, layer in enumerate(layers):
        weights.append(
            {
                name: archive[f"layer_{index}.{name}"].astype(np.float32)
                for name in layer.weight_names
            }
        )
    return StoredModel(layers, weights, int(archive["input_size"]))


def load_weights(path: Path) -> StoredModel:
    """Read a weights file of any format; one ModelError line when it is missing or unusable."""
    if not path.is_file():
        raise ModelError(f"{path}: weights file not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            version = int(archive["format_version"]) if "format_version" in archive else 1
            if version > FORMAT_VERSION:
                raise ModelError(
                    f"{path}: weights format {version} is newer than this digitcli reads "
                    f"({FORMAT_VERSION}); upgrade digitcli"
                )
            read = _read_format_1 if version == 1 else _read_format_2
            stored = read(archive, path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelError(
            f"{path}: not a readable digitcli weights file (truncated or corrupt?): {exc}"
        ) from exc
    _check_shapes(stored, path)
    return stored


def _check_shapes(stored: StoredModel, path: Path) -> None:
    try:
        placed = plan(stored.layers, stored.input_size)
    except LayerFitError as exc:
        raise ModelError(f"{path}: {exc}") from exc
    for layer, weights in zip(placed, stored.weights, strict=True):
        expected = layer.weight_shapes
        found = {name: tuple(value.shape) for name, value in weights.items()}
        if found != expected:
            raise ModelError(f"{path}: layer {layer.index} has inconsistent shapes")
