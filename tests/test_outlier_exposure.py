"""Outlier exposure: the non-digit loss, the synthetic non-digits, and both engines training on them
alike. Off by default; on with train.outlier_exposure.enabled."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_engines import assert_histories_close, fresh_model, request

from digitcli.config import DataConfig, load_config
from digitcli.data import load_dataset
from digitcli.engines import fit, outlier_exposure_loss
from digitcli.negatives import (
    ASCII_GLYPHS,
    NOT_A_DIGIT,
    UNICODE_GLYPHS,
    make_negatives,
)
from digitcli.softmax import log_softmax
from digitcli.vocabulary import TrainingEngine

REPO = Path(__file__).resolve().parents[1]


def test_the_non_digit_loss_is_the_cross_entropy_to_the_uniform_distribution() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (6, 10)).astype(np.float32)
    labels = np.array([3, NOT_A_DIGIT, 0, NOT_A_DIGIT, 9, 5])
    got = np.asarray(outlier_exposure_loss(labels, logits, 0.5))
    log_p = log_softmax(logits)
    expected = np.where(
        labels >= 0,
        -log_p[np.arange(6), np.maximum(labels, 0)],
        0.5 * -log_p.mean(axis=1),  # sum over k of (1/10) * -log p_k
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # Equal logits are the uniform distribution: the least a non-digit can cost, log(10).
    flat = np.asarray(outlier_exposure_loss(np.array([NOT_A_DIGIT]), np.zeros((1, 10)), 1.0))
    assert flat[0] == pytest.approx(np.log(10), rel=1e-6)


def test_negatives_are_canonical_and_reproducible() -> None:
    first = make_negatives(60, seed=3)
    assert first.dtype == np.float32 and first.shape[1] == 400 and 50 <= len(first) <= 60
    assert first.min() >= 0 and first.max() <= 1 and (first.max(axis=1) > 0).all()
    np.testing.assert_array_equal(first, make_negatives(60, seed=3))
    assert not np.array_equal(first[:10], make_negatives(60, seed=4)[:10])


def _measure_glyphs() -> dict[str, tuple[str, ...]]:
    path = REPO / "bench" / "nondigits" / "make_set.py"
    spec = importlib.util.spec_from_file_location("make_set", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_set"] = module
    spec.loader.exec_module(module)
    glyphs: dict[str, tuple[str, ...]] = module.GLYPHS["measure"]
    fonts: tuple[str, ...] = module.FONTS["measure"]
    return {**glyphs, "fonts": fonts}


def test_training_negatives_share_no_font_or_hand_with_the_measured_set() -> None:
    # Split by hand, not by glyph: the measured set's letters are typed in DejaVu and drawn from
    # make_set.py's own templates; the training ones in other fonts and Hershey's hands.
    from digitcli.negatives import FONTS

    measured = _measure_glyphs()
    assert not set(measured["fonts"]) & set(FONTS)
    make_set = (REPO / "bench" / "nondigits" / "make_set.py").read_text()
    assert "Hershey" not in make_set and "negatives" not in make_set.split('"""', 2)[2]


def test_training_negatives_leave_out_glyphs_that_pass_for_digits() -> None:
    from digitcli.negatives import HERSHEY_LETTERS, HERSHEY_SHAPES, HERSHEY_SYMBOLS

    trained = set(ASCII_GLYPHS + UNICODE_GLYPHS + HERSHEY_LETTERS + HERSHEY_SYMBOLS)
    assert not trained & set("0123456789OoQIiJjl|()[]{}/ZzBbGgqy")
    # The symbolic font's circle (H), dots (A, P), section sign (i), double dagger (k), brace (q).
    assert not set(HERSHEY_SHAPES) & set("AHPikq")


def test_hershey_glyphs_are_strokes_in_a_unit_box() -> None:
    from digitcli.negatives import hershey_strokes

    (letter_a,) = hershey_strokes("futural", "A")
    points = np.array([point for stroke in letter_a for point in stroke])
    assert len(letter_a) == 3  # two slants and the bar
    assert points.min() >= 0 and points.max() <= 1 + 1e-9
    # y points down: the apex of an A is at the top.
    apex = points[np.argmin(points[:, 1])]
    assert abs(apex[0] - 0.5 * np.ptp(points[:, 0])) < 0.1


@pytest.mark.slow
def test_both_engines_train_alike_on_non_digits() -> None:
    data = load_dataset(DataConfig(limit=300), seed=5)
    negatives = make_negatives(40, seed=1)
    x = np.concatenate([data.train.x, negatives])
    y = np.concatenate([data.train.y, np.full(len(negatives), NOT_A_DIGIT, data.train.y.dtype)])
    histories, weights = {}, {}
    for engine in (TrainingEngine.fast, TrainingEngine.keras):
        model: Any = fresh_model()
        histories[engine] = fit(
            engine, request(model, data, epochs=2, x_train=x, y_train=y, outlier_weight=0.5)
        )
        weights[engine] = model.get_weights()
        assert model.loss.__class__.__name__ == "SparseCategoricalCrossentropy"  # restored
    assert_histories_close(histories[TrainingEngine.fast], histories[TrainingEngine.keras])
    for fast_weight, keras_weight in zip(
        weights[TrainingEngine.fast], weights[TrainingEngine.keras], strict=True
    ):
        np.testing.assert_allclose(fast_weight, keras_weight, atol=1e-4, rtol=0)


def test_outlier_exposure_is_off_by_default_and_named_in_the_config() -> None:
    config = load_config(None, [])
    assert config.train.outlier_exposure.enabled is False
    on = load_config(None, ["train.outlier_exposure.enabled=true"])
    assert (on.train.outlier_exposure.fraction, on.train.outlier_exposure.weight) == (0.2, 0.5)
