"""Training controls beyond the reference recipe: optimizer, learning-rate schedule, weight decay,
L2 penalty and early stopping, shared by both engines.

The defaults (Adam, constant learning rate, no decay, no penalty, no early stopping) leave the model
exactly as `model.build_model` compiles it, so the reference recipe trains bit for bit as before.
Anything else is a Keras optimizer (and schedule) that both engines apply through
`optimizer.apply`, an L2 penalty both add to the loss (`model.losses`), and one `EarlyStopping`
that both engines' epoch loops consult: the same controls give the same results on either engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from digitcli.config import TrainConfig
from digitcli.vocabulary import Monitor, OptimizerName, ScheduleKind

if TYPE_CHECKING:
    import keras

    from digitcli.engines import EpochLog

ADAMW_WEIGHT_DECAY = 0.004  # Keras's AdamW default, used when train.weight_decay is not set


def is_reference_optimizer(train: TrainConfig) -> bool:
    """Plain Adam at a constant rate without decay: the model stays as build_model compiled it."""
    return (
        train.optimizer is OptimizerName.adam
        and train.schedule.kind is ScheduleKind.constant
        and not train.weight_decay
    )


def steps_per_epoch(train_size: int, batch_size: int) -> int:
    return max(1, math.ceil(train_size / batch_size))


def learning_rate(train: TrainConfig, steps: int) -> Any:
    """The learning rate: a float, or a Keras schedule over optimizer steps (batches)."""
    import keras

    schedule = train.schedule
    if schedule.kind is ScheduleKind.step:
        return keras.optimizers.schedules.ExponentialDecay(
            train.learning_rate,
            decay_steps=schedule.every_epochs * steps,
            decay_rate=schedule.factor,
            staircase=True,
        )
    if schedule.kind is ScheduleKind.cosine:
        return keras.optimizers.schedules.CosineDecay(
            train.learning_rate,
            decay_steps=train.epochs * steps,
            alpha=min(1.0, schedule.min_learning_rate / train.learning_rate),
        )
    return train.learning_rate


def make_optimizer(train: TrainConfig, steps: int) -> Any:
    import keras

    rate = learning_rate(train, steps)
    if train.optimizer is OptimizerName.sgd:
        return keras.optimizers.SGD(rate, momentum=train.momentum, weight_decay=train.weight_decay)
    if train.optimizer is OptimizerName.adamw:
        decay = ADAMW_WEIGHT_DECAY if train.weight_decay is None else train.weight_decay
        return keras.optimizers.AdamW(rate, weight_decay=decay)
    return keras.optimizers.Adam(rate, weight_decay=train.weight_decay or None)


def apply_l2(model: keras.Model, l2: float) -> None:
    """Put an L2 penalty on every kernel (not biases); Keras adds it to the loss (`model.losses`).

    Set on the variables rather than in the layer config, so it is not saved with the model:
    the trainer applies it again to a model it resumes.
    """
    import keras

    if not l2:
        return
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            kernel.regularizer = keras.regularizers.L2(l2)


def prepare_model(model: keras.Model, train: TrainConfig, train_size: int) -> None:
    """Compile `model` with the configured optimizer (unless it is the reference Adam) and penalty."""
    import keras

    if not is_reference_optimizer(train):
        model.compile(
            optimizer=make_optimizer(train, steps_per_epoch(train_size, train.batch_size)),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    apply_l2(model, train.l2)


@dataclass
class EarlyStopping:
    """Watches one validation value per epoch; keeps the best epoch's weights; says when to stop.

    An epoch improves when its value beats the best so far by more than `min_delta`; training stops
    once `patience` epochs in a row did not. A NaN value never improves.
    """

    monitor: Monitor
    patience: int
    min_delta: float = 0.0
    restore_best: bool = True
    best_value: float | None = None
    best_epoch: int | None = None
    best_weights: list[np.ndarray] | None = field(default=None, repr=False)
    stopped_epoch: int | None = None
    restored: bool = False

    @classmethod
    def from_config(cls, train: TrainConfig) -> EarlyStopping | None:
        settings = train.early_stopping
        if not settings.enabled:
            return None
        return cls(settings.monitor, settings.patience, settings.min_delta, settings.restore_best)

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best_value is None:
            return True
        if self.monitor is Monitor.val_loss:
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def replay(self, history: list[EpochLog]) -> None:
        """Take up the best value and epoch from the epochs already run (a resumed run)."""
        for log in history:
            value = float(getattr(log, self.monitor.value))
            if self._improves(value):
                self.best_value, self.best_epoch = value, log.epoch

    def observe(self, log: EpochLog, model: keras.Model) -> bool:
        """Record an epoch; True when training should stop now."""
        value = float(getattr(log, self.monitor.value))
        if self._improves(value):
            self.best_value, self.best_epoch = value, log.epoch
            if self.restore_best:
                self.best_weights = [np.array(weight) for weight in model.get_weights()]
        since = self.best_epoch if self.best_epoch is not None else 0
        if log.epoch - since >= self.patience:
            self.stopped_epoch = log.epoch
        return self.stopped_epoch is not None

    def restore(self, model: keras.Model, last_epoch: int) -> bool:
        """Give `model` the best epoch's weights (if asked and it is not the last); True if done."""
        if not self.restore_best or self.best_weights is None or self.best_epoch == last_epoch:
            return False
        model.set_weights(self.best_weights)
        self.restored = True
        return True

    def summary(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor.value,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "stopped_epoch": self.stopped_epoch,
            "restored_best": self.restored,
        }
