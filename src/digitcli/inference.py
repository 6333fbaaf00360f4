"""Forward pass in NumPy from a run's `weights.npz`: predictions without importing TensorFlow.

Each layer runs its type's NumPy arithmetic (`digitcli.layers`), the same as the Keras layer's, in
float32, so probabilities agree with `--engine tf` to about 1e-6. Images go through in chunks sized
so that the largest intermediate array (a convolution's im2col matrix) stays around 32 MB.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from pathlib import Path

import numpy as np

from digitcli.errors import ModelError
from digitcli.layers import IMAGE_INPUT_SHAPE, Conv2D, Dense, PlacedLayer, plan
from digitcli.softmax import log_softmax, my_softmax
from digitcli.weights import StoredModel, load_weights

_CHUNK_VALUES = 8 * 1024 * 1024  # float32 values in the largest intermediate array of one chunk
_MAX_CHUNK = 8192  # images


@dataclass(frozen=True)
class NumpyModel:
    layers: list[PlacedLayer]
    weights: list[dict[str, np.ndarray]]
    input_size: int

    @classmethod
    def from_stored(cls, stored: StoredModel) -> NumpyModel:
        return cls(plan(stored.layers, stored.input_size), stored.weights, stored.input_size)

    @classmethod
    def load(cls, path: Path) -> NumpyModel:
        return cls.from_stored(load_weights(path))

    @property
    def num_classes(self) -> int:
        return int(self.layers[-1].output_shape[0])

    @property
    def chunk_size(self) -> int:
        """Images per chunk: as many as keep the largest intermediate array near _CHUNK_VALUES."""
        per_image = max(
            prod(placed.input_shape) * max(1, placed.layer.scratch_factor(placed.input_shape))
            + prod(placed.output_shape)
            for placed in self.layers
        )
        return max(1, min(_MAX_CHUNK, _CHUNK_VALUES // per_image))

    def first_layer_filters(self) -> tuple[np.ndarray, int] | None:
        """The first layer's weights as (pixels, units) and the side of their square, if the first
        layer weighs the image directly (dense on the 400 pixels, or a one-channel conv2d)."""
        first, weights = self.layers[0], self.weights[0]
        if isinstance(first.layer, Dense) and first.input_shape[0] == prod(IMAGE_INPUT_SHAPE):
            return weights["kernel"], IMAGE_INPUT_SHAPE[0]
        if isinstance(first.layer, Conv2D) and first.input_shape[2] == 1:
            side = first.layer.kernel_size
            return weights["kernel"].reshape(side * side, -1), side
        return None

    def logits(self, pixels: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Logits for an (N, input_size) array (or one image of input_size pixels)."""
        x = np.asarray(pixels, dtype=np.float32)
        single = x.ndim == 1
        if single:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ModelError(
                f"the model expects {self.input_size} pixels per image, got shape {tuple(x.shape)}"
            )
        step = batch_size or self.chunk_size
        outputs = [self._forward(x[start : start + step]) for start in range(0, len(x), step)]
        result = np.concatenate(outputs) if outputs else np.zeros((0, self.num_classes), np.float32)
        return result[0] if single else result

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return self.layer_outputs(x)[-1]

    def layer_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output for an (N, input_size) float32 array; the last is the logits. What
        a learner looks at as the hidden layers' activations."""
        outputs: list[np.ndarray] = []
        for placed, weights in zip(self.layers, self.weights, strict=True):
            if placed.reshape:
                x = x.reshape(len(x), *IMAGE_INPUT_SHAPE)  # the flat row-major image as 20x20x1
            x = placed.layer.forward(x, weights)
            outputs.append(x)
        return outputs

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        return my_softmax(self.logits(pixels))


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy from logits (what Keras reports as loss)."""
    if len(labels) == 0:
        return float("nan")
    log_probabilities = log_softmax(logits)
    return float(-np.mean(log_probabilities[np.arange(len(labels)), labels]))
