"""`max_pool` and `avg_pool`: the largest or the mean value of each window, channel by channel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from digitcli.layers.base import LayerBase, Shape, describe
from digitcli.layers.conv import output_side, shifted
from digitcli.vocabulary import Padding


class _Pool(LayerBase):
    type: str  # each pooling type narrows it to its Literal; declared here so it is listed first
    pool_size: int = Field(
        2,  # 2x2 halves the image, the usual step
        gt=0,
        description="Side of the square window in pixels.",
    )
    strides: int | None = Field(
        None,  # non-overlapping windows
        gt=0,
        description="Step between windows, in pixels (null: pool_size).",
    )

    input_rank: ClassVar[int | None] = 3

    @classmethod
    def short_name(cls, fields: Mapping[str, Any]) -> str:
        return f"{str(fields.get('type', '?')).replace('_', '')}{fields.get('pool_size', '')}"

    @property
    def step(self) -> int:
        return self.strides if self.strides is not None else self.pool_size

    def output_shape(self, shape: Shape) -> Shape:
        height, width, channels = shape
        p = self.pool_size
        if p > height or p > width:
            raise ValueError(f"pool {p}x{p} does not fit its {describe(shape)} input")
        sides = [output_side(side, p, self.step, Padding.valid) for side in (height, width)]
        return (sides[0], sides[1], channels)

    def _shifted(self, x: np.ndarray) -> list[np.ndarray]:
        return shifted(x, self.pool_size, self.step)


class MaxPool(_Pool):
    """The largest value of each window (no padding: windows lie inside the image)."""

    type: Literal["max_pool"] = Field(description="max_pool: the largest value of each window.")

    def keras_layer(self, name: str) -> Any:
        import keras

        return keras.layers.MaxPooling2D(self.pool_size, strides=self.step, name=name)

    def forward(self, x: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = self._shifted(x)
        result: np.ndarray = parts[0].copy()
        for part in parts[1:]:
            np.maximum(result, part, out=result)
        return result


class AvgPool(_Pool):
    """The mean value of each window (no padding: windows lie inside the image)."""

    type: Literal["avg_pool"] = Field(description="avg_pool: the mean value of each window.")

    def keras_layer(self, name: str) -> Any:
        import keras

        return keras.layers.AveragePooling2D(self.pool_size, strides=self.step, name=name)

    def forward(self, x: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = self._shifted(x)
        result: np.ndarray = parts[0].copy()
        for part in parts[1:]:
            result += part
        result /= np.float32(len(parts))  # the mean, as Keras: sum, then divide
        return result
