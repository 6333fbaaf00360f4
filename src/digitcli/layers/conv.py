"""`conv2d`: a 2-D convolution over an image, computed in NumPy as one matrix product (im2col)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from digitcli.layers.base import NUMPY_ACTIVATIONS, LayerBase, Shape, describe
from digitcli.vocabulary import Activation, Padding


def output_side(size: int, window: int, strides: int, padding: Padding) -> int:
    if padding is Padding.same:
        return -(-size // strides)
    return (size - window) // strides + 1


def same_padding(size: int, window: int, strides: int) -> tuple[int, int]:
    """Zeros before and after one axis for `same` padding, split as TensorFlow splits them."""
    total = max((output_side(size, window, strides, Padding.same) - 1) * strides + window - size, 0)
    return total // 2, total - total // 2


def shifted(x: np.ndarray, window: int, strides: int) -> list[np.ndarray]:
    """(N, H, W, C) -> window * window views (N, H', W', C), one per offset inside the window, in
    row-major offset order. Slices keep C contiguous, so copying or reducing them is fast (far
    faster than `sliding_window_view`, whose innermost axes are the tiny window)."""
    height = (x.shape[1] - window) // strides + 1
    width = (x.shape[2] - window) // strides + 1
    return [
        x[
            :,
            row : row + strides * (height - 1) + 1 : strides,
            col : col + strides * (width - 1) + 1 : strides,
        ]
        for row in range(window)
        for col in range(window)
    ]


class Conv2D(LayerBase):
    """A 2-D convolution with square kernels. It takes an image: the model's 20x20 input (seen as
    20x20x1) or another spatial layer's output."""

    type: Literal["conv2d"] = Field(description="conv2d: filters slid over the image.")
    filters: int = Field(gt=0, le=4096, description="Number of filters (output channels).")
    kernel_size: int = Field(
        3,  # 3x3: the usual choice for small images
        gt=0,
        description="Side of the square kernel in pixels.",
    )
    strides: int = Field(
        1,  # every position
        gt=0,
        description="Step between kernel positions, in pixels.",
    )
    padding: Padding = Field(
        Padding.valid,  # Keras's default
        description="valid (no padding: the image shrinks) or same (zero padding keeps its size "
        "at strides 1).",
    )
    activation: Activation = Field(
        Activation.relu,  # the usual choice after a convolution
        description="relu, linear, sigmoid or tanh.",
    )

    input_rank: ClassVar[int | None] = 3
    weight_names: ClassVar[tuple[str, ...]] = ("kernel", "bias")

    parallel_ops: ClassVar[bool] = True

    @classmethod
    def short_name(cls, fields: Mapping[str, Any]) -> str:
        return f"conv{fields.get('filters')}x{fields.get('kernel_size')}"

    def output_shape(self, shape: Shape) -> Shape:
        height, width, _ = shape
        k = self.kernel_size
        if self.padding is Padding.valid and (k > height or k > width):
            raise ValueError(f"kernel {k}x{k} does not fit its {describe(shape)} input")
        sides = [output_side(side, k, self.strides, self.padding) for side in (height, width)]
        return (sides[0], sides[1], self.filters)

    def scratch_factor(self, shape: Shape) -> int:
        return self.kernel_size * self.kernel_size  # the im2col matrix

    def weight_shapes(self, shape: Shape) -> dict[str, Shape]:
        k = self.kernel_size
        return {"kernel": (k, k, shape[2], self.filters), "bias": (self.filters,)}

    def keras_layer(self, name: str) -> Any:
        import keras

        return keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding.value,
            activation=self.activation.value,
            name=name,
        )

    def forward(self, x: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
        k, strides = self.kernel_size, self.strides
        if self.padding is Padding.same:
            pad = [same_padding(side, k, strides) for side in x.shape[1:3]]
            x = np.pad(x, [(0, 0), pad[0], pad[1], (0, 0)])
        parts = shifted(x, k, strides)
        count, height, width, channels = parts[0].shape
        rows = count * height * width
        # im2col: one row per output pixel holding its k*k*C inputs in Keras's kernel order (row,
        # column, channel), then one matrix product for the whole batch.
        if channels == 1:
            # Offsets first, so each copy is one contiguous block (rows of 1 value copy slowly);
            # BLAS multiplies the transposed view as it is.
            columns = np.stack(parts).reshape(k * k, rows).T
        else:
            columns = np.stack(parts, axis=3).reshape(rows, k * k * channels)
        out = columns @ weights["kernel"].reshape(k * k * channels, -1)
        out += weights["bias"]
        return NUMPY_ACTIVATIONS[self.activation](out.reshape(count, height, width, -1))
