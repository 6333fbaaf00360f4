"""`dense`: a fully connected layer, x @ kernel + bias, then the activation (the default type)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from digitcli.layers.base import NUMPY_ACTIVATIONS, LayerBase, Shape
from digitcli.vocabulary import Activation


class Dense(LayerBase):
    """A fully connected layer. It takes a flat input: after spatial layers, put a `flatten` first."""

    type: Literal["dense"] = Field(
        "dense",  # the default type, so configs written before layer types existed still load
        description="dense: every output unit weighs every input value.",
    )
    units: int = Field(gt=0, description="Number of neurons in this Dense layer.")
    activation: Activation = Field(
        Activation.relu,  # the usual hidden-layer choice; the output layer must say linear
        description="relu, linear, sigmoid or tanh.",
    )

    input_rank: ClassVar[int | None] = 1
    weight_names: ClassVar[tuple[str, ...]] = ("kernel", "bias")

    @classmethod
    def short_name(cls, fields: Mapping[str, Any]) -> str:
        return str(fields.get("units", "?"))

    def output_shape(self, shape: Shape) -> Shape:
        return (self.units,)

    def weight_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {"kernel": (shape[0], self.units), "bias": (self.units,)}

    def keras_layer(self, name: str) -> Any:
        import keras

        return keras.layers.Dense(self.units, activation=self.activation.value, name=name)

    def forward(self, x: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
        out = x @ weights["kernel"]
        out += weights["bias"]  # in place: no second array of the batch's size
        return NUMPY_ACTIVATIONS[self.activation](out)
