"""The layer table: every layer type `model.layers` can hold, and how a list of them fits together.

Each type is one class in this package (its config fields, output shape, Keras layer, NumPy forward
pass and weight names); `LayerConfig` below is the table. Adding a type means writing its class and
adding it to `LayerConfig`: the config, the reference docs, the model factory, `weights.npz` and the
NumPy engine all read the table.

How layers connect: the model's input is the flat 400-pixel canonical image (row-major 20x20, see
`data.to_canonical`). A spatial layer (`conv2d`, `max_pool`, `avg_pool`) reads that input as a
20x20x1 image (the factory inserts the reshape). `dense` needs a flat input, so after spatial
layers a `flatten` must come first: it is never implied, so the config shows every reshape.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from math import prod
from typing import Annotated, Any

from pydantic import Discriminator, Tag

from digitcli.layers.base import LayerBase, LayerFitError, Shape, describe
from digitcli.layers.conv import Conv2D
from digitcli.layers.dense import Dense
from digitcli.layers.normalization import BatchNorm
from digitcli.layers.pooling import AvgPool, MaxPool
from digitcli.layers.reshaping import Dropout, Flatten
from digitcli.vocabulary import IMAGE_SHAPE, INPUT_SIZE, NUM_CLASSES, Activation

__all__ = [
    "IMAGE_INPUT_SHAPE",
    "LAYER_TYPES",
    "AvgPool",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "LayerBase",
    "LayerConfig",
    "LayerFitError",
    "LayerList",
    "MaxPool",
    "PlacedLayer",
    "Shape",
    "check_output",
    "layer_type",
    "parallel_ops",
    "parameter_count",
    "plan",
]

# What a spatial layer sees of the flat input: the canonical image with one channel.
IMAGE_INPUT_SHAPE: Shape = (*IMAGE_SHAPE, 1)


def layer_type(value: Any) -> str:
    """A layer's `type`; a mapping without one is dense, so configs and runs saved before layer
    types existed load unchanged."""
    if isinstance(value, dict):
        return str(value.get("type", "dense"))
    return str(getattr(value, "type", ""))


# The table: one entry per type, its tag the value of its `type` key (a test checks they agree).
LayerConfig = Annotated[
    Annotated[Dense, Tag("dense")]
    | Annotated[Conv2D, Tag("conv2d")]
    | Annotated[MaxPool, Tag("max_pool")]
    | Annotated[AvgPool, Tag("avg_pool")]
    | Annotated[Flatten, Tag("flatten")]
    | Annotated[Dropout, Tag("dropout")]
    | Annotated[BatchNorm, Tag("batch_norm")],
    Discriminator(layer_type),
]

LAYER_TYPES: dict[str, type[LayerBase]] = {
    typing.get_args(member)[1].tag: typing.get_args(member)[0]
    for member in typing.get_args(typing.get_args(LayerConfig)[0])
}

LayerList = list[LayerConfig]


@dataclass(frozen=True)
class PlacedLayer:
    """One layer with the shapes it meets: what the factory, the weights file and NumPy use."""

    index: int
    layer: LayerBase
    input_shape: Shape  # after the reshape, if any
    output_shape: Shape
    reshape: bool  # the flat model input is read as the 20x20x1 image before this layer
    name: str  # the Keras layer's name

    @property
    def weight_shapes(self) -> dict[str, Shape]:
        return self.layer.weight_shapes(self.input_shape)


def _passes_input_through(layer: LayerBase, shape: Shape) -> bool:
    return (
        layer.input_rank is None and not layer.weight_names and layer.output_shape(shape) == shape
    )


def plan(layers: typing.Sequence[LayerBase], input_size: int = INPUT_SIZE) -> list[PlacedLayer]:
    """Every layer with its input and output shapes; LayerFitError names the first that does not fit."""
    shape: Shape = (input_size,)
    at_input = True  # nothing but pass-through layers so far: the image view is still possible
    placed = []
    for index, layer in enumerate(layers):
        kind = layer.type_name

        def fail(reason: str, index: int = index, kind: str = kind) -> LayerFitError:
            return LayerFitError(index, kind, reason)

        reshape = False
        if layer.input_rank == 3 and len(shape) == 1:
            if not at_input or input_size != INPUT_SIZE:
                raise fail(
                    f"needs an image input, not the {describe(shape)} before it "
                    "(spatial layers come before flatten and dense)"
                )
            shape, reshape = IMAGE_INPUT_SHAPE, True
        elif layer.input_rank == 1 and len(shape) != 1:
            raise fail(
                f"needs a flat input, not the {describe(shape)} output before it: "
                "put a flatten layer first"
            )
        try:
            output = layer.output_shape(shape)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        if min(output) < 1:
            raise fail(f"its output would be empty ({describe(output)})")
        at_input = at_input and not reshape and _passes_input_through(layer, shape)
        last = index == len(layers) - 1
        name = "logits" if last else f"{kind}_{index + 1}"
        placed.append(PlacedLayer(index, layer, shape, output, reshape, name))
        shape = output
    return placed


def check_output(layers: typing.Sequence[LayerBase]) -> None:
    """The last layer gives the logits: dense, 10 units, linear (the loss applies softmax itself)."""
    index, output = len(layers) - 1, layers[-1]
    if not isinstance(output, Dense):
        raise LayerFitError(
            index,
            output.type_name,
            "the last layer is the output and must be dense (10 units, linear)",
        )
    if output.units != NUM_CLASSES:
        raise LayerFitError(
            index,
            output.type_name,
            f"the last layer is the output and must have 10 units, not {output.units}",
        )
    if output.activation is not Activation.linear:
        raise LayerFitError(
            index,
            output.type_name,
            "the last layer must be linear: the loss is computed from logits "
            f"(got {output.activation.value})",
        )


def parameter_count(layers: typing.Sequence[LayerBase], input_size: int = INPUT_SIZE) -> int:
    """Weights and biases of all layers (layers that fit: see `plan`)."""
    return sum(
        prod(shape)
        for placed in plan(layers, input_size)
        for shape in placed.weight_shapes.values()
    )


def parallel_ops(layers: typing.Sequence[LayerBase]) -> bool:
    """True when some layer's operations are big enough to gain from TF's multi-threaded executor."""
    return any(layer.parallel_ops for layer in layers)
