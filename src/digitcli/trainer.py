"""`train`: load data, build the model, fit it, and write a complete run directory.

The CLI only renders what this module reports through callbacks and returns; everything here works
without a terminal and is tested directly.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from digitcli import __version__, signals
from digitcli.config import (
    DATA_PATH_KEYS,
    Config,
    load_config,
    parse_override,
    save_config,
    with_absolute_data_paths,
)
from digitcli.data import Dataset, Split, load_dataset
from digitcli.engines import EpochLog, FitRequest, fit
from digitcli.errors import (
    DigitcliError,
    ModelError,
    OutputError,
    ResourceExhausted,
    TrainingFailed,
    TrainingInterrupted,
    UsageError,
)
from digitcli.inference import NumpyModel, cross_entropy
from digitcli.layers import parallel_ops, parameter_count
from digitcli.output_files import write_json
from digitcli.run_files import (
    epoch_log_from_dict,
    write_calibration,
    write_history,
    write_metrics,
    write_run_info,
)
from digitcli.runs import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    FAILED_SUFFIX,
    KERAS_FILE,
    PARTIAL_SUFFIX,
    RUN_FILE,
    WEIGHTS_FILE,
    check_run_name,
    create_staging_dir,
    finalize_run,
    read_json,
)
from digitcli.training_controls import EarlyStopping, apply_l2, prepare_model

CHECKPOINT_STATE = "state.json"
BEST_WEIGHTS = "best_weights.npz"
FAILURE_FILE = "failure.json"  # in a <name>.failed folder: why the training failed


@dataclass
class TrainResult:
    run_dir: Path
    config: Config
    history: list[EpochLog]
    metrics: dict[str, dict[str, float]]  # split -> loss, accuracy, errors, total
    dataset_sizes: dict[str, int]
    seconds: float


@dataclass
class TrainCallbacks:
    """Hooks for a progress display; all optional."""

    on_start: Callable[[int, int], None] | None = None  # (total epochs, epochs already done)
    on_epoch: Callable[[EpochLog], None] | None = None
    on_status: Callable[[str], None] | None = None  # short messages: "loading data", ...
    on_warning: Callable[[str], None] | None = None  # e.g. an unreadable image skipped
    # Asked after each epoch besides Ctrl-C (e.g. a sweep worker told to stop); True stops training.
    should_stop: Callable[[], bool] | None = None
    interrupted_epochs: list[int] = field(default_factory=list)


class _StopFlag:
    """Set by the first Ctrl-C/SIGTERM; training stops after the epoch in progress."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested


@contextlib.contextmanager
def graceful_interrupts() -> Iterator[_StopFlag]:
    """First SIGINT/SIGTERM asks training to stop at the end of the epoch; a second one aborts."""
    flag = _StopFlag()

    def handle(signum: int, frame: FrameType | None) -> None:
        signals.note(signum)  # the exit code says which: 130 or 143
        if flag.requested:
            raise signals.Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        flag.requested = True

    previous: dict[signal.Signals, Any] = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handle)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _say_loading(config: Config, status: Callable[[str], None]) -> None:
    """Say what is loading (MNIST takes seconds): the source and where from. Nothing when the
    source needs a data.path that is not set: its one error line follows at once."""
    from digitcli.data import SOURCES

    data = config.data
    if data.sources:
        # Several sources: name each with where it is read from, not data.source's default.
        status(
            "loading data: "
            + ", ".join(f"{e.label} ({e.path or 'built in'})" for e in data.sources)
        )
        return
    if data.path is not None:
        where = str(data.path)
    elif SOURCES[data.source].needs_path:
        return
    else:
        where = "Keras's download or cache" if data.source.value == "mnist" else "built in"
    status(f"loading data: {data.source.value} ({where})")


def split_metrics(model: NumpyModel, split: Split) -> dict[str, float]:
    logits = model.logits(split.x)
    predicted = np.argmax(logits, axis=1) if len(split.y) else np.zeros(0, dtype=np.int64)
    errors = int(np.count_nonzero(predicted != split.y))
    total = len(split.y)
    return {
        "loss": cross_entropy(logits, split.y),
        "accuracy": (total - errors) / total if total else float("nan"),
        "errors": errors,
        "total": total,
    }


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {
        "digitcli": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def _save_checkpoint(
    staging: Path,
    model: Any,
    history: list[EpochLog],
    dataset: Dataset,
    metadata: dict[str, Any],
    stopper: EarlyStopping | None = None,
) -> None:
    checkpoint = staging / CHECKPOINT_DIR
    checkpoint.mkdir(exist_ok=True)
    if stopper is not None and stopper.best_weights is not None:
        # Early stopping's best epoch so far, which the resumed run may still end with.
        with (checkpoint / BEST_WEIGHTS).open("wb") as handle:
            np.savez(handle, *stopper.best_weights)
    # model.keras holds the weights and Adam's moments and step count: resuming is exact.
    model.save(checkpoint / f".{KERAS_FILE}.tmp.keras")
    (checkpoint / f".{KERAS_FILE}.tmp.keras").replace(checkpoint / KERAS_FILE)
    write_json(
        checkpoint / CHECKPOINT_STATE,
        {
            "epochs_done": history[-1].epoch if history else 0,
            "history": [log.as_dict() for log in history],
            "data_fingerprint": dataset.fingerprint,
            "metadata": metadata,
        },
    )


def _final_epoch(stopper: EarlyStopping | None) -> int | None:
    """The epoch whose weights the model ends with, when early stopping restored an earlier one."""
    return stopper.best_epoch if stopper is not None and stopper.restored else None


def failure_reason(
    history: list[EpochLog], y_val: np.ndarray, config: Config, *, final: int | None = None
) -> str | None:
    """Why a training gave no usable model, or None: a loss that went NaN/infinite, or a final
    validation accuracy (of epoch `final`, default the last) no better than always guessing the
    commonest digit."""
    rate = f"train.learning_rate is {config.train.learning_rate:g}"
    for log in history:
        values = (log.loss, log.val_loss)
        if not all(math.isfinite(value) for value in values):
            bad = next(value for value in values if not math.isfinite(value))
            return f"the loss diverged ({bad} at epoch {log.epoch}; {rate}: try a smaller one)"
    kept = [log for log in history if log.epoch == final] or history[-1:]
    if not kept or len(y_val) == 0 or not math.isfinite(kept[0].val_accuracy):
        return None
    commonest = int(np.bincount(y_val).max())
    chance = commonest / len(y_val)
    accuracy = kept[0].val_accuracy
    # Compared as counts of right answers: the logged accuracy is float32.
    if round(accuracy * len(y_val)) <= commonest:
        return (
            f"it ended no better than chance (validation accuracy {accuracy:.4f}; always "
            f"guessing the commonest digit scores {chance:.4f}; {rate}, "
            f"{len(history)} epochs)"
        )
    return None


def _keep_failed(staging: Path, config: Config, history: list[EpochLog], reason: str) -> Path:
    """Rename the staging folder to `<name>.failed` (never listed as a run, never `latest`) with
    its config, history and reason, so the failure can be looked at."""
    try:
        save_config(config, staging / CONFIG_FILE)
        write_history(staging, history)
        write_json(staging / FAILURE_FILE, {"reason": reason, "epochs": len(history)})
    except OSError:
        pass  # the reason is still reported; the folder is only for looking at
    shutil.rmtree(staging / CHECKPOINT_DIR, ignore_errors=True)
    base = staging.name.removesuffix(PARTIAL_SUFFIX)
    failed = staging.with_name(f"{base}{FAILED_SUFFIX}")
    if failed.exists():
        failed = staging.with_name(f"{base}-{secrets.token_hex(3)}{FAILED_SUFFIX}")
    try:
        os.rename(staging, failed)
    except OSError:
        return staging
    return failed


@contextlib.contextmanager
def out_of_memory_as_error(config: Config, doing: str) -> Iterator[None]:
    """Turn TensorFlow's multi-line out-of-memory error (or Python's) into one line."""
    try:
        yield
    except Exception as exc:
        from digitcli.tf_runtime import load_tensorflow

        if not isinstance(exc, (MemoryError, load_tensorflow().errors.ResourceExhaustedError)):
            raise
        count = parameter_count(config.model.layers, config.model.input_size)
        raise ResourceExhausted(
            f"out of memory {doing} ({count:,} parameters, batch size "
            f"{config.train.batch_size}): use fewer units or a smaller train.batch_size"
        ) from exc


def check_resume_overrides(overrides: list[str]) -> None:
    """`train --resume` keeps the run's recipe; only where its data files are may change."""
    for text in overrides:
        keys, _ = parse_override(text)
        if ".".join(keys) not in DATA_PATH_KEYS:
            raise UsageError(
                f"--set {text}: --resume continues a run with its saved config; only "
                f"{' and '.join(DATA_PATH_KEYS)} may be changed (the data moved)"
            )


def _load_checkpoint(
    staging: Path, overrides: list[str] | None = None
) -> tuple[Config, Any, list[EpochLog], str, dict[str, Any]]:
    from digitcli.model import load_keras_model

    if not staging.is_dir():
        raise ModelError(f"{staging}: no interrupted run here to resume")
    if not staging.name.endswith(PARTIAL_SUFFIX):
        raise ModelError(
            f"{staging}: this run is complete; only interrupted (.partial) runs resume"
        )
    checkpoint = staging / CHECKPOINT_DIR
    if not (checkpoint / CHECKPOINT_STATE).is_file():
        raise ModelError(f"{staging}: holds no checkpoint (it was not interrupted cleanly)")
    check_resume_overrides(overrides or [])
    config = with_absolute_data_paths(load_config(staging / CONFIG_FILE, overrides))
    state = read_json(checkpoint / CHECKPOINT_STATE)
    model = load_keras_model(checkpoint / KERAS_FILE)
    history = [epoch_log_from_dict(log) for log in state["history"]]
    metadata = state.get("metadata") or {}  # absent in checkpoints of older versions
    return config, model, history, str(state["data_fingerprint"]), metadata


def resolve_resume_target(target: Path, default_root: Path = Path("results")) -> Path:
    """Accept the .partial folder itself, its name, or the run name without the suffix."""
    candidates = [target, target.with_name(target.name + PARTIAL_SUFFIX)]
    if not target.is_absolute() and len(target.parts) == 1:
        candidates += [default_root / target, default_root / (target.name + PARTIAL_SUFFIX)]
    for candidate in candidates:
        if candidate.is_dir() and candidate.name.endswith(PARTIAL_SUFFIX):
            return candidate
    if target.is_dir() and (target / RUN_FILE).is_file():
        raise ModelError(f"{target}: this run is complete; only interrupted runs can be resumed")
    raise ModelError(f"{target}: no interrupted run found to resume")


def training_images(
    config: Config, dataset: Dataset, status: Callable[[str], None]
) -> tuple[np.ndarray, np.ndarray, float]:
    """The training split, plus synthetic non-digits when outlier exposure is on (the same ones on
    resume: they depend only on the seed), and the weight of their loss (0: none)."""
    exposure = config.train.outlier_exposure
    if not exposure.enabled:
        return dataset.train.x, dataset.train.y, 0.0
    from digitcli.negatives import NOT_A_DIGIT, make_negatives

    count = max(1, round(exposure.fraction * len(dataset.train.y)))
    status(f"drawing {count} non-digit images (outlier exposure)")
    negatives = make_negatives(count, config.seed)
    x = np.concatenate([dataset.train.x, negatives]).astype(np.float32)
    y = np.concatenate(
        [dataset.train.y, np.full(len(negatives), NOT_A_DIGIT, dtype=dataset.train.y.dtype)]
    )
    return x, y, exposure.weight


def train(
    config: Config,
    *,
    label: str = "run",
    callbacks: TrainCallbacks | None = None,
    resume: Path | None = None,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    keep_interrupted: bool = True,
    handle_signals: bool = True,
    resume_overrides: list[str] | None = None,
) -> TrainResult:
    """Train per `config` (or continue the interrupted run `resume`) and write the run directory.

    `name` names the run's folder exactly (it must be free; otherwise a unique name is made from
    the time and `label`); `metadata` is recorded in run.json (label, source run, sweep trial).
    With `keep_interrupted` False an interrupted run is deleted instead of checkpointed. With
    `handle_signals` False, Ctrl-C is left to the caller, which stops training through
    `callbacks.should_stop`. `resume_overrides` are `--set` texts for the resumed run's data
    paths (nothing else may change). Data paths are saved absolute, so the run works from any
    folder.
    """
    hooks = callbacks or TrainCallbacks()
    started = time.perf_counter()
    status = hooks.on_status or (lambda message: None)

    from digitcli.model import build_model_from_config
    from digitcli.tf_runtime import load_tensorflow

    history: list[EpochLog] = []
    if resume is not None:
        staging = resolve_resume_target(resume, Path(config.output.dir))
        config, model, history, fingerprint, metadata = _load_checkpoint(staging, resume_overrides)
        apply_l2(model, config.train.l2)  # not saved with the model
        _say_loading(config, status)
        dataset = load_dataset(config.data, config.seed)
        for warning in dataset.warnings:
            if hooks.on_warning is not None:
                hooks.on_warning(warning)
        if dataset.fingerprint != fingerprint:
            raise ModelError(
                f"{staging}: the data changed since this run was interrupted "
                f"(fingerprint {dataset.fingerprint}, was {fingerprint}); start a new run instead"
            )
    else:
        config = with_absolute_data_paths(config)
        if name is not None:  # before minutes of data loading, not after
            check_run_name(Path(config.output.dir), name)
        _say_loading(config, status)
        dataset = load_dataset(config.data, config.seed)
        for warning in dataset.warnings:
            if hooks.on_warning is not None:
                hooks.on_warning(warning)
        status("building model")
        load_tensorflow()
        import keras

        keras.utils.set_random_seed(config.seed)
        with out_of_memory_as_error(config, "building the model"):
            model = build_model_from_config(config)
        prepare_model(model, config.train, len(dataset.train))
        staging = create_staging_dir(Path(config.output.dir), label, name)
        metadata = {"label": label, **(metadata or {})}
        try:
            save_config(config, staging / CONFIG_FILE)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise OutputError(f"{staging}: cannot write ({exc})") from exc

    done = len(history)
    x_train, y_train, outlier_weight = training_images(config, dataset, status)
    run_metadata: dict[str, Any] = metadata or {}
    stopper = EarlyStopping.from_config(config.train)
    if stopper is not None and resume is not None:
        stopper.replay(history)
        best = staging / CHECKPOINT_DIR / BEST_WEIGHTS
        if best.is_file():
            with np.load(best) as saved:
                stopper.best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if hooks.on_start is not None:
        hooks.on_start(config.train.epochs, done)
    try:
        stopping = graceful_interrupts() if handle_signals else contextlib.nullcontext(_StopFlag())
        diverged: list[EpochLog] = []
        shown = hooks.on_epoch

        def on_epoch(log: EpochLog) -> None:
            if not (math.isfinite(log.loss) and math.isfinite(log.val_loss)):
                diverged.append(log)  # no epoch after a NaN can recover: stop now
            if shown is not None:
                shown(log)

        with stopping as interrupted, out_of_memory_as_error(config, "training the model"):
            asked = hooks.should_stop

            def stop() -> bool:
                return bool(diverged) or interrupted() or (asked is not None and asked())

            new_logs = fit(
                config.train.engine,
                FitRequest(
                    model=model,
                    x_train=x_train,
                    y_train=y_train,
                    x_val=dataset.validation.x,
                    y_val=dataset.validation.y,
                    epochs=config.train.epochs,
                    batch_size=config.train.batch_size,
                    seed=config.seed,
                    augment=config.data.augment,
                    start_epoch=done,
                    parallel_ops=parallel_ops(config.model.layers),
                    on_epoch_end=on_epoch,
                    should_stop=stop,
                    early_stopping=stopper,
                    outlier_weight=outlier_weight,
                ),
            )
        history += new_logs
        stopped_early = stopper is not None and stopper.stopped_epoch is not None
        finished = bool(history) and (history[-1].epoch >= config.train.epochs or stopped_early)
        reason = (
            failure_reason(history, dataset.validation.y, config, final=_final_epoch(stopper))
            if diverged or finished
            else None
        )
        if reason is not None:
            kept = _keep_failed(staging, config, history, reason)
            raise TrainingFailed(
                f"training failed: {reason}. Kept for a look in {kept} (not a run, not latest)"
            )
        if history and history[-1].epoch < config.train.epochs and not stopped_early:
            if not keep_interrupted:
                shutil.rmtree(staging, ignore_errors=True)
                raise TrainingInterrupted(
                    f"training interrupted after epoch {history[-1].epoch}/{config.train.epochs}"
                )
            _save_checkpoint(staging, model, history, dataset, run_metadata, stopper)
            raise TrainingInterrupted(
                f"training interrupted after epoch {history[-1].epoch}/{config.train.epochs}; "
                f"checkpoint saved. Resume with: digitcli train --resume {staging}"
            )
        if stopper is not None:
            run_metadata = {**run_metadata, "early_stopping": stopper.summary()}
        return _write_run(staging, config, model, history, dataset, started, run_metadata)
    except KeyboardInterrupt:
        # A second Ctrl-C: abort without a checkpoint; the .partial folder is never used as a run.
        if resume is None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    except DigitcliError:
        if resume is None and not (staging / CHECKPOINT_DIR).exists():
            shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_run(
    staging: Path,
    config: Config,
    model: Any,
    history: list[EpochLog],
    dataset: Dataset,
    started: float,
    metadata: dict[str, Any],
) -> TrainResult:
    from digitcli.weights import save_keras_weights

    try:
        model.save(staging / KERAS_FILE)
        save_keras_weights(model, config.model.layers, staging / WEIGHTS_FILE)
        save_config(config, staging / CONFIG_FILE)
        write_history(staging, history)
    except OSError as exc:
        raise OutputError(f"{staging}: cannot write the run ({exc})") from exc
    numpy_model = NumpyModel.load(staging / WEIGHTS_FILE)
    metrics = {
        name: split_metrics(numpy_model, split)
        for name, split in (
            ("train", dataset.train),
            ("validation", dataset.validation),
            ("test", dataset.test),
            # Several sources: each one's test split too ("test:usps"); "test" is their union.
            *((f"test:{name}", split) for name, split in dataset.tests.items()),
        )
    }
    write_metrics(staging, metrics)
    from digitcli.calibration import calibrate

    # The temperature is fitted on the validation split (never seen by the optimiser): T = 1 when
    # it is empty. metrics.json stays the raw network's (T changes no prediction, only confidence).
    write_calibration(
        staging, calibrate(numpy_model.logits(dataset.validation.x), dataset.validation.y)
    )
    seconds = time.perf_counter() - started
    write_run_info(
        staging,
        {
            "name": staging.name.removesuffix(PARTIAL_SUFFIX),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": _versions(),
            "seed": config.seed,
            "engine": config.train.engine.value,
            "epochs": len(history),
            "data": {
                "source": dataset.source,
                "path": config.data.path,
                "fingerprint": dataset.fingerprint,
                "sizes": dataset.sizes(),
            },
            "wall_seconds": round(seconds, 3),
            "train_seconds": round(sum(log.seconds for log in history), 3),
            "command": " ".join(sys.argv),
            **metadata,
        },
    )
    shutil.rmtree(staging / CHECKPOINT_DIR, ignore_errors=True)
    final = finalize_run(staging)
    return TrainResult(final, config, history, metrics, dataset.sizes(), seconds)
