"""What every layer type provides: its config fields, shapes, Keras layer, NumPy forward pass, weights.

A layer type is one pydantic model (the config entry under `model.layers`) whose methods build the
matching Keras layer, run the same arithmetic in NumPy and say what its output and weights look
like. Shapes leave out the batch axis: `(400,)` is a flat vector, `(20, 20, 1)` an image (height,
width, channels). Only NumPy and pydantic are imported here; Keras inside `keras_layer`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from digitcli.strict import StrictModel
from digitcli.vocabulary import Activation

Shape = tuple[int, ...]


def _relu(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.maximum(x, 0, out=x)
    return result


def _linear(x: np.ndarray) -> np.ndarray:
    return x


def _sigmoid(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


def _tanh(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.tanh(x)
    return result


# In place where possible: the input is always a fresh product, never the caller's array.
NUMPY_ACTIVATIONS: dict[Activation, Callable[[np.ndarray], np.ndarray]] = {
    Activation.relu: _relu,
    Activation.linear: _linear,
    Activation.sigmoid: _sigmoid,
    Activation.tanh: _tanh,
}


class LayerFitError(ValueError):
    """A layer that does not fit the output of the one before it (raised during validation)."""

    def __init__(self, index: int, layer_type: str, reason: str) -> None:
        super().__init__(f"layer {index} ({layer_type}): {reason}")
        self.index = index
        self.layer_type = layer_type
        self.reason = reason


def describe(shape: Shape) -> str:
    """`3x3x16` for an image, `25 values` for a flat vector."""
    return "x".join(str(size) for size in shape) if len(shape) == 3 else f"{shape[0]} values"


class LayerBase(StrictModel):
    """Common behaviour; each subclass adds `type: Literal[...]` and its own fields."""

    # What input this type takes: 1 a flat vector, 3 an image (height, width, channels), None any.
    input_rank: ClassVar[int | None] = None
    # Names of its weight arrays, in the order Keras's `layer.get_weights()` returns them.
    weight_names: ClassVar[tuple[str, ...]] = ()
    # Its operations are big enough (convolutions) that TensorFlow's multi-threaded executor runs a
    # training step faster than the single-threaded one (see engines.py).
    parallel_ops: ClassVar[bool] = False

    @classmethod
    def short_name(cls, fields: Mapping[str, Any]) -> str:
        """How `runs list` names a layer of this type from its saved config fields, unvalidated
        (runs written by older versions still list): `conv16x3`, `maxpool2`, `25` for dense..."""
        return str(fields.get("type", "?"))

    @property
    def type_name(self) -> str:
        return str(getattr(self, "type"))  # noqa: B009  # each subclass declares `type`

    def output_shape(self, shape: Shape) -> Shape:
        """The output shape for an input of `shape`; ValueError (the reason) if it does not fit."""
        raise NotImplementedError

    def scratch_factor(self, shape: Shape) -> int:
        """How many times its input's size the largest array `forward` makes (im2col: k*k)."""
        return 1

    def weight_shapes(self, shape: Shape) -> dict[str, Shape]:
        """The shape of each weight array for an input of `shape`."""
        return {}

    def keras_layer(self, name: str) -> Any:
        """The Keras layer computing this one."""
        raise NotImplementedError

    def forward(self, x: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
        """The Keras layer's inference arithmetic in float32 NumPy, on a batch `x`."""
        raise NotImplementedError
