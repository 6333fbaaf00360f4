"""`batch_norm`: each channel (or unit) normalised, then scaled and shifted by learned weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from digitcli.layers.base import LayerBase, Shape


class BatchNorm(LayerBase):
    """Batch normalisation over the last axis (an image's channels, or a flat input's values): by
    the batch's statistics while training, by their moving averages at inference."""

    type: Literal["batch_norm"] = Field(
        description="batch_norm: normalise, then scale and shift (learned)."
    )
    momentum: float = Field(
        0.99,  # Keras's default
        ge=0,
        lt=1,
        description="How much of the moving averages each training step keeps.",
    )
    epsilon: float = Field(
        0.001,  # Keras's default
        gt=0,
        le=1,
        description="Added to the variance before its square root, for stability.",
    )

    weight_names: ClassVar[tuple[str, ...]] = ("gamma", "beta", "moving_mean", "moving_variance")

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def weight_shapes(self, shape: Shape) -> dict[str, Shape]:
        return dict.fromkeys(self.weight_names, (shape[-1],))

    def keras_layer(self, name: str) -> Any:
        import keras

        return keras.layers.BatchNormalization(
            momentum=self.momentum, epsilon=self.epsilon, name=name
        )

    def forward(self, x: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
        # As TensorFlow's batch_normalization: x * s + (beta - mean * s), s = gamma / sqrt(var + eps).
        scale = weights["gamma"] / np.sqrt(weights["moving_variance"] + np.float32(self.epsilon))
        result: np.ndarray = x * scale + (weights["beta"] - weights["moving_mean"] * scale)
        return result
