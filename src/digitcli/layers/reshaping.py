"""`flatten` and `dropout`: layers without weights that only reshape or (in training) mask."""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any, Literal

import numpy as np
from pydantic import Field

from digitcli.layers.base import LayerBase, Shape


class Flatten(LayerBase):
    """An image's values in one row, row by row (as Keras's Flatten): what `dense` needs."""

    type: Literal["flatten"] = Field(
        description="flatten: height x width x channels values in one flat row."
    )

    def output_shape(self, shape: Shape) -> Shape:
        return (prod(shape),)

    def keras_layer(self, name: str) -> Any:
        import keras

        return keras.layers.Flatten(name=name)

    def forward(self, x: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
        return x.reshape(len(x), -1)


class Dropout(LayerBase):
    """Zeroes a random share of values while training (seeded); does nothing at inference."""

    type: Literal["dropout"] = Field(
        description="dropout: randomly zero values in training, against overfitting."
    )
    rate: float = Field(
        0.5,  # the rate of the original dropout paper for hidden layers
        ge=0,
        lt=1,
        description="Share of values zeroed at each training step.",
    )

    @classmethod
    def short_name(cls, fields: Mapping[str, Any]) -> str:
        return f"dropout{fields.get('rate')}"

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def keras_layer(self, name: str) -> Any:
        import keras

        return keras.layers.Dropout(self.rate, name=name)

    def forward(self, x: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
        return x
