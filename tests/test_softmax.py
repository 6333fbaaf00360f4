"""my_softmax (NumPy and TensorFlow) against tf.nn.softmax, stated tolerance 1e-6 (float32: 1e-6)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from digitcli.softmax import log_softmax, my_softmax, my_softmax_tf

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def tf() -> Any:
    from digitcli.tf_runtime import load_tensorflow

    return load_tensorflow()


CASES = [
    np.array([1.0, 2.0, 3.0]),
    np.array([1000.0, -1000.0, 0.0, 999.0]),
    np.array([-1000.0, -1000.0, -1001.0]),
    np.random.default_rng(0).normal(0, 5, size=(16, 10)),
    np.random.default_rng(1).normal(0, 300, size=(8, 10)),
]


@pytest.mark.parametrize(
    "logits", CASES, ids=["small", "huge", "very-negative", "batch", "wide-batch"]
)
def test_numpy_softmax_matches_tensorflow(logits: np.ndarray, tf: Any) -> None:
    expected = tf.nn.softmax(tf.constant(logits, dtype=tf.float64)).numpy()
    result = my_softmax(logits)
    assert result.shape == logits.shape
    np.testing.assert_allclose(result, expected, atol=TOLERANCE, rtol=0)
    assert np.all(np.isfinite(result))
    np.testing.assert_allclose(result.sum(axis=-1), 1.0, atol=1e-12)


@pytest.mark.parametrize(
    "logits", CASES, ids=["small", "huge", "very-negative", "batch", "wide-batch"]
)
def test_tensorflow_softmax_matches_tensorflow(logits: np.ndarray, tf: Any) -> None:
    values = tf.constant(logits, dtype=tf.float32)
    np.testing.assert_allclose(
        my_softmax_tf(values).numpy(), tf.nn.softmax(values).numpy(), atol=TOLERANCE, rtol=0
    )


def test_no_overflow_for_extreme_logits() -> None:
    result = my_softmax(np.array([1000.0, -1000.0]))
    np.testing.assert_array_equal(result, [1.0, 0.0])
    assert np.allclose(my_softmax(np.full(10, 1000.0, dtype=np.float32)), 0.1)


def test_integer_logits_and_scalar_rejected(tf: Any) -> None:
    np.testing.assert_allclose(my_softmax([0, 0]), [0.5, 0.5])
    with pytest.raises(ValueError, match="scalar"):
        my_softmax(3.0)
    with pytest.raises(ValueError, match="scalar"):
        my_softmax_tf(tf.constant(3.0))


def test_log_softmax_is_log_of_softmax() -> None:
    logits = np.random.default_rng(2).normal(0, 20, size=(5, 10))
    np.testing.assert_allclose(np.exp(log_softmax(logits)), my_softmax(logits), atol=1e-12)
