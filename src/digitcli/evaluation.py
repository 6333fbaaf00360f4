"""Evaluate a trained model on a data split: accuracy, loss, errors, per-class scores, confusion.

`evaluate_run(...)` finds the model (a run directory, a results root or a model file beside a run's
`config.yaml`), rebuilds the data from the run's saved config (optionally changed by a config file
and `--set` overrides, e.g. to score a digits model on MNIST), runs the NumPy forward pass (or the
Keras model) and returns an `Evaluation`, whose `to_dict()` is the stable JSON document described in
docs/evaluation-schema.md. Nothing here prints; warnings come back in `Evaluation.warnings`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitcli.calibration import Calibration, calibrated_probabilities, expected_calibration_error
from digitcli.config import Config, load_config
from digitcli.errors import DataError, ModelError, UsageError
from digitcli.inference import NumpyModel, cross_entropy
from digitcli.output_files import STDOUT, make_folder, names_folder, write_json
from digitcli.run_files import read_calibration, read_run_info
from digitcli.runs import (
    CONFIG_FILE,
    EVALUATION_FILE,
    RUN_FILE,
    resolve_model,
)
from digitcli.vocabulary import NUM_CLASSES, DataSource, InferenceEngine, SplitName

SCHEMA_VERSION = 3  # 2: the calibration object; 3: model_name
LABELS = list(range(NUM_CLASSES))


@dataclass(frozen=True)
class EvaluationTarget:
    """What to evaluate: the model files and the (possibly overridden) config to rebuild data from."""

    model_dir: Path  # the folder holding config.yaml (normally the run directory)
    run_dir: Path | None  # set when model_dir is a complete run (has run.json)
    weights: Path | None  # None when the user named a .keras file: that model is evaluated
    keras: Path | None
    config: Config  # the run's config with --config / --set applied
    run_config: Config | None  # the config the model was trained with, as saved
    run_fingerprint: str | None  # run.json's data.fingerprint
    calibration: Calibration = field(default_factory=Calibration)  # T = 1 when the run has none
    label: str = ""  # which model, for the user (runs.ModelFiles.label)
    builtin: bool = False  # the bundled model: read-only, its Keras model rebuilt from weights


@dataclass(frozen=True)
class SplitPredictions:
    """One split's images, labels and the model's logits, plus where the data came from."""

    x: np.ndarray  # (N, 400) float32
    y: np.ndarray  # (N,) int32
    logits: np.ndarray  # (N, 10)
    split: str
    source: str
    path: str | None
    fingerprint: str
    matches_run: bool | None  # same data as in training (None: the run's fingerprint is unknown)
    warnings: tuple[str, ...]
    data_seconds: float
    predict_seconds: float
    engine: str = InferenceEngine.numpy.value  # the engine that computed the logits
    temperature: float = 1.0  # the run's calibration

    @property
    def predicted(self) -> np.ndarray:
        result: np.ndarray = np.argmax(self.logits, axis=1)
        return result

    @property
    def probabilities(self) -> np.ndarray:
        """Calibrated: softmax(logits / T), what predict reports."""
        return calibrated_probabilities(self.logits, self.temperature)

    @property
    def raw_probabilities(self) -> np.ndarray:
        """The network's own softmax, before calibration."""
        return calibrated_probabilities(self.logits, 1.0)


@dataclass(frozen=True)
class ClassScores:
    digit: int
    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Scores:
    """The metrics of one set of predictions, independent of where the model and data came from."""

    n_images: int
    accuracy: float
    loss: float
    errors: int
    per_class: list[ClassScores]
    macro_avg: dict[str, float]  # precision, recall, f1 (unweighted mean over digits 0-9), support
    confusion_matrix: list[list[int]]  # rows: true digit, columns: predicted digit


@dataclass(frozen=True)
class CalibrationScores:
    """How well the confidence matches accuracy on the evaluated images, before and after T."""

    temperature: float
    fitted: bool  # False: the run has no calibration.json (trained before it existed): T = 1
    ece_before: float
    ece_after: float
    loss_after: float  # cross-entropy of softmax(logits / T)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Evaluation:
    run: str
    model: str
    model_name: str  # runs.ModelFiles.label: `builtin real-pictures (bundled)`, or the run's path
    engine: str
    split: str
    source: str
    data_path: str | None
    fingerprint: str
    matches_run: bool | None
    scores: Scores
    calibration: CalibrationScores | None = None
    warnings: tuple[str, ...] = ()
    data_seconds: float = 0.0
    seconds: float = 0.0  # forward pass + metrics, after the data is loaded
    predictions: SplitPredictions | None = field(default=None, repr=False, compare=False)

    @property
    def accuracy(self) -> float:
        return self.scores.accuracy

    builtin: bool = False  # the bundled model, whose folder is never written to

    @property
    def is_run_record(self) -> bool:
        """The run's own test split on the data it was trained with: what evaluation.json keeps."""
        return self.matches_run is True and self.split == SplitName.test.value and not self.builtin

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema: docs/evaluation-schema.md). Timings are left out: they vary."""
        scores = self.scores
        return {
            "schema_version": SCHEMA_VERSION,
            "run": self.run,
            "model": self.model,
            "model_name": self.model_name,
            "engine": self.engine,
            "split": self.split,
            "data": {
                "source": self.source,
                "path": self.data_path,
                "fingerprint": self.fingerprint,
                "matches_run": self.matches_run,
            },
            "n_images": scores.n_images,
            "accuracy": scores.accuracy,
            "loss": scores.loss,
            "errors": scores.errors,
            "per_class": [entry.to_dict() for entry in scores.per_class],
            "macro_avg": dict(scores.macro_avg),
            "confusion_matrix": [list(row) for row in scores.confusion_matrix],
            "calibration": self.calibration.to_dict() if self.calibration is not None else None,
        }


def score_logits(logits: np.ndarray, labels: np.ndarray) -> Scores:
    """Accuracy, cross-entropy, errors, per-class precision/recall/F1/support and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.asarray(labels)
    total = len(labels)
    if total == 0:
        raise DataError("no images to evaluate (the split is empty)")
    predicted = np.argmax(logits, axis=1)
    errors = int(np.count_nonzero(predicted != labels))
    # zero_division=0: a digit never predicted (or absent) scores 0 instead of warning.
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=LABELS, zero_division=0
    )
    macro = precision_recall_fscore_support(
        labels, predicted, labels=LABELS, average="macro", zero_division=0
    )
    matrix = confusion_matrix(labels, predicted, labels=LABELS)
    return Scores(
        n_images=total,
        accuracy=(total - errors) / total,
        loss=cross_entropy(logits, labels),
        errors=errors,
        per_class=[
            ClassScores(
                digit=digit,
                precision=float(precision[digit]),
                recall=float(recall[digit]),
                f1=float(f1[digit]),
                support=int(support[digit]),
            )
            for digit in LABELS
        ],
        macro_avg={
            "precision": float(macro[0]),
            "recall": float(macro[1]),
            "f1": float(macro[2]),
            "support": total,
        },
        confusion_matrix=[[int(count) for count in row] for row in matrix],
    )


def score_calibration(
    logits: np.ndarray, labels: np.ndarray, calibration: Calibration
) -> CalibrationScores:
    """Expected calibration error of the raw and the calibrated probabilities on these images."""
    from digitcli.calibration import negative_log_likelihood

    temperature = calibration.temperature
    return CalibrationScores(
        temperature=temperature,
        fitted=calibration.method != "none",
        ece_before=expected_calibration_error(calibrated_probabilities(logits, 1.0), labels),
        ece_after=expected_calibration_error(calibrated_probabilities(logits, temperature), labels),
        loss_after=negative_log_likelihood(logits, labels, temperature),
    )


def effective_config(
    base: Config | None, config_file: Path | None, overrides: list[str] | None
) -> Config:
    """`base` (the run's config) with a config file's keys and then `--set` overrides laid over it."""
    return load_config(config_file, overrides, base=base)


def resolve_target(
    path: Path | None = None,
    *,
    config_file: Path | None = None,
    overrides: list[str] | None = None,
    default_root: Path = Path("results"),
    need_config: bool = True,
) -> EvaluationTarget:
    """Find the model to evaluate and the config to rebuild its data from (with `need_config`
    False, a bare model file without config.yaml is fine: its data comes from elsewhere)."""
    files = resolve_model(path, default_root)
    model_file = files.weights or files.keras
    model_dir = files.run_dir or (model_file.parent if model_file is not None else Path("."))
    run_config: Config | None = None
    if (model_dir / CONFIG_FILE).is_file():
        run_config = load_config(model_dir / CONFIG_FILE)
    elif config_file is None and need_config:
        raise ModelError(
            f"{model_dir}: no {CONFIG_FILE} beside the model, so the data to evaluate on is "
            "unknown; pass --config FILE"
        )
    fingerprint: str | None = None
    if files.run_dir is not None and (files.run_dir / RUN_FILE).is_file():
        data = read_run_info(files.run_dir).get("data") or {}
        fingerprint = str(data["fingerprint"]) if data.get("fingerprint") else None
    named_keras = path is not None and path.is_file() and path.suffix.lower() == ".keras"
    return EvaluationTarget(
        model_dir=model_dir,
        run_dir=files.run_dir,
        weights=None if named_keras else files.weights,
        keras=files.keras,
        config=effective_config(run_config, config_file, overrides),
        run_config=run_config,
        run_fingerprint=fingerprint,
        calibration=read_calibration(model_dir),
        label=files.label,
        builtin=files.builtin is not None,
    )


def choose_engine(
    target: EvaluationTarget, engine: InferenceEngine | str | None
) -> InferenceEngine:
    """The engine asked for; by default NumPy when there is a weights.npz, else TensorFlow (as predict
    falls back), and TensorFlow for a named .keras file."""
    if engine is not None:
        return InferenceEngine(engine)
    return InferenceEngine.numpy if target.weights is not None else InferenceEngine.tf


def _logits(
    target: EvaluationTarget, x: np.ndarray, engine: InferenceEngine
) -> tuple[np.ndarray, str]:
    if engine is InferenceEngine.numpy:
        if target.weights is None:
            named = target.keras if target.keras is not None else target.model_dir
            raise ModelError(
                f"{named}: the NumPy engine reads weights.npz, and there is none to read here; "
                "use --engine tf (or name the run directory or its weights.npz)"
            )
        return NumpyModel.load(target.weights).logits(x), str(target.weights)
    if target.builtin and target.weights is not None:
        from digitcli.model import model_from_weights

        model, model_path = model_from_weights(target.weights), target.weights
    elif target.keras is None:
        raise ModelError(f"{target.model_dir}: no model.keras for --engine tf; use --engine numpy")
    else:
        from digitcli.model import load_keras_model

        model, model_path = load_keras_model(target.keras), target.keras
    try:
        logits = np.asarray(model.predict(x, batch_size=4096, verbose=0))
    except ValueError as exc:
        raise ModelError(f"{model_path}: the model does not fit these images ({exc})") from exc
    return logits, str(model_path)


def predict_split(
    target: EvaluationTarget,
    split: SplitName | str = SplitName.test,
    engine: InferenceEngine | str | None = None,
) -> tuple[SplitPredictions, str]:
    """Rebuild the data, run the model on one split; returns the predictions and the model file."""
    from digitcli.data import load_dataset

    split = SplitName(split)
    engine = choose_engine(target, engine)
    started = time.perf_counter()
    config = target.config
    dataset = load_dataset(config.data, config.seed)
    data_seconds = time.perf_counter() - started
    part = getattr(dataset, split.value)
    if len(part) == 0:
        raise DataError(f"the {split.value} split of the {dataset.source} data is empty")

    warnings: list[str] = list(dataset.warnings)
    matches: bool | None = None
    if target.run_fingerprint is not None:
        matches = dataset.fingerprint == target.run_fingerprint
        same_recipe = target.run_config is not None and (
            config.data == target.run_config.data and config.seed == target.run_config.seed
        )
        if not matches and same_recipe:
            # The run's own recipe gave different data: its test split may overlap training data.
            warnings.append(
                f"{target.run_dir}: the {dataset.source} data differs from the data this run was "
                f"trained on (fingerprint {dataset.fingerprint}, run.json says "
                f"{target.run_fingerprint}); scores may not be comparable"
            )

    started = time.perf_counter()
    logits, model_file = _logits(target, part.x, engine)
    predictions = SplitPredictions(
        x=part.x,
        y=part.y,
        logits=logits,
        split=split.value,
        source=dataset.source,
        path=config.data.path,
        fingerprint=dataset.fingerprint,
        matches_run=matches,
        warnings=tuple(warnings),
        data_seconds=data_seconds,
        predict_seconds=time.perf_counter() - started,
        engine=engine.value,
        temperature=target.calibration.temperature,
    )
    return predictions, model_file


def evaluate_predictions(
    target: EvaluationTarget, predictions: SplitPredictions, model_file: str, engine: str
) -> Evaluation:
    started = time.perf_counter()
    scores = score_logits(predictions.logits, predictions.y)
    return Evaluation(
        run=str((target.run_dir or target.model_dir).resolve()),
        model=str(Path(model_file).resolve()),
        model_name=target.label,
        builtin=target.builtin,
        engine=InferenceEngine(engine).value,
        split=predictions.split,
        source=predictions.source,
        data_path=predictions.path,
        fingerprint=predictions.fingerprint,
        matches_run=predictions.matches_run,
        scores=scores,
        calibration=score_calibration(predictions.logits, predictions.y, target.calibration),
        warnings=predictions.warnings,
        data_seconds=predictions.data_seconds,
        seconds=predictions.predict_seconds + time.perf_counter() - started,
        predictions=predictions,
    )


def evaluate_run(
    path: Path | None = None,
    *,
    config_file: Path | None = None,
    overrides: list[str] | None = None,
    split: SplitName | str = SplitName.test,
    engine: InferenceEngine | str | None = None,
    default_root: Path = Path("results"),
    data: Path | None = None,
) -> Evaluation:
    """Evaluate the model at `path` (run dir, results root, model file, `builtin`; None: the
    latest run) on its data's `split`, or with `data` on every image of a labelled folder or .npz."""
    # Import scikit-learn's metrics before the clock starts: the timing is about the evaluation.
    import sklearn.metrics  # noqa: F401

    if data is not None and (config_file is not None or overrides):
        raise UsageError("--data names the pictures to score; drop --config and --set")
    target = resolve_target(
        path,
        config_file=config_file,
        overrides=overrides,
        default_root=default_root,
        need_config=data is None,
    )
    if data is not None:
        predictions, model_file = predict_labelled(target, data, engine)
    else:
        predictions, model_file = predict_split(target, split, engine)
    return evaluate_predictions(target, predictions, model_file, predictions.engine)


ALL_IMAGES = "all"  # the `split` of an evaluation of every image of --data


def load_labelled(data: Path) -> tuple[np.ndarray, np.ndarray, DataSource]:
    """Every image of a labelled folder (subfolders 0-9: each picture canonicalised as predict
    does) or of a Keras-layout .npz (x_train and x_test together), with no split, through the
    data-source registry."""
    from digitcli.config import DataConfig
    from digitcli.data import load_source

    if not data.exists():
        raise DataError(f"{data}: not found (--data takes a folder with subfolders 0-9 or a .npz)")
    if data.is_dir():
        source = DataSource.folder
    elif data.suffix.lower() == ".npz":
        source = DataSource.npz
    else:
        raise UsageError(f"{data}: --data takes a folder with subfolders 0-9 or a .npz file")
    pool, own_test = load_source(DataConfig(source=source, path=str(data)), seed=0)
    if own_test is None:
        return pool.x, pool.y, source
    return np.concatenate([pool.x, own_test.x]), np.concatenate([pool.y, own_test.y]), source


def predict_labelled(
    target: EvaluationTarget, data: Path, engine: InferenceEngine | str | None = None
) -> tuple[SplitPredictions, str]:
    """Run the model on every image of `data` (see `load_labelled`)."""
    from digitcli.data import fingerprint

    engine = choose_engine(target, engine)
    started = time.perf_counter()
    x, y, source = load_labelled(data)
    data_seconds = time.perf_counter() - started
    started = time.perf_counter()
    logits, model_file = _logits(target, x, engine)
    predictions = SplitPredictions(
        x=x,
        y=y,
        logits=logits,
        split=ALL_IMAGES,
        source=source.value,
        path=str(data),
        fingerprint=fingerprint(x, y),
        matches_run=None,
        warnings=(),
        data_seconds=data_seconds,
        predict_seconds=time.perf_counter() - started,
        engine=engine.value,
        temperature=target.calibration.temperature,
    )
    return predictions, model_file


def evaluation_output_path(
    evaluation: Evaluation, output: str | Path | None, *, printed_json: bool = False
) -> Path | None:
    """Where the evaluation's JSON goes, or None for nowhere.

    `output` (`-o`): a file; a folder (existing, or named with a trailing slash) for
    evaluation.json inside it; `-` for stdout. Without it, `<run>/evaluation.json` is written
    only for the run's own record: its test split, on the data it was trained with (the
    fingerprint matches), and not when the document was printed with --json. Evaluations on other
    data or splits never overwrite it.
    """
    if output is not None:
        text = str(output)
        if text == STDOUT:
            return Path(STDOUT)
        return Path(text) / EVALUATION_FILE if names_folder(text) else Path(text)
    if printed_json or not evaluation.is_run_record:
        return None
    return Path(evaluation.run) / EVALUATION_FILE


def save_evaluation(
    evaluation: Evaluation, output: str | Path | None = None, *, printed_json: bool = False
) -> Path | None:
    """Write the evaluation's JSON document (see `evaluation_output_path`); returns where, if
    anywhere."""
    destination = evaluation_output_path(evaluation, output, printed_json=printed_json)
    if destination is None:
        return None
    if str(destination) != STDOUT and not destination.parent.is_dir():
        make_folder(destination.parent)
    write_json(destination, evaluation.to_dict())
    return destination


def check_min_accuracy(evaluation: Evaluation, threshold: float | None) -> None:
    """Raise QualityGateError when the accuracy is below `threshold` (None: no gate)."""
    from digitcli.errors import QualityGateError

    if threshold is None:
        return
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(f"--min-accuracy must be between 0 and 1, got {threshold}")
    if evaluation.accuracy < threshold:
        raise QualityGateError(
            f"accuracy {evaluation.accuracy:.4f} is below --min-accuracy {threshold:g} "
            f"({evaluation.scores.errors} errors out of {evaluation.scores.n_images} "
            f"{evaluation.split} images)"
        )
