"""Temperature scaling and calibration error: the fit against references, and the run's use of it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from digitcli.calibration import (
    THRESHOLD_STEP,
    UNSURE_BUDGET,
    Calibration,
    calibrate,
    calibrated_probabilities,
    choose_min_confidence,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)
from digitcli.errors import ModelError
from digitcli.run_files import read_calibration, write_calibration
from digitcli.runs import CALIBRATION_FILE
from digitcli.softmax import my_softmax


def sampled(temperature: float, n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits / temperature): the true T is known."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 4.0, size=(n, 10))
    probabilities = my_softmax(logits / temperature)
    labels = (probabilities.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return logits, labels


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_the_fit_recovers_the_temperature_the_labels_were_drawn_with(
    true_temperature: float,
) -> None:
    logits, labels = sampled(true_temperature)
    assert fit_temperature(logits, labels) == pytest.approx(true_temperature, rel=0.05)


def test_the_fit_is_the_minimum_of_a_brute_force_grid() -> None:
    logits, labels = sampled(1.7, n=3000, seed=1)
    grid = np.exp(np.linspace(np.log(0.2), np.log(10), 4001))
    losses = [negative_log_likelihood(logits, labels, t) for t in grid]
    best = float(grid[int(np.argmin(losses))])
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(best, rel=2e-3)
    assert negative_log_likelihood(logits, labels, fitted) <= min(losses) + 1e-9


def test_expected_calibration_error_by_hand() -> None:
    # Two bins: confidences 0.9 (two answers, one right) and 0.6 (two answers, both right).
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]], dtype=np.float64)
    labels = np.array([0, 1, 0, 1])
    bins = reliability_bins(probabilities, labels, bins=10)
    assert bins.counts.tolist() == [0, 0, 0, 0, 0, 2, 0, 0, 2, 0]
    assert bins.accuracy[8] == 0.5 and bins.accuracy[5] == 1.0
    # |0.5 - 0.9| * 2/4 + |1.0 - 0.6| * 2/4
    assert expected_calibration_error(probabilities, labels, bins=10) == pytest.approx(0.4)
    # A confidence of exactly 1 falls in the last bin.
    assert reliability_bins(np.array([[1.0, 0.0]]), np.array([0]), bins=10).counts[-1] == 1


def test_calibration_lowers_loss_and_error_of_an_overconfident_model() -> None:
    logits, labels = sampled(3.0, n=5000, seed=2)  # the logits are 3x too sharp
    result = calibrate(logits, labels)
    assert result.method == "temperature" and result.n_images == 5000
    assert result.temperature == pytest.approx(3.0, rel=0.08)
    assert result.nll_after is not None and result.nll_before is not None
    assert result.nll_after < result.nll_before
    assert result.ece_after is not None and result.ece_before is not None
    assert result.ece_after < 0.03 < result.ece_before
    # The winner never changes: only the confidence does.
    calibrated = calibrated_probabilities(logits, result.temperature)
    assert np.array_equal(calibrated.argmax(axis=1), logits.argmax(axis=1))


def test_nothing_to_fit_on_means_no_change() -> None:
    assert calibrate(np.zeros((0, 10)), np.zeros(0, dtype=int)) == Calibration()
    assert fit_temperature(np.zeros((0, 10)), np.zeros(0, dtype=int)) == 1.0


def test_calibration_file_round_trips_and_is_optional(tmp_path: Path) -> None:
    assert read_calibration(tmp_path) == Calibration()  # an older run: T = 1
    fitted = calibrate(*sampled(2.0, n=500))
    write_calibration(tmp_path, fitted)
    assert read_calibration(tmp_path) == fitted
    (tmp_path / CALIBRATION_FILE).write_text('{"temperature": -1}')
    with pytest.raises(ModelError, match="calibration.json: not a readable calibration file"):
        read_calibration(tmp_path)


def test_a_trained_run_is_calibrated_and_predict_and_evaluate_apply_it(
    trained_run: Path, tmp_path: Path
) -> None:
    from digitcli.evaluation import evaluate_run
    from digitcli.inference import NumpyModel
    from digitcli.predict import load_classifier
    from digitcli.runs import resolve_model

    saved = json.loads((trained_run / CALIBRATION_FILE).read_text())
    assert saved["method"] == "temperature" and saved["split"] == "validation"
    temperature = saved["temperature"]
    assert 0.05 < temperature < 20 and temperature != 1.0
    assert saved["nll_after"] <= saved["nll_before"]

    pixels = np.random.default_rng(0).random((5, 400), dtype=np.float32)
    logits = NumpyModel.load(trained_run / "weights.npz").logits(pixels)
    classifier = load_classifier(resolve_model(trained_run))
    assert classifier.temperature == temperature
    np.testing.assert_allclose(classifier(pixels), my_softmax(logits / temperature), atol=1e-6)

    document = evaluate_run(trained_run).to_dict()
    assert document["schema_version"] == 3
    calibration = document["calibration"]
    assert calibration["temperature"] == temperature and calibration["fitted"] is True
    assert 0 <= calibration["ece_after"] <= 1 and 0 <= calibration["ece_before"] <= 1

    # A run trained before calibration existed: no calibration.json, T = 1, nothing fitted.
    older = tmp_path / "older"
    shutil.copytree(trained_run, older)
    (older / CALIBRATION_FILE).unlink()
    assert load_classifier(resolve_model(older)).temperature == 1.0
    old = evaluate_run(older).to_dict()["calibration"]
    assert old["fitted"] is False and old["temperature"] == 1.0
    assert old["ece_before"] == old["ece_after"] == calibration["ece_before"]


def test_the_default_threshold_is_the_largest_that_keeps_unsure_within_the_budget() -> None:
    # 100 answers with top probabilities 0.105, 0.115, ..., 0.995: at most 2 may fall below.
    top = 0.105 + 0.009 * np.arange(100) + 0.0001
    probabilities = np.repeat(((1 - top) / 9)[:, None], 10, axis=1)  # the rest spread thinly
    probabilities[:, 0] = top
    chosen = choose_min_confidence(probabilities, budget=0.02)
    confidence = probabilities.max(axis=1)
    assert np.count_nonzero(confidence < chosen) <= 2
    assert np.count_nonzero(confidence < chosen + THRESHOLD_STEP) > 2  # the largest such step
    assert chosen == pytest.approx(round(chosen / THRESHOLD_STEP) * THRESHOLD_STEP)
    assert choose_min_confidence(np.zeros((0, 10))) == 0.0
    # Every answer certain: every threshold up to 1 keeps them all.
    assert choose_min_confidence(np.eye(10)) == 1.0


def test_a_trained_run_stores_its_threshold_chosen_on_validation(trained_run: Path) -> None:
    from digitcli.config import load_config
    from digitcli.data import load_dataset
    from digitcli.inference import NumpyModel

    saved = read_calibration(trained_run)
    assert saved.min_confidence is not None and 0 < saved.min_confidence < 1
    config = load_config(trained_run / "config.yaml")
    validation = load_dataset(config.data, config.seed).validation
    logits = NumpyModel.load(trained_run / "weights.npz").logits(validation.x)
    confidence = calibrated_probabilities(logits, saved.temperature).max(axis=1)

    def keeps_the_rule(threshold: float) -> bool:
        return bool(np.mean(confidence < threshold) <= UNSURE_BUDGET)

    assert keeps_the_rule(saved.min_confidence)
    assert not keeps_the_rule(saved.min_confidence + THRESHOLD_STEP)  # the largest such step


def test_a_stored_threshold_outside_0_1_is_refused(tmp_path: Path) -> None:
    (tmp_path / CALIBRATION_FILE).write_text('{"temperature": 1.5, "min_confidence": 1.5}')
    with pytest.raises(ModelError, match="min_confidence must be between 0 and 1"):
        read_calibration(tmp_path)


def test_with_labels_the_threshold_also_marks_mostly_wrong_answers_unsure() -> None:
    # 100 answers, confidences 0.105 ... 0.996; the two least sure are right, the next two wrong.
    top = 0.105 + 0.009 * np.arange(100) + 0.0001
    probabilities = np.repeat(((1 - top) / 9)[:, None], 10, axis=1)
    probabilities[:, 0] = top
    labels = np.zeros(100, dtype=np.int64)
    labels[2:4] = 1
    # The budget alone allows 2 answers below (up to 0.12); both are right, so only thresholds
    # with none below qualify: 0.10. With the two wrong ones first, 0.12 keeps the rule.
    assert choose_min_confidence(probabilities, budget=0.02) == pytest.approx(0.12)
    assert choose_min_confidence(probabilities, 0.02, labels) == pytest.approx(0.10)
    labels[:] = 0
    labels[:2] = 1
    assert choose_min_confidence(probabilities, 0.02, labels) == pytest.approx(0.12)
