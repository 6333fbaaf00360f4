"""`my_softmax`: numerically stable softmax in NumPy and in TensorFlow.

Subtracting the row maximum before exponentiating leaves the result unchanged mathematically
(softmax is shift-invariant) but keeps every exponent <= 0, so logits such as 1000 or -1000 neither
overflow to inf nor underflow the whole row to 0. Both versions accept one vector (shape (K,)) or a
batch (shape (N, K)) and normalise along the last axis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # TensorFlow is imported lazily: NumPy users never pay its 5 s import.
    import tensorflow as tf


def my_softmax(logits: npt.ArrayLike) -> np.ndarray:
    """Softmax over the last axis of a vector or a batch of logits, computed in NumPy."""
    values = np.asarray(logits)
    if values.ndim == 0:
        raise ValueError("my_softmax needs a vector or a batch of vectors, got a scalar")
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    shifted = values - np.max(values, axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    result: np.ndarray = exponentials / np.sum(exponentials, axis=-1, keepdims=True)
    return result


def my_softmax_tf(logits: Any) -> tf.Tensor:
    """The same softmax in TensorFlow ops, for use inside models and tf.functions."""
    import tensorflow as tf

    values = tf.convert_to_tensor(logits)
    if values.shape.rank == 0:
        raise ValueError("my_softmax_tf needs a vector or a batch of vectors, got a scalar")
    if not values.dtype.is_floating:
        values = tf.cast(values, tf.float32)
    shifted = values - tf.reduce_max(values, axis=-1, keepdims=True)
    exponentials = tf.exp(shifted)
    return exponentials / tf.reduce_sum(exponentials, axis=-1, keepdims=True)


def log_softmax(logits: npt.ArrayLike) -> np.ndarray:
    """Stable log-softmax in NumPy (for cross-entropy without taking log of a rounded 0)."""
    values = np.asarray(logits, dtype=np.float64)
    shifted = values - np.max(values, axis=-1, keepdims=True)
    result: np.ndarray = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return result
