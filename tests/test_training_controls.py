"""Training controls (optimizer, schedule, weight decay, L2, early stopping): both engines give the
same results with each, and the defaults leave the reference recipe as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from digitcli.config import DataConfig, ModelConfig, TrainConfig, load_config
from digitcli.data import Dataset, load_dataset
from digitcli.engines import EpochLog, FitRequest, fit
from digitcli.training_controls import EarlyStopping, is_reference_optimizer, prepare_model
from digitcli.vocabulary import Monitor, TrainingEngine

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    # 300 built-in digits: 210 to train on, so the last batch of 32 is a partial one.
    return load_dataset(DataConfig(limit=300), seed=5)


def trained(
    data: Dataset, engine: TrainingEngine, train: TrainConfig, stopper: EarlyStopping | None = None
) -> tuple[list[EpochLog], list[np.ndarray]]:
    import keras

    from digitcli.model import build_model

    keras.utils.set_random_seed(3)
    model = build_model(ModelConfig(), learning_rate=train.learning_rate)
    prepare_model(model, train, len(data.train))
    logs = fit(
        engine,
        FitRequest(
            model=model,
            x_train=data.train.x,
            y_train=data.train.y,
            x_val=data.validation.x,
            y_val=data.validation.y,
            epochs=train.epochs,
            batch_size=train.batch_size,
            seed=11,
            augment=DataConfig().augment,
            early_stopping=stopper,
        ),
    )
    return logs, [np.array(weight) for weight in model.get_weights()]


def values(logs: list[EpochLog]) -> np.ndarray:
    return np.array([[log.loss, log.accuracy, log.val_loss, log.val_accuracy] for log in logs])


CONTROLS: list[dict[str, Any]] = [
    {"optimizer": "adamw"},
    {"optimizer": "adamw", "weight_decay": 0.05},
    {"optimizer": "adam", "weight_decay": 0.01},
    {"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9},
    {"schedule": {"kind": "step", "every_epochs": 1, "factor": 0.5}},
    {"schedule": {"kind": "cosine", "min_learning_rate": 0.0001}},
    {"l2": 0.01},
    {"optimizer": "sgd", "learning_rate": 0.05, "l2": 0.001, "schedule": {"kind": "cosine"}},
]


@pytest.mark.parametrize("changes", CONTROLS, ids=lambda changes: json.dumps(changes))
def test_both_engines_train_identically_with_each_control(
    dataset: Dataset, changes: dict[str, Any]
) -> None:
    train = TrainConfig.model_validate({"epochs": 3, **changes})
    assert not is_reference_optimizer(train) or train.l2
    fast_logs, fast_weights = trained(dataset, TrainingEngine.fast, train)
    keras_logs, keras_weights = trained(dataset, TrainingEngine.keras, train)
    np.testing.assert_allclose(values(fast_logs), values(keras_logs), atol=TOLERANCE, rtol=0)
    for one, other in zip(fast_weights, keras_weights, strict=True):
        np.testing.assert_allclose(one, other, atol=TOLERANCE, rtol=0)
    # ... and the control changes training (it is not silently ignored).
    reference_logs, _ = trained(dataset, TrainingEngine.fast, TrainConfig(epochs=3))
    assert not np.allclose(values(fast_logs)[:, 0], values(reference_logs)[:, 0], atol=1e-6)


def test_the_defaults_are_the_reference_recipe() -> None:
    train = TrainConfig()
    assert is_reference_optimizer(train) and train.l2 == 0
    assert not train.early_stopping.enabled


@pytest.mark.parametrize("engine", list(TrainingEngine))
def test_early_stopping_stops_and_keeps_the_best_epoch(
    dataset: Dataset, engine: TrainingEngine
) -> None:
    """min_delta 1 on accuracy: no epoch after the first can improve, so training stops after
    1 + patience epochs and ends with the first epoch's weights."""
    train = TrainConfig(epochs=10)
    stopper = EarlyStopping(Monitor.val_accuracy, patience=2, min_delta=1.0)
    logs, weights = trained(dataset, engine, train, stopper)
    assert [log.epoch for log in logs] == [1, 2, 3]
    assert (stopper.best_epoch, stopper.stopped_epoch, stopper.restored) == (1, 3, True)
    _, first_epoch = trained(dataset, engine, TrainConfig(epochs=1))
    for one, other in zip(weights, first_epoch, strict=True):
        np.testing.assert_array_equal(one, other)


def test_early_stopping_follows_the_monitored_value() -> None:
    stopper = EarlyStopping(Monitor.val_loss, patience=2)
    model: Any = None  # restore_best off: the weights are never read
    stopper.restore_best = False

    def log(epoch: int, val_loss: float) -> EpochLog:
        return EpochLog(epoch, 1.0, 0.5, val_loss, 0.5, 0.1)

    assert [
        stopper.observe(log(epoch, value), model)
        for epoch, value in enumerate([1.0, 0.8, 0.9, 0.7, float("nan"), 0.75], start=1)
    ] == [False, False, False, False, False, True]
    assert (stopper.best_epoch, stopper.best_value, stopper.stopped_epoch) == (4, 0.7, 6)


def test_a_run_with_early_stopping_saves_the_best_epoch(tmp_path: Path) -> None:
    from digitcli.trainer import train

    config = load_config(
        None,
        [
            "data.limit=300",
            "train.epochs=10",
            "train.early_stopping.enabled=true",
            "train.early_stopping.monitor=val_accuracy",
            "train.early_stopping.patience=2",
            "train.early_stopping.min_delta=1",
            f"output.dir={tmp_path}",
        ],
    )
    result = train(config)
    assert len(result.history) == 3  # complete, although shorter than train.epochs
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["early_stopping"] == {
        "monitor": "val_accuracy",
        "best_epoch": 1,
        "best_value": result.history[0].val_accuracy,
        "stopped_epoch": 3,
        "restored_best": True,
    }
    from typer.testing import CliRunner

    from digitcli.cli import app

    shown = CliRunner().invoke(app, ["runs", "show", str(result.run_dir)])
    assert (
        "early stopping: at epoch 3 on val_accuracy (best epoch's weights kept)\n" in shown.stdout
    )
    # The saved model is the first epoch's: its validation accuracy is that epoch's.
    assert result.metrics["validation"]["accuracy"] == pytest.approx(
        result.history[0].val_accuracy, abs=1e-6
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.optimizer=rmsprop", "train.optimizer: Input should be 'adam', 'adamw' or 'sgd'"),
        ("train.schedule.factor=1.5", "train.schedule.factor: Input should be less than 1"),
        ("train.early_stopping.monitor=loss", "train.early_stopping.monitor: Input should be"),
    ],
)
def test_bad_controls_are_config_errors(override: str, message: str) -> None:
    from digitcli.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_an_interrupted_run_with_early_stopping_resumes_to_the_same_end(tmp_path: Path) -> None:
    """The checkpoint keeps early stopping's best weights so far: interrupted after epoch 2 and
    resumed, the run stops at epoch 4 with epoch 1's weights, like an uninterrupted one."""
    from digitcli.errors import TrainingInterrupted
    from digitcli.trainer import TrainCallbacks, train

    config = load_config(
        None,
        [
            "data.limit=300",
            "train.epochs=10",
            "train.early_stopping.enabled=true",
            "train.early_stopping.monitor=val_accuracy",
            "train.early_stopping.patience=3",
            "train.early_stopping.min_delta=1",
            f"output.dir={tmp_path}",
        ],
    )
    whole = train(config)
    epochs: list[int] = []
    hooks = TrainCallbacks(
        on_epoch=lambda log: epochs.append(log.epoch), should_stop=lambda: len(epochs) >= 2
    )
    with pytest.raises(TrainingInterrupted):
        train(config, callbacks=hooks)
    (staging,) = tmp_path.glob("*.partial")
    resumed = train(config, resume=staging)
    assert [log.epoch for log in resumed.history] == [1, 2, 3, 4]
    assert resumed.metrics == whole.metrics
    meta = json.loads((resumed.run_dir / "run.json").read_text())
    assert meta["early_stopping"]["best_epoch"] == 1 and meta["early_stopping"]["restored_best"]
