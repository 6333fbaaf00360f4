"""Forward pass in NumPy from a run's `weights.npz`: predictions without importing TensorFlow.

The arithmetic is the same as the Keras model's (x @ W + b, then the activation), in float32, so
probabilities agree with `--engine tf` to about 1e-6.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitcli.errors import ModelError
from digitcli.softmax import log_softmax, my_softmax


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


_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": _relu,
    "linear": _linear,
    "sigmoid": _sigmoid,
    "tanh": _tanh,
}


@dataclass(frozen=True)
class NumpyModel:
    kernels: list[np.ndarray]
    biases: list[np.ndarray]
    activations: list[str]

    @property
    def input_size(self) -> int:
        return int(self.kernels[0].shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.kernels[-1].shape[1])

    @classmethod
    def load(cls, path: Path) -> NumpyModel:
        if not path.is_file():
            raise ModelError(f"{path}: weights file not found")
        try:
            with np.load(path, allow_pickle=False) as archive:
                activations = [str(name) for name in archive["activations"]]
                kernels = [
                    archive[f"kernel_{i}"].astype(np.float32) for i in range(len(activations))
                ]
                biases = [archive[f"bias_{i}"].astype(np.float32) for i in range(len(activations))]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelError(
                f"{path}: not a readable digitcli weights file (truncated or corrupt?): {exc}"
            ) from exc
        unknown = sorted(set(activations) - set(_ACTIVATIONS))
        if unknown:
            raise ModelError(f"{path}: unknown activation(s) {', '.join(unknown)}")
        for index, (kernel, bias) in enumerate(zip(kernels, biases, strict=True)):
            previous = kernels[index - 1].shape[1] if index else kernel.shape[0]
            if kernel.ndim != 2 or bias.shape != (kernel.shape[1],) or kernel.shape[0] != previous:
                raise ModelError(f"{path}: layer {index} has inconsistent shapes")
        return cls(kernels, biases, activations)

    def logits(self, pixels: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Logits for an (N, input_size) array (or one image of input_size pixels)."""
        x = np.asarray(pixels, dtype=np.float32)
        single = x.ndim == 1
        if single:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ModelError(
                f"the model expects {self.input_size} pixels per image, got shape {tuple(x.shape)}"
            )
        outputs = [
            self._forward(x[start : start + batch_size]) for start in range(0, len(x), batch_size)
        ]
        result = np.concatenate(outputs) if outputs else np.zeros((0, self.num_classes), np.float32)
        return result[0] if single else result

    def _forward(self, x: np.ndarray) -> np.ndarray:
        for kernel, bias, activation in zip(
            self.kernels, self.biases, self.activations, strict=True
        ):
            x = _ACTIVATIONS[activation](x @ kernel + bias)
        return x

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        return my_softmax(self.logits(pixels))


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy from logits (what Keras reports as loss)."""
    if len(labels) == 0:
        return float("nan")
    log_probabilities = log_softmax(logits)
    return float(-np.mean(log_probabilities[np.arange(len(labels)), labels]))
