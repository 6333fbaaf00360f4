"""Training engines: `fast` (whole epochs in one compiled tf.function) and `keras` (model.fit).

Both train the same compiled model from `model.build_model` with the same optimizer, loss, batch
size, epochs and seed, see the same batches in the same order, and report the same per-epoch
history; the weights they end with agree to float rounding.

Why `fast` is fast: the model is tiny (about 10,000 weights), so a training step is a few dozen
microsecond-sized operations and `model.fit` spends most of its time on per-batch Python and
scheduling overhead. The fast engine keeps the data as tensors and runs every step of an epoch, plus
the validation pass, inside one `tf.function` (Python runs once per epoch), and it

- runs the epoch on TensorFlow's single-threaded executor: handing microsecond operations between
  threads costs more than it saves (a quarter of the time per step on a 2-core machine). Models
  with convolutions (`FitRequest.parallel_ops`, from the layer table) keep the default executor:
  their operations are big enough to share: with bench/train_conv.py's small CNN (10,000 MNIST
  images, batch 32) an epoch took 0.47 s there, 1.45 s on the single-threaded one, 3.0 s with
  `model.fit` (a busy 2-core machine);
- writes the loop with `tf.while_loop` rather than having autograph convert Python code, which took
  most of the first epoch's time;
- applies Adam itself, with the optimizer's own variables (moments, step count, learning rate), in
  fewer operations than `optimizer.apply` (a tenth less time per step, and quicker to trace).

A batch of 32 then takes about 0.1 ms on a 2-core machine: a quarter of it the matrix products,
the rest Adam's element-wise updates and the dispatch of about a hundred small operations.

Measured and left out: XLA (`jit_compile=True`) took about 4 s of CPU to compile, four times the
whole 5,000-image recipe, and its steps were no faster than these; running several epochs per call
would save under a millisecond per epoch and give up live progress and stopping between epochs.

Shuffling is derived from (seed, epoch) alone, so an interrupted run resumed from epoch k replays
exactly the batches an uninterrupted run would have seen.

Outlier exposure (`FitRequest.outlier_weight` > 0): training images labelled `NOT_A_DIGIT` (-1)
are not digits; their loss is `outlier_weight` times the cross-entropy between the uniform
distribution over the ten digits and the softmax, in both engines (`outlier_exposure_loss`). They
never count as right, so the training accuracy is over all images, non-digits included.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from digitcli.config import AugmentConfig
from digitcli.vocabulary import IMAGE_SHAPE, TrainingEngine

if TYPE_CHECKING:
    import keras

    from digitcli.training_controls import EarlyStopping

Tensor = Any  # a tf.Tensor: TensorFlow is imported only when training starts

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")

# TensorFlow's executor that runs a function's operations one after another on the calling thread.
_SINGLE_THREADED_EXECUTOR = "SINGLE_THREADED_EXECUTOR"


@dataclass(frozen=True)
class EpochLog:
    epoch: int  # 1-based
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float

    def as_dict(self) -> dict[str, float]:
        return {
            "epoch": self.epoch,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "val_loss": self.val_loss,
            "val_accuracy": self.val_accuracy,
            "seconds": self.seconds,
        }


EpochCallback = Callable[[EpochLog], None]
StopCheck = Callable[[], bool]


def epoch_permutation(seed: int, epoch: int, size: int) -> np.ndarray:
    """The shuffling order of `epoch` (1-based): a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(size).astype(np.int32)


def epoch_images(x: np.ndarray, seed: int, epoch: int, augment: AugmentConfig) -> np.ndarray:
    """Training images for one epoch: augmented with an RNG derived from (seed, epoch), if enabled."""
    if not augment.enabled:
        return x
    from digitcli.augment import augment_batch

    rng = np.random.default_rng([seed, epoch, 1])
    images = augment_batch(
        x.reshape(-1, *IMAGE_SHAPE),
        rng,
        max_shift=augment.max_shift,
        max_rotation=augment.max_rotation,
        max_scale=augment.max_scale,
        stroke_probability=augment.stroke_probability,
    )
    return images.reshape(len(x), -1).astype(np.float32)


@dataclass
class FitRequest:
    model: keras.Model
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    epochs: int
    batch_size: int
    seed: int
    augment: AugmentConfig
    start_epoch: int = 0  # epochs already done (resume)
    # Run the fast engine's epoch on TensorFlow's default multi-threaded executor instead of the
    # single-threaded one: right for convolutions, whose operations are big enough to share.
    parallel_ops: bool = False
    on_epoch_end: EpochCallback | None = None
    should_stop: StopCheck | None = None
    # Consulted after every epoch by either engine; at the end it restores the best weights.
    early_stopping: EarlyStopping | None = None
    # > 0: y_train holds NOT_A_DIGIT (-1) labels, trained towards the uniform distribution.
    outlier_weight: float = 0.0


def outlier_exposure_loss(labels: Tensor, logits: Tensor, weight: float) -> Tensor:
    """Per-image loss: cross-entropy for digits; for NOT_A_DIGIT (-1) labels, `weight` times the
    cross-entropy to the uniform distribution, logsumexp(z) - mean(z)."""
    import tensorflow as tf

    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    digit = labels >= 0
    crossentropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.maximum(labels, 0), logits=logits
    )
    uniform = tf.reduce_logsumexp(logits, axis=1) - tf.reduce_mean(logits, axis=1)
    return tf.where(digit, crossentropy, weight * uniform)


def fit(engine: TrainingEngine, request: FitRequest) -> list[EpochLog]:
    """Train `request.model` in place; returns the logs of the epochs run (stops early on request,
    or when early stopping says so: then the model ends with the best epoch's weights)."""
    run = _fit_fast if engine is TrainingEngine.fast else _fit_keras
    stopper = request.early_stopping
    if stopper is None:
        return run(request)
    outer_epoch, outer_stop = request.on_epoch_end, request.should_stop

    def on_epoch_end(log: EpochLog) -> None:
        stopper.observe(log, request.model)
        if outer_epoch is not None:
            outer_epoch(log)

    def should_stop() -> bool:
        return stopper.stopped_epoch is not None or (outer_stop is not None and outer_stop())

    logs = run(replace(request, on_epoch_end=on_epoch_end, should_stop=should_stop))
    finished = bool(logs) and (
        stopper.stopped_epoch is not None or logs[-1].epoch == request.epochs
    )
    if finished:  # not when interrupted: a checkpoint keeps the last weights to resume from
        stopper.restore(request.model, logs[-1].epoch)
    return logs


def _plain_adam(optimizer: Any) -> bool:
    """True when `optimizer` is a plain Adam, whose step `_optimizer_update` writes out itself."""
    import keras

    return (
        type(optimizer) is keras.optimizers.Adam
        and not optimizer.amsgrad
        and optimizer.weight_decay is None
        and optimizer.clipnorm is None
        and optimizer.clipvalue is None
        and optimizer.global_clipnorm is None
        and not optimizer.use_ema
        and not optimizer.gradient_accumulation_steps
        and optimizer.loss_scale_factor is None
        and isinstance(optimizer._learning_rate, keras.Variable)
        and all(isinstance(value, float) for value in (optimizer.beta_1, optimizer.beta_2))
        and hasattr(optimizer, "_momentums")
        and hasattr(optimizer, "_velocities")
    )


def _optimizer_update(model: keras.Model) -> Callable[[Sequence[Any]], None]:
    """A function applying one optimizer step to `model.trainable_variables` from their gradients.

    For the plain Adam that `build_model` compiles, the update is written out here on the
    optimizer's own moment, step and learning-rate variables, so the saved model (and a resumed
    run) carries the same optimizer state either engine would leave. It is Keras's formula:
    m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps).
    Anything else (another optimizer, clipping, a schedule) goes through `optimizer.apply`.
    """
    import tensorflow as tf

    optimizer = model.optimizer
    variables = model.trainable_variables
    if not optimizer.built:
        optimizer.build(variables)
    if not (_plain_adam(optimizer) and all(v.dtype == "float32" for v in variables)):

        def apply(gradients: Sequence[Any]) -> None:
            optimizer.apply(gradients, variables)

        return apply

    weights = [variable.value for variable in variables]  # the tf.Variables behind Keras's
    index = [optimizer._get_variable_index(variable) for variable in variables]
    momentums = [optimizer._momentums[i].value for i in index]
    velocities = [optimizer._velocities[i].value for i in index]
    iterations = optimizer.iterations.value
    learning_rate = optimizer._learning_rate.value
    beta_1 = tf.constant(optimizer.beta_1, tf.float32)
    beta_2 = tf.constant(optimizer.beta_2, tf.float32)
    # Computed in Python, as Keras does: float32(1 - 0.9) is not float32(1) - float32(0.9).
    keep_1 = tf.constant(1 - optimizer.beta_1, tf.float32)
    keep_2 = tf.constant(1 - optimizer.beta_2, tf.float32)
    epsilon = tf.constant(optimizer.epsilon, tf.float32)

    def adam(gradients: Sequence[Any]) -> None:
        step = tf.cast(iterations + 1, tf.float32)
        alpha = (
            tf.cast(learning_rate, tf.float32)
            * tf.sqrt(1 - tf.pow(beta_2, step))
            / (1 - tf.pow(beta_1, step))
        )
        for weight, m, v, gradient in zip(weights, momentums, velocities, gradients, strict=True):
            m.assign_add((gradient - m) * keep_1)
            v.assign_add((tf.square(gradient) - v) * keep_2)
            weight.assign_sub(m * alpha / (tf.sqrt(v) + epsilon))
        iterations.assign_add(1)

    return adam


def _executor(tf: Any, parallel_ops: bool) -> contextlib.AbstractContextManager[Any]:
    """Where an epoch's operations run: TF's default executor, or one after another on this thread."""
    if parallel_ops:
        return contextlib.nullcontext()
    single: contextlib.AbstractContextManager[Any] = tf.experimental.function_executor_type(
        _SINGLE_THREADED_EXECUTOR
    )
    return single


def _epoch_done(request: FitRequest, log: EpochLog, logs: list[EpochLog]) -> bool:
    """Record an epoch (both engines): append it, tell `on_epoch_end`; True when asked to stop."""
    logs.append(log)
    if request.on_epoch_end is not None:
        request.on_epoch_end(log)
    return request.should_stop is not None and request.should_stop()


def _fit_fast(request: FitRequest) -> list[EpochLog]:
    from digitcli.tf_runtime import load_tensorflow

    tf = load_tensorflow()

    model = request.model
    variables = model.trainable_variables
    update = _optimizer_update(model)
    count = len(request.y_train)
    batch_size = request.batch_size
    has_validation = len(request.y_val) > 0
    y_train = tf.constant(request.y_train, dtype=tf.int32)
    x_val = tf.constant(request.x_val, dtype=tf.float32)
    y_val = tf.constant(request.y_val, dtype=tf.int32)

    def mean_loss(labels: Tensor, logits: Tensor) -> Tensor:
        # What the compiled SparseCategoricalCrossentropy(from_logits=True) computes, in fewer ops.
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        )

    def correct(labels: Tensor, logits: Tensor) -> Tensor:
        predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
        return tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32))

    def penalty() -> Tensor:
        # L2 penalties (train.l2), which Keras adds to the loss it trains on and reports.
        return tf.add_n(model.losses) if model.losses else None

    def train_loss(labels: Tensor, logits: Tensor) -> Tensor:
        if request.outlier_weight > 0:
            return tf.reduce_mean(outlier_exposure_loss(labels, logits, request.outlier_weight))
        return mean_loss(labels, logits)

    def train_batch(images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = train_loss(labels, logits)
            extra = penalty()
            if extra is not None:
                loss = loss + extra
        update(tape.gradient(loss, variables))
        return loss, correct(labels, logits)

    # Fixed shapes: the function is traced once.
    signature = [
        tf.TensorSpec(request.x_train.shape, tf.float32),
        tf.TensorSpec([count], tf.int32),
    ]

    @tf.function(input_signature=signature, autograph=False)  # type: ignore[untyped-decorator]
    def run_epoch(images: Tensor, order: Tensor) -> tuple[Tensor, ...]:
        def train_step(start: Tensor, loss_sum: Tensor, hits: Tensor) -> tuple[Tensor, ...]:
            size = tf.minimum(batch_size, count - start)  # the last batch may be partial
            batch = tf.slice(order, [start], [size])
            loss, right = train_batch(tf.gather(images, batch), tf.gather(y_train, batch))
            # Keras's epoch loss is the mean of batch losses weighted by batch size.
            return start + size, loss_sum + loss * tf.cast(size, tf.float32), hits + right

        # The loop is written out (autograph off): converting the code took longer than an epoch.
        _, loss_sum, hits = tf.while_loop(
            lambda start, *_: start < count,
            train_step,
            (tf.constant(0), tf.constant(0.0), tf.constant(0.0)),
            parallel_iterations=1,  # each step reads the weights the previous one wrote
        )
        if has_validation:
            logits = model(x_val, training=False)
            val_loss = mean_loss(y_val, logits)
            extra = penalty()
            if extra is not None:
                val_loss = val_loss + extra
            val_accuracy = correct(y_val, logits) / len(request.y_val)
        else:
            val_loss = val_accuracy = tf.constant(np.nan, tf.float32)
        return loss_sum / count, hits / count, val_loss, val_accuracy

    resident = tf.constant(request.x_train, dtype=tf.float32)
    logs: list[EpochLog] = []
    for epoch in range(request.start_epoch + 1, request.epochs + 1):
        started = time.perf_counter()
        if request.augment.enabled:
            augmented = epoch_images(request.x_train, request.seed, epoch, request.augment)
            images = tf.constant(augmented, dtype=tf.float32)
        else:
            images = resident
        order = tf.constant(epoch_permutation(request.seed, epoch, count))
        with _executor(tf, request.parallel_ops):
            results = run_epoch(images, order)
        loss, accuracy, val_loss, val_accuracy = (float(value) for value in results)
        log = EpochLog(epoch, loss, accuracy, val_loss, val_accuracy, time.perf_counter() - started)
        if _epoch_done(request, log, logs):
            break
    return logs


def _fit_keras(request: FitRequest) -> list[EpochLog]:
    """The reference path: `model.fit`, one epoch per call so shuffling and resume match `fast`."""
    model = request.model
    if request.outlier_weight <= 0:
        return _fit_keras_epochs(request)
    import keras

    weight = request.outlier_weight

    def loss(labels: Tensor, logits: Tensor) -> Tensor:
        return outlier_exposure_loss(labels, logits, weight)

    # Same optimizer object (its state carries over); only the loss changes, and it changes back
    # before the model is saved, so model.keras never refers to this function.
    model.compile(optimizer=model.optimizer, loss=loss, metrics=["accuracy"])
    try:
        return _fit_keras_epochs(request)
    finally:
        model.compile(
            optimizer=model.optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )


def _fit_keras_epochs(request: FitRequest) -> list[EpochLog]:
    model = request.model
    logs: list[EpochLog] = []
    validation = (request.x_val, request.y_val) if len(request.y_val) else None
    for epoch in range(request.start_epoch + 1, request.epochs + 1):
        started = time.perf_counter()
        order = epoch_permutation(request.seed, epoch, len(request.y_train))
        images = epoch_images(request.x_train, request.seed, epoch, request.augment)
        history: Any = model.fit(
            images[order],
            request.y_train[order],
            batch_size=request.batch_size,
            epochs=1,
            shuffle=False,
            validation_data=validation,
            verbose=0,
        )
        values = {key: float(history.history.get(key, [np.nan])[-1]) for key in HISTORY_KEYS}
        log = EpochLog(epoch, **values, seconds=time.perf_counter() - started)
        if _epoch_done(request, log, logs):
            break
    return logs
