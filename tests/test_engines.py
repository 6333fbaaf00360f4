"""The training engines: `fast` and `keras` train identically, resume exactly, and stop on request.

The fast engine writes Adam and the epoch loop out itself, so these tests hold it to `model.fit`:
same batches in the same order, the same history, the same weights and optimizer state.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from digitcli.config import AugmentConfig, DataConfig, ModelConfig
from digitcli.data import Dataset, load_dataset
from digitcli.engines import (
    EpochLog,
    FitRequest,
    _optimizer_update,
    epoch_images,
    epoch_permutation,
    fit,
)
from digitcli.vocabulary import TrainingEngine

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    # 300 built-in digits: 210 to train on, so the last batch of 32 is a partial one (18 images).
    return load_dataset(DataConfig(limit=300), seed=5)


# A tiny convolutional network with batch normalisation and dropout: the layers whose training
# differs from Dense's (moving averages, random masks).
CONV_LAYERS: list[dict[str, Any]] = [
    {"type": "conv2d", "filters": 4, "kernel_size": 3},
    {"type": "batch_norm"},
    {"type": "max_pool"},
    {"type": "flatten"},
    {"type": "dropout", "rate": 0.5},
    {"units": 10, "activation": "linear"},
]


def fresh_model(seed: int = 3, optimizer: Any = None, layers: Any = None) -> Any:
    import keras

    from digitcli.model import build_model

    keras.utils.set_random_seed(seed)
    model_config = (
        ModelConfig() if layers is None else ModelConfig.model_validate({"layers": layers})
    )
    model = build_model(model_config, learning_rate=0.001)
    if optimizer is not None:
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    return model


def request(
    model: Any, data: Dataset, epochs: int, *, augment: bool = False, **changes: Any
) -> FitRequest:
    fields: dict[str, Any] = {
        "model": model,
        "x_train": data.train.x,
        "y_train": data.train.y,
        "x_val": data.validation.x,
        "y_val": data.validation.y,
        "epochs": epochs,
        "batch_size": 32,
        "seed": 11,
        "augment": AugmentConfig(enabled=augment),
    }
    fields.update(changes)
    return FitRequest(**fields)


def metrics(log: EpochLog) -> list[float]:
    return [log.loss, log.accuracy, log.val_loss, log.val_accuracy]


def assert_histories_close(first: list[EpochLog], second: list[EpochLog]) -> None:
    assert [log.epoch for log in first] == [log.epoch for log in second]
    for one, other in zip(first, second, strict=True):
        np.testing.assert_allclose(metrics(one), metrics(other), atol=TOLERANCE, rtol=0)


def optimizer_state(model: Any) -> list[np.ndarray]:
    return [np.array(variable.numpy()) for variable in model.optimizer.variables]


def test_data_has_a_partial_last_batch(dataset: Dataset) -> None:
    assert len(dataset.train) % 32 != 0


@pytest.mark.slow
@pytest.mark.parametrize("augment", [False, True], ids=["plain", "augmented"])
def test_fast_and_keras_engines_train_identically(dataset: Dataset, augment: bool) -> None:
    histories, weights, states = {}, {}, {}
    for engine in (TrainingEngine.fast, TrainingEngine.keras):
        model = fresh_model()
        histories[engine] = fit(engine, request(model, dataset, epochs=3, augment=augment))
        weights[engine] = model.get_weights()
        states[engine] = optimizer_state(model)

    assert len(histories[TrainingEngine.fast]) == 3
    assert_histories_close(histories[TrainingEngine.fast], histories[TrainingEngine.keras])
    for fast_weight, keras_weight in zip(
        weights[TrainingEngine.fast], weights[TrainingEngine.keras], strict=True
    ):
        np.testing.assert_allclose(fast_weight, keras_weight, atol=TOLERANCE, rtol=0)
    # Adam's state too (step count, learning rate, moments): a saved model resumes the same way.
    steps = math.ceil(len(dataset.train) / 32) * 3
    assert int(states[TrainingEngine.fast][0]) == int(states[TrainingEngine.keras][0]) == steps
    for fast_state, keras_state in zip(
        states[TrainingEngine.fast], states[TrainingEngine.keras], strict=True
    ):
        np.testing.assert_allclose(fast_state, keras_state, atol=TOLERANCE, rtol=0)


def test_fast_and_keras_engines_train_a_conv_model_with_batch_norm_and_dropout_identically(
    dataset: Dataset,
) -> None:
    """The same batches and the same dropout masks (Keras's seeded generator) in both engines; the
    fast one on TensorFlow's default executor, as `train` runs convolutional models."""
    histories, weights = {}, {}
    for engine in (TrainingEngine.fast, TrainingEngine.keras):
        model = fresh_model(layers=CONV_LAYERS)
        histories[engine] = fit(engine, request(model, dataset, epochs=2, parallel_ops=True))
        weights[engine] = model.get_weights()
    assert_histories_close(histories[TrainingEngine.fast], histories[TrainingEngine.keras])
    for fast_weight, keras_weight in zip(
        weights[TrainingEngine.fast], weights[TrainingEngine.keras], strict=True
    ):
        np.testing.assert_allclose(fast_weight, keras_weight, atol=TOLERANCE, rtol=0)
    # Deterministic: the same seed gives the same weights again, dropout included.
    again = fresh_model(layers=CONV_LAYERS)
    fit(TrainingEngine.fast, request(again, dataset, epochs=2, parallel_ops=True))
    for one, other in zip(weights[TrainingEngine.fast], again.get_weights(), strict=True):
        np.testing.assert_array_equal(one, other)


def test_the_model_learns(dataset: Dataset) -> None:
    logs = fit(TrainingEngine.fast, request(fresh_model(), dataset, epochs=3))
    assert logs[-1].loss < logs[0].loss
    assert logs[-1].accuracy > logs[0].accuracy


@pytest.mark.slow
def test_other_optimizers_train_identically_too(dataset: Dataset) -> None:
    """Anything but plain Adam goes through `optimizer.apply`; it must match model.fit as well."""
    import keras

    results = {}
    for engine in (TrainingEngine.fast, TrainingEngine.keras):
        model = fresh_model(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9))
        results[engine] = (fit(engine, request(model, dataset, epochs=2)), model.get_weights())
    assert_histories_close(results[TrainingEngine.fast][0], results[TrainingEngine.keras][0])
    for fast_weight, keras_weight in zip(
        results[TrainingEngine.fast][1], results[TrainingEngine.keras][1], strict=True
    ):
        np.testing.assert_allclose(fast_weight, keras_weight, atol=TOLERANCE, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("engine", [TrainingEngine.fast, TrainingEngine.keras])
def test_resuming_continues_exactly(dataset: Dataset, engine: TrainingEngine) -> None:
    straight = fresh_model()
    straight_logs = fit(engine, request(straight, dataset, epochs=4))

    resumed = fresh_model()
    first_logs = fit(engine, request(resumed, dataset, epochs=2))
    later_logs = fit(engine, request(resumed, dataset, epochs=4, start_epoch=2))

    assert [log.epoch for log in first_logs + later_logs] == [1, 2, 3, 4]
    assert [metrics(log) for log in first_logs + later_logs] == [
        metrics(log) for log in straight_logs
    ]
    for one, other in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(one, other)
    for one, other in zip(optimizer_state(straight), optimizer_state(resumed), strict=True):
        np.testing.assert_array_equal(one, other)


@pytest.mark.slow
def test_a_saved_and_reloaded_model_continues_like_the_one_in_memory(
    dataset: Dataset, tmp_path: Path
) -> None:
    """What `train --resume` relies on: model.keras carries Adam's state, which the fast engine uses."""
    from digitcli.model import load_keras_model

    model = fresh_model()
    fit(TrainingEngine.fast, request(model, dataset, epochs=2))
    model.save(tmp_path / "model.keras")
    reloaded = load_keras_model(tmp_path / "model.keras")
    # Both take the written-out Adam step, not the slower `optimizer.apply` fallback.
    assert _optimizer_update(model).__name__ == _optimizer_update(reloaded).__name__ == "adam"

    in_memory = fit(TrainingEngine.fast, request(model, dataset, epochs=3, start_epoch=2))
    from_file = fit(TrainingEngine.fast, request(reloaded, dataset, epochs=3, start_epoch=2))
    assert [metrics(log) for log in from_file] == [metrics(log) for log in in_memory]
    for one, other in zip(model.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(one, other)


@pytest.mark.parametrize("engine", [TrainingEngine.fast, TrainingEngine.keras])
def test_progress_callback_and_stop_request(dataset: Dataset, engine: TrainingEngine) -> None:
    seen: list[EpochLog] = []
    logs = fit(
        engine,
        request(
            fresh_model(),
            dataset,
            epochs=5,
            on_epoch_end=seen.append,
            should_stop=lambda: len(seen) >= 2,  # as after a Ctrl-C during epoch 2
        ),
    )
    assert [log.epoch for log in logs] == [1, 2]
    assert seen == logs
    assert all(log.seconds > 0 for log in logs)


@pytest.mark.parametrize("engine", [TrainingEngine.fast, TrainingEngine.keras])
def test_without_validation_data_the_validation_metrics_are_nan(
    dataset: Dataset, engine: TrainingEngine
) -> None:
    empty_x = np.zeros((0, 400), np.float32)
    empty_y = np.zeros(0, np.int32)
    (log,) = fit(engine, request(fresh_model(), dataset, epochs=1, x_val=empty_x, y_val=empty_y))
    assert math.isnan(log.val_loss)
    assert math.isnan(log.val_accuracy)
    assert math.isfinite(log.loss)
    assert 0 <= log.accuracy <= 1


def test_epoch_order_depends_on_seed_and_epoch_only() -> None:
    order = epoch_permutation(seed=7, epoch=3, size=100)
    assert order.dtype == np.int32
    assert sorted(order.tolist()) == list(range(100))
    np.testing.assert_array_equal(order, epoch_permutation(seed=7, epoch=3, size=100))
    assert not np.array_equal(order, epoch_permutation(seed=7, epoch=4, size=100))
    assert not np.array_equal(order, epoch_permutation(seed=8, epoch=3, size=100))


def test_epoch_images_are_the_data_itself_without_augmentation(dataset: Dataset) -> None:
    assert epoch_images(dataset.train.x, 1, 1, AugmentConfig()) is dataset.train.x


def test_augmented_epoch_images_depend_on_seed_and_epoch_only(dataset: Dataset) -> None:
    augment = AugmentConfig(enabled=True)
    images = epoch_images(dataset.train.x, 1, 2, augment)
    assert images.shape == dataset.train.x.shape
    assert images.dtype == np.float32
    np.testing.assert_array_equal(images, epoch_images(dataset.train.x, 1, 2, augment))
    assert not np.array_equal(images, epoch_images(dataset.train.x, 1, 3, augment))
    assert not np.array_equal(images, dataset.train.x)
