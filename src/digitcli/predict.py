"""Predict the digit in image files, folders of images and .npy arrays: the work behind `predict`.

`collect_inputs` turns command-line paths (files, folders, `-` for paths on stdin) into a list of
`InputItem`s; `predict_inputs` yields one `PredictionRecord` per input, in input order. A `.npy`
array yields one record per image in it, named `file.npy[i]`. An input that cannot be read, or that
holds no ink, yields a record with `digit=None` and the reason in `error`; it never stops the others.

Each record says how far to trust it in `status`: "ok"; "unsure" (the calibrated confidence is
below `min_confidence`: the digit is a best guess, `top3` holds the runners-up; or a number whose
digits stack rather than stand side by side, `overlap_reason`; or a detached dot, as in ? and !,
`nondigit.dot_reason`; or a 5 that is the same upside down, an S, `nondigit.symmetry_reason`; or
digit-like marks elsewhere in the picture left unread, another line of writing, `unread_reason`);
"no_digit" (the picture was read but holds no digit: blank, a speck, or a scene (`nondigit.py`);
`error` and `reason` say why); "error" (the input could not be read).

A picture may hold a number: `preprocess.read_digits` finds each digit, left to right, and the
record carries the `number` and every digit with its confidence and box (specks and dots are no
digit). Every digit of a chunk's pictures goes through the network in one batch.

Speed matters both ways round. One image in a fresh process must not pay for TensorFlow's import, so
the default engine is a NumPy forward pass over the run's `weights.npz`. Thousands of files are read
and canonicalized in chunks (in worker processes when there are many), and each chunk goes through
the network as one matrix multiply, so Python does little per file beyond decoding and preprocessing.
"""

from __future__ import annotations

import io
import math
import os
import re
import signal
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice, pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

import numpy as np

from digitcli.errors import NO_DIGIT_PREFIXES, DigitcliError, ModelError, UsageError
from digitcli.imaging import IMAGE_SUFFIXES, UNSUPPORTED_SUFFIXES, frame_count, load_image
from digitcli.lab_format import lab_rows_to_images
from digitcli.nondigit import dot_reason, scene_reason, symmetry_reason
from digitcli.output_files import make_folder, write_bytes
from digitcli.preprocess import read_digits, warm_up
from digitcli.runs import ModelFiles
from digitcli.vocabulary import (
    DEFAULT_MIN_CONFIDENCE,
    IMAGE_SHAPE,
    IMAGE_SIDE,
    INPUT_SIZE,
    MAX_IMAGE_PIXELS,
    InferenceEngine,
    Invert,
    PixelOrder,
)

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor
    from multiprocessing.context import BaseContext

    from digitcli.calibration import Calibration

NPY_SUFFIX = ".npy"
# Records go through the network, and out to the renderer, this many at a time.
CHUNK_SIZE = 1024
# Below this many images, starting worker processes costs more than it saves.
POOL_MIN_INPUTS = 2000
# Debug images are the 20x20 input scaled up by this factor (nearest neighbour), so pixels show.
DEBUG_SCALE = 10
# Two digits read side by side that share at least this share of the narrower one's columns make
# the reading unsure: a %, or a drawing cut into pieces (composed numbers overlap by under 10%).
# Segmentation already merges regions sharing 60% (preprocess.segment._SAME_COLUMNS).
OVERLAPPING_DIGITS = 0.4

InputKind = Literal["image", "npy"]
Status = Literal["ok", "unsure", "no_digit", "error"]
Classify = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, slots=True)
class InputItem:
    """One thing to predict: an image file, or a .npy file (which may hold many images)."""

    path: Path
    name: str  # how records name it: the path as given or found
    kind: InputKind = "image"
    error: str | None = None  # known to fail before reading (e.g. a folder without images)


@dataclass(frozen=True, slots=True)
class DigitReading:
    """One digit of a picture: what it reads as, how sure, and where it is."""

    digit: int
    confidence: float
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the picture's pixels (x1, y1 exclusive)

    def to_dict(self) -> dict[str, object]:
        return {"digit": self.digit, "confidence": self.confidence, "box": list(self.box)}


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """The prediction for one input; `digit` is None and `error` says why when it failed.

    `status` (see the module's docstring) defaults to "error" when `error` is set, else "ok";
    `unsure` is True exactly when the status is "unsure"; `reason` explains "unsure" and "no_digit".

    A picture may hold several digits: `number` is all of them, left to right ("2024"), and
    `digits` each one with its box. With one digit, `digit`, `confidence`, `probabilities` and
    `top3` are that digit's; with several, `digit` is None (the answer is `number`), `confidence`
    is the product of the digits' confidences (how likely the whole number is right),
    `probabilities` is None and `top3` empty.
    """

    path: str
    digit: int | None
    confidence: float | None  # calibrated (the run's temperature applied)
    probabilities: tuple[float, ...] | None  # softmax over the 10 digits
    top3: tuple[tuple[int, float], ...]  # (digit, probability), most likely first
    error: str | None = None
    status: Status | None = None
    reason: str | None = None
    number: str | None = None  # the digits read, left to right
    digits: tuple[DigitReading, ...] = ()

    def __post_init__(self) -> None:
        if self.status is None:
            object.__setattr__(self, "status", "ok" if self.error is None else "error")

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def unsure(self) -> bool:
        return self.status == "unsure"

    @property
    def doubtful(self) -> bool:
        """Not a digit to act on: unsure, or no digit found (what --fail-on-unsure fails on)."""
        return self.status in ("unsure", "no_digit")

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "digit": self.digit,
            "confidence": self.confidence,
            "probabilities": list(self.probabilities) if self.probabilities is not None else None,
            "top3": [[digit, probability] for digit, probability in self.top3],
            "error": self.error,
            "unsure": self.unsure,
            "status": self.status,
            "reason": self.reason,
            "number": self.number,
            "digits": [reading.to_dict() for reading in self.digits],
        }


@dataclass(frozen=True)
class Classifier:
    """A loaded model: `classify` maps (N, 400) canonical images to (N, 10) probabilities."""

    engine: InferenceEngine
    source: Path
    classify: Classify
    note: str | None = None  # something the user should hear (e.g. an engine fallback)
    temperature: float = 1.0  # the calibration applied to the logits (1: none)
    # The run's default --min-confidence (calibration.json), DEFAULT_MIN_CONFIDENCE for older runs.
    min_confidence: float = DEFAULT_MIN_CONFIDENCE

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.classify(pixels)


# --------------------------------------------------------------------------------------- inputs


def collect_inputs(
    paths: Iterable[str | Path], recursive: bool = False, stdin: TextIO | None = None
) -> list[InputItem]:
    """Expand command-line paths into inputs, in order.

    A folder contributes its image files (sorted by name; with `recursive`, those of its subfolders
    too; hidden files are skipped). `-` reads one path per line from `stdin` (blank lines ignored).
    Paths that do not exist are kept: reading them fails later, as one failed record each.
    """
    items: list[InputItem] = []
    for raw in paths:
        if str(raw) == "-":
            if stdin is None:
                raise UsageError("'-' reads paths from standard input, but there is none")
            for line in _stdin_lines(stdin):
                if line.strip():
                    _add_path(items, line.strip(), recursive)
        else:
            _add_path(items, str(raw), recursive)
    return items


def _stdin_lines(stdin: TextIO) -> list[str]:
    # NUL-separated (`find -print0`, `fd -0`) when there is a NUL: no path holds one, and every
    # other character, newlines included, can be part of a file name.
    buffer = getattr(stdin, "buffer", None)
    if buffer is not None:
        # File names are bytes on POSIX; decoding them the way os.listdir does keeps names that
        # are not valid UTF-8 readable (`find` prints them as they are).
        data: bytes = buffer.read()
        if b"\0" in data:
            return [os.fsdecode(name) for name in data.split(b"\0")]
        return [os.fsdecode(line) for line in data.splitlines()]
    text = stdin.read()
    return text.split("\0") if "\0" in text else text.splitlines()


def several_frames(items: Sequence[InputItem]) -> list[tuple[str, int]]:
    """The image inputs that hold several frames or pages (animated GIF, multi-page TIFF), with
    their counts: predict reads the first one only, and says so."""
    found = []
    for item in items:
        if item.kind == "image" and item.error is None:
            count = frame_count(item.path)
            if count > 1:
                found.append((item.name, count))
    return found


def _add_path(items: list[InputItem], text: str, recursive: bool) -> None:
    path = Path(text)
    if path.is_dir():
        found = _folder_images(path, recursive)
        if found:
            items.extend(
                InputItem(file, str(file), "image", UNSUPPORTED_SUFFIXES.get(file.suffix.lower()))
                for file in found
            )
        else:
            has_subfolders = not recursive and any(
                child.is_dir() and not child.name.startswith(".") for child in path.iterdir()
            )
            hint = " (add --recursive to look in its subfolders)" if has_subfolders else ""
            items.append(InputItem(path, text, "image", f"no image files in this folder{hint}"))
    else:
        kind: InputKind = "npy" if path.suffix.lower() == NPY_SUFFIX else "image"
        items.append(InputItem(path, text, kind))


_LISTED_SUFFIXES = IMAGE_SUFFIXES | UNSUPPORTED_SUFFIXES.keys()


def _folder_images(folder: Path, recursive: bool) -> list[Path]:
    found: list[Path] = []
    subfolders: list[Path] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return found
    for entry in entries:
        if entry.name.startswith("."):
            continue  # .DS_Store, macOS "._x.png" resource forks, editor swap files
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            if recursive and not entry.is_symlink():  # symlinked folders could loop
                subfolders.append(folder / entry.name)
        elif os.path.splitext(entry.name)[1].lower() in _LISTED_SUFFIXES:
            found.append(folder / entry.name)  # unsupported ones get an error record, not silence
    for subfolder in subfolders:
        found.extend(_folder_images(subfolder, recursive))
    return found


# ---------------------------------------------------------------------------------------- model


def load_classifier(
    model_files: ModelFiles, engine: InferenceEngine = InferenceEngine.numpy
) -> Classifier:
    """Load the model for `engine`; NumPy falls back to TensorFlow when only model.keras exists.

    Its probabilities are calibrated with the run's temperature (calibration.json beside the
    model; T = 1 for runs without one), the same in both engines; it carries the run's default
    min_confidence (DEFAULT_MIN_CONFIDENCE for runs that stored none).
    """
    calibration = model_calibration(model_files)
    threshold = (
        DEFAULT_MIN_CONFIDENCE if calibration.min_confidence is None else calibration.min_confidence
    )
    return replace(
        _load_classifier(model_files, engine, calibration.temperature), min_confidence=threshold
    )


def _load_classifier(
    model_files: ModelFiles, engine: InferenceEngine, temperature: float
) -> Classifier:
    if engine is InferenceEngine.numpy:
        if model_files.weights is not None:
            return _numpy_classifier(model_files.weights, temperature)
        if model_files.keras is None:  # resolve_model never returns this, but be safe
            raise ModelError("no model file to load")
        return _tf_classifier(
            model_files,
            temperature,
            note=f"{model_files.keras.parent}: no weights.npz, using the TensorFlow engine (slower)",
        )
    if model_files.keras is None and model_files.builtin is None:
        where = model_files.run_dir or model_files.weights
        raise ModelError(f"{where}: no model.keras for --engine tf (use --engine numpy)")
    return _tf_classifier(model_files, temperature)


def model_calibration(model_files: ModelFiles) -> Calibration:
    """The calibration saved with a model: its run's, or beside a bare model file."""
    from digitcli.run_files import read_calibration

    model_file = model_files.weights or model_files.keras
    folder = model_files.run_dir or (model_file.parent if model_file is not None else None)
    return read_calibration(folder)


def _check_input_size(size: int | None, path: Path) -> None:
    if size != INPUT_SIZE:
        raise ModelError(
            f"{path}: the model reads {size} values per image, but predict feeds it "
            f"{INPUT_SIZE} (a {IMAGE_SIDE}x{IMAGE_SIDE} image)"
        )


def _numpy_classifier(path: Path, temperature: float = 1.0) -> Classifier:
    from digitcli.calibration import calibrated_probabilities
    from digitcli.inference import NumpyModel

    model = NumpyModel.load(path)
    _check_input_size(model.input_size, path)

    def classify(pixels: np.ndarray) -> np.ndarray:
        return calibrated_probabilities(model.logits(pixels), temperature)

    return Classifier(InferenceEngine.numpy, path, classify, temperature=temperature)


def _tf_classifier(
    model_files: ModelFiles, temperature: float = 1.0, note: str | None = None
) -> Classifier:
    """The Keras model: model.keras, or (the bundled model) built from weights.npz."""
    from digitcli.model import load_model_files
    from digitcli.softmax import my_softmax_tf

    path = model_files.keras or model_files.weights
    assert path is not None  # resolve_model returns at least one of them
    model = load_model_files(model_files)
    shape = model.input_shape
    _check_input_size(shape[-1] if isinstance(shape, tuple) else None, path)

    def classify(pixels: np.ndarray) -> np.ndarray:
        logits = model(np.asarray(pixels, dtype=np.float32), training=False)
        return np.asarray(my_softmax_tf(logits / temperature))

    return Classifier(InferenceEngine.tf, path, classify, note, temperature)


# ------------------------------------------------------------------------------------ predicting


@dataclass(frozen=True, slots=True)
class _Unit:
    """One image to canonicalize: a file to read, or a greyscale array (from a .npy)."""

    name: str
    source: Path | np.ndarray | None  # None: `error` is already known
    invert: Invert
    error: str | None = None


def predict_inputs(
    items: Sequence[InputItem],
    model: ModelFiles | Classifier,
    engine: InferenceEngine = InferenceEngine.numpy,
    invert: Invert | None = None,
    debug_dir: Path | None = None,
    *,
    pixel_order: PixelOrder = PixelOrder.column_major,
    workers: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    pool_min: int = POOL_MIN_INPUTS,
    min_confidence: float | None = None,
    single: bool = False,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> Iterator[PredictionRecord]:
    """One record per input (one per image for .npy arrays), in input order.

    `invert` None means: guess for image files (`Invert.auto`), none for .npy arrays (they are
    light-on-dark by convention). `workers` None uses every CPU once there are `pool_min` images.
    Answers whose confidence is below `min_confidence` are marked unsure (0: never; None, the
    default: the model's own threshold, as the CLI's). `single`:
    every picture should hold one digit; one that holds several answers with its largest digit,
    marked unsure with the number in the reason (the record still carries `number` and `digits`).
    """
    for chunk in predict_chunks(
        items,
        model,
        engine,
        invert,
        debug_dir,
        pixel_order=pixel_order,
        workers=workers,
        chunk_size=chunk_size,
        pool_min=pool_min,
        min_confidence=min_confidence,
        single=single,
        max_pixels=max_pixels,
    ):
        yield from chunk


def predict_chunks(
    items: Sequence[InputItem],
    model: ModelFiles | Classifier,
    engine: InferenceEngine = InferenceEngine.numpy,
    invert: Invert | None = None,
    debug_dir: Path | None = None,
    *,
    pixel_order: PixelOrder = PixelOrder.column_major,
    workers: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    pool_min: int = POOL_MIN_INPUTS,
    min_confidence: float | None = None,
    single: bool = False,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> Iterator[list[PredictionRecord]]:
    """`predict_inputs` a chunk at a time, so a renderer can write each chunk in one go."""
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise UsageError(f"--min-confidence must be between 0 and 1, got {min_confidence}")
    classifier = model if isinstance(model, Classifier) else load_classifier(model, engine)
    threshold = classifier.min_confidence if min_confidence is None else min_confidence
    if debug_dir is not None:
        make_folder(debug_dir, "debug folder")
    units = _units(items, invert, pixel_order)
    readable = sum(unit.source is not None for unit in units)
    processes = _worker_count(workers) if readable >= pool_min else 1
    if workers is None:
        processes = min(processes, max(1, readable // 256))  # no worker with too little to do
    if processes > 1:
        # Enough chunks for every worker to stay busy, few enough that each is worth shipping.
        chunk_size = max(64, min(chunk_size, math.ceil(len(units) / (processes * 4))))
    chunks = [units[start : start + chunk_size] for start in range(0, len(units), chunk_size)]
    debug_names: set[str] = set()
    canonicalized = _canonicalized(chunks, processes, max_pixels)
    try:
        for chunk, canonical in canonicalized:
            records, chosen = _read(chunk, canonical, classifier, threshold, single)
            if debug_dir is not None:
                _write_debug_images(debug_dir, chunk, canonical[0], chosen, records, debug_names)
            yield records
    finally:
        canonicalized.close()  # a reader that stops early stops the worker processes too


def predict_arrays(
    images: Sequence[tuple[str, np.ndarray]],
    classifier: Classifier,
    invert: Invert = Invert.auto,
    min_confidence: float | None = None,
) -> tuple[list[PredictionRecord], np.ndarray]:
    """Records for greyscale images already in memory (e.g. decoded uploads), given as (name, image)
    pairs, and the (N, 400) canonical pixels the model saw (zeros where a record failed; the first
    digit's when a picture holds several). `min_confidence` None: the classifier's own."""
    units = [_Unit(name, image, invert) for name, image in images]
    canonical = canonicalize_sources(_jobs(units))
    threshold = classifier.min_confidence if min_confidence is None else min_confidence
    records, chosen = _read(units, canonical, classifier, threshold)
    pixels = np.zeros((len(units), INPUT_SIZE), dtype=np.float32)
    for index, rows in enumerate(chosen):
        if rows:
            pixels[index] = canonical[0][rows[0]]
    return records, pixels


def _worker_count(workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _units(
    items: Sequence[InputItem], invert: Invert | None, pixel_order: PixelOrder
) -> list[_Unit]:
    image_invert = Invert.auto if invert is None else invert
    array_invert = Invert.no if invert is None else invert
    units: list[_Unit] = []
    for item in items:
        if item.error is not None:
            units.append(_Unit(item.name, None, image_invert, item.error))
        elif item.kind == "npy":
            units.extend(_npy_units(item, array_invert, pixel_order))
        else:
            units.append(_Unit(item.name, item.path, image_invert))
    return units


def _npy_units(item: InputItem, invert: Invert, pixel_order: PixelOrder) -> list[_Unit]:
    def failed(message: str) -> list[_Unit]:
        return [_Unit(item.name, None, invert, message)]

    if not item.path.exists():
        return failed("no such file")
    if item.path.is_dir():
        return failed("is a directory, not a .npy file")
    try:
        loaded = np.load(item.path, allow_pickle=False)
    except Exception as exc:  # ValueError, OSError, UnpicklingError, EOFError, ...
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return failed(f"not a readable .npy file: {detail}")
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        return failed("holds several arrays (an .npz archive?); save one array with numpy.save")
    try:
        images = npy_images(loaded, pixel_order)
    except ValueError as exc:
        return failed(str(exc))
    if len(images) == 0:
        return failed("the array holds no images")
    finite = np.isfinite(images).all(axis=(1, 2))
    return [
        _Unit(f"{item.name}[{index}]", images[index], invert)
        if finite[index]
        else _Unit(f"{item.name}[{index}]", None, invert, "pixels contain NaN or infinite values")
        for index in range(len(images))
    ]


def npy_images(array: np.ndarray, pixel_order: PixelOrder = PixelOrder.column_major) -> np.ndarray:
    """An .npy array as (N, H, W) float32 greyscale images in [0, 1] (NaN kept; callers check).

    Accepts N x 400 rows (the lab's 20x20 images, laid out per `pixel_order`) and N x H x W images.
    Integer pixels above 1 and float pixels above 2 are taken as 0-255 and scaled; the rest is
    clipped to [0, 1] (the lab's pixels overshoot it slightly).
    """
    if array.dtype.kind not in "biuf":
        raise ValueError(f"pixels must be numbers, got dtype {array.dtype}")
    if array.ndim == 2 and array.shape[1] == INPUT_SIZE:
        images = lab_rows_to_images(array, pixel_order, "npy")
    elif array.ndim == 3 and min(array.shape[1:]) >= 4:
        images = array
    else:
        raise ValueError(
            f"expected N x {INPUT_SIZE} rows or N x H x W images, got shape {tuple(array.shape)}"
        )
    values = images.astype(np.float32)
    if values.size == 0:
        return values
    if array.dtype.kind in "iu":
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(f"integer pixels must be 0-255 (or 0-1), found {low} to {high}")
        if high > 1:
            values *= np.float32(1 / 255)
    elif array.dtype.kind == "f":
        finite = values[np.isfinite(values)]
        if finite.size and float(finite.max()) > 2.0:
            values *= np.float32(1 / 255)
    with np.errstate(invalid="ignore"):
        return np.clip(values, 0.0, 1.0, out=values)


def _jobs(chunk: list[_Unit]) -> list[tuple[Path | np.ndarray, Invert]]:
    return [(unit.source, unit.invert) for unit in chunk if unit.source is not None]


# What canonicalize_sources returns: every digit's canonical pixels (M, 400) and box (M, 4), the
# layout of each source's digits (empty when it failed), each source's error (or None), and how
# many digit-like marks each source left unread (preprocess.DigitImage.unread).
# The layout lists, per source, how many parts each digit has as another reading (see
# preprocess.DigitImage.parts); each digit's row is followed by its parts' rows.
Canonical = tuple[np.ndarray, np.ndarray, list[list[int]], list[str | None], list[int]]


def canonicalize_sources(
    jobs: list[tuple[Path | np.ndarray, Invert]], max_pixels: int = MAX_IMAGE_PIXELS
) -> Canonical:
    """Read each source (files of at most `max_pixels` pixels) and canonicalize every digit in it
    (see `Canonical`).

    Runs in worker processes too, so it takes and returns only picklable data.
    """
    images: list[np.ndarray] = []
    boxes: list[tuple[int, int, int, int]] = []
    layout: list[list[int]] = [[] for _ in jobs]
    errors: list[str | None] = [None] * len(jobs)
    unread = [0] * len(jobs)
    if len(jobs) > _FEW_IMAGES:
        warm_up()  # scipy's labelling pays for its import after a handful of images
    start = 0
    while start < len(jobs):
        # Decode a run of files first and canonicalize them afterwards: alternating Pillow's and
        # SciPy's code per file measured 20-30% slower (caches). The pixel budget bounds memory
        # when the inputs are photos.
        grays: list[np.ndarray | None] = []
        budget = _DECODE_BUDGET
        while start + len(grays) < len(jobs) and budget > 0:
            index = start + len(grays)
            source = jobs[index][0]
            gray = None
            try:
                gray = load_image(source, max_pixels) if isinstance(source, Path) else source
                budget -= gray.size
            except Exception as exc:
                errors[index] = _error_text(exc, source)
            grays.append(gray)
        for offset, gray in enumerate(grays):
            if gray is None:
                continue
            index = start + offset
            scene = scene_reason(gray)
            if scene is not None:  # the network would read a digit into any texture
                errors[index] = scene
                continue
            try:
                found = read_digits(gray, jobs[index][1])
            except Exception as exc:
                errors[index] = _error_text(exc, jobs[index][0])
                continue
            unread[index] = found[0].unread
            for digit in found:
                layout[index].append(len(digit.parts))
                for reading in (digit, *digit.parts):
                    images.append(reading.image)
                    boxes.append(reading.box)
        start += len(grays)
    pixels = (
        np.stack(images).reshape(len(images), INPUT_SIZE)
        if images
        else np.zeros((0, INPUT_SIZE), dtype=np.float32)
    )
    return pixels, np.asarray(boxes, dtype=np.int64).reshape(-1, 4), layout, errors, unread


# Up to this many images, a fresh process is faster without importing scipy.ndimage.
_FEW_IMAGES = 8

# Decoded pixels held at once by `canonicalize_sources` (float32: 4 bytes each).
_DECODE_BUDGET = 8_000_000


def _error_text(exc: Exception, source: Path | np.ndarray) -> str:
    if isinstance(exc, DigitcliError):
        return _without_prefix(exc.message, source)
    # A bug in decoding or preprocessing must not sink the other inputs; say what it was.
    detail = " ".join(str(exc).split())
    return f"unexpected {type(exc).__name__} (a bug; please report it): {detail}"


def _without_prefix(message: str, source: Path | np.ndarray) -> str:
    # imaging's messages start with the path; records and the CLI add it themselves.
    prefix = f"{source}: " if isinstance(source, Path) else ""
    return message[len(prefix) :] if prefix and message.startswith(prefix) else message


def _canonicalized(
    chunks: list[list[_Unit]], processes: int, max_pixels: int
) -> Generator[tuple[list[_Unit], Canonical], None, None]:
    """Per chunk: its units and their digits (`Canonical`, aligned with the units)."""
    if processes <= 1:
        for chunk in chunks:
            yield chunk, _spread(chunk, canonicalize_sources(_jobs(chunk), max_pixels))
        return
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(processes, mp_context=_mp_context(), initializer=_ignore_sigint)
    pending: deque[tuple[list[_Unit], Future[Canonical]]] = deque()
    remaining = iter(chunks)
    try:
        # A bounded window of chunks in flight keeps memory flat and the output in input order.
        for chunk in islice(remaining, processes * 2):
            pending.append((chunk, pool.submit(canonicalize_sources, _jobs(chunk), max_pixels)))
        while pending:
            chunk, future = pending.popleft()
            following = next(remaining, None)
            if following is not None:
                pending.append(
                    (following, pool.submit(canonicalize_sources, _jobs(following), max_pixels))
                )
            try:
                result = future.result()
            except BrokenProcessPool as exc:
                raise DigitcliError(
                    "a worker process died while reading images (out of memory?); "
                    "try again with --jobs 1"
                ) from exc
            yield chunk, _spread(chunk, result)
    except BaseException:
        # Ctrl-C, or the reader went away: stop now rather than finish the chunks in flight.
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


# Set once a pool was stopped mid-work: the CLI then ends the process without Python's exit-time
# join of the pool's manager thread, which can wait forever on a worker's half-written result.
pool_stopped = False


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    # The executor keeps its worker processes in `_processes` ({pid: Process}); Python 3.11 has no
    # public way to stop them without waiting for the work already handed to them.
    global pool_stopped
    pool_stopped = True
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join(timeout=5)
    # A worker stopped while writing its result leaves half a message in the result pipe: the
    # pool's manager thread would wait for the rest forever, and Python's exit with it (seen under
    # load). With the workers gone, closing our copy of the pipe's write end gives it EOF instead.
    writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
    if writer is not None:
        writer.close()


def _mp_context() -> BaseContext:
    import multiprocessing

    # Forking is the cheapest start (workers inherit NumPy, Pillow and SciPy already imported), but
    # forking a process that runs TensorFlow's threads is unsafe; start those workers clean.
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("forkserver" if "tensorflow" in sys.modules else "fork")
    return multiprocessing.get_context()


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: let the main process alone handle it (and stop the
    # pool) instead of every worker printing a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the CLI's SIGTERM handler; the pool is stopped with SIGTERM, which
    # must end a worker at once, not raise in it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when its parent dies, even by SIGKILL (a parent that
    can still run stops its pool itself)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl: do not outlive it either
        os._exit(1)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _spread(chunk: list[_Unit], result: Canonical) -> Canonical:
    """Align the results for the chunk's readable units with all its units (known errors too)."""
    pixels, boxes, layout, errors, unread = result
    if len(errors) == len(chunk):
        return result
    full_layout: list[list[int]] = []
    full_errors: list[str | None] = []
    full_unread: list[int] = []
    position = 0
    for unit in chunk:
        if unit.source is None:
            full_layout.append([])
            full_errors.append(unit.error)
            full_unread.append(0)
        else:
            full_layout.append(layout[position])
            full_errors.append(errors[position])
            full_unread.append(unread[position])
            position += 1
    return pixels, boxes, full_layout, full_errors, full_unread


def _read(
    chunk: list[_Unit],
    canonical: Canonical,
    classifier: Classifier,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    single: bool = False,
) -> tuple[list[PredictionRecord], list[list[int]]]:
    """The records, and per record the rows of the digits it reads (in `canonical`'s pixels)."""
    pixels, boxes, layout, errors, unread = canonical
    records: list[PredictionRecord] = []
    chosen: list[list[int]] = []
    if len(pixels):
        # Every digit (and every other reading of one) of the chunk goes through the network at once.
        probabilities = np.asarray(classifier(pixels), dtype=np.float32)
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :3]
        rows = probabilities.astype(np.float64).tolist()
        ranks = ranked.tolist()
        box_rows = boxes.tolist()
    position = 0
    for index, unit in enumerate(chunk):
        error = errors[index]
        if error is not None:
            no_digit = error.startswith(NO_DIGIT_PREFIXES)
            records.append(
                PredictionRecord(
                    unit.name,
                    None,
                    None,
                    None,
                    (),
                    error,
                    status="no_digit" if no_digit else "error",
                    reason=error if no_digit else None,
                )
            )
            chosen.append([])
            continue
        picked: list[int] = []
        for parts in layout[index]:
            whole, position = position, position + 1 + parts
            pieces = range(whole + 1, position)
            # Touching digits or one wide digit: the reading the network is surer of.
            if (
                parts
                and math.prod(rows[i][ranks[i][0]] for i in pieces) > rows[whole][ranks[whole][0]]
            ):
                picked.extend(pieces)
            else:
                picked.append(whole)
        chosen.append(picked)
        readings = tuple(
            DigitReading(ranks[i][0], rows[i][ranks[i][0]], _box(box_rows[i])) for i in picked
        )
        number = "".join(str(reading.digit) for reading in readings)
        several = len(readings) > 1
        doubted = False
        if not several or single:
            # One digit; or one asked for: the largest (as a one-digit reading would pick).
            main = max(range(len(picked)), key=lambda i: _area(readings[i].box))
            row, rank = rows[picked[main]], ranks[picked[main]]
            top3 = tuple((digit, row[digit]) for digit in rank)
            digit, confidence, distribution = rank[0], row[rank[0]], tuple(row)
            reason = unsure_reason(top3, min_confidence)
            if several:
                reason = (
                    f"the picture holds {len(readings)} digits ({number}); "
                    f"the largest is digit {main + 1}"
                )
            shape = dot_reason(pixels[picked[main]]) or symmetry_reason(pixels[picked[main]], digit)
            if shape is not None:
                reason, doubted = shape, True
        else:
            top3 = ()
            digit, distribution = None, None
            confidence = math.prod(reading.confidence for reading in readings)
            reason = number_unsure_reason(readings, confidence, min_confidence)
            overlap = overlap_reason(readings)
            if overlap is not None:
                reason, doubted = overlap, True
        if unread[index] and not doubted:
            reason, doubted = unread_reason(unread[index]), True
        unsure = confidence < min_confidence or (single and several) or doubted
        records.append(
            PredictionRecord(
                unit.name,
                digit,
                confidence,
                distribution,
                top3,
                status="unsure" if unsure else "ok",
                reason=reason if unsure else None,
                number=number,
                digits=readings,
            )
        )
    return records, chosen


def unsure_reason(top3: Sequence[tuple[int, float]], min_confidence: float) -> str:
    """Why an answer is unsure, naming the runners-up: "confidence 36.4% < 50%; or 7 (30%), 1 (12%)"."""
    (_, confidence), *others = top3
    runners_up = ", ".join(f"{digit} ({probability:.0%})" for digit, probability in others)
    text = f"confidence {confidence:.1%} < {min_confidence:.0%}"
    return f"{text}; or {runners_up}" if runners_up else text


def unread_reason(unread: int) -> str:
    """Why an answer is doubtful when digit-like marks elsewhere in the picture were not read."""
    marks = "mark" if unread == 1 else "marks"
    return f"{unread} more digit-like {marks} in the picture not read (another line of writing?)"


def overlap_reason(readings: Sequence[DigitReading]) -> str | None:
    """Why a reading of several digits is doubtful because two neighbours share their columns (a %
    cut into a ring and a slash with a ring), or None. Digits of a written number sit side by side;
    pieces of one symbol stack."""
    for index, (left, right) in enumerate(pairwise(readings)):
        shared = min(left.box[2], right.box[2]) - max(left.box[0], right.box[0])
        narrower = min(left.box[2] - left.box[0], right.box[2] - right.box[0])
        if narrower > 0 and shared >= OVERLAPPING_DIGITS * narrower:
            return (
                f"digits {index + 1} and {index + 2} share {shared / narrower:.0%} of their "
                "columns: one symbol, or a number?"
            )
    return None


def number_unsure_reason(
    readings: Sequence[DigitReading], confidence: float, min_confidence: float
) -> str:
    """Why a number is unsure, naming its least sure digit: "confidence 42.0% < 50%; digit 3 of
    4 (7) at 55.1%"."""
    weakest = min(range(len(readings)), key=lambda i: readings[i].confidence)
    reading = readings[weakest]
    return (
        f"confidence {confidence:.1%} < {min_confidence:.0%}; digit {weakest + 1} of "
        f"{len(readings)} ({reading.digit}) at {reading.confidence:.1%}"
    )


def _area(box: tuple[int, int, int, int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _box(values: list[int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = values
    return x0, y0, x1, y1


# ----------------------------------------------------------------------------------------- debug


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def debug_image_name(name: str) -> str:
    """A file name for an input's debug image: its path with separators and odd characters as '_'."""
    stem = _UNSAFE.sub("_", name.replace("[", "-").replace("]", "")).strip("._") or "input"
    stem = stem[-200:]  # file names are limited to 255 bytes
    return stem if stem.lower().endswith(".png") else f"{stem}.png"


def _write_debug_images(
    folder: Path,
    chunk: list[_Unit],
    pixels: np.ndarray,
    chosen: list[list[int]],
    records: list[PredictionRecord],
    used: set[str],
) -> None:
    """Per input: NAME.png, the 20x20 image of each digit the model saw (side by side), enlarged;
    NAME.boxes.png, the picture with each digit's box drawn on it."""
    for index, unit in enumerate(chunk):
        rows = chosen[index]
        if not rows or unit.source is None:
            continue  # the model saw nothing for this input
        name = debug_image_name(unit.name)
        if name in used:
            base, number = name[: -len(".png")], 2
            while f"{base}-{number}.png" in used:
                number += 1
            name = f"{base}-{number}.png"
        used.add(name)
        grey = np.round(pixels[rows].reshape(len(rows), *IMAGE_SHAPE) * 255).astype(np.uint8)
        row = np.concatenate(list(grey), axis=1)  # the digits left to right
        big = np.kron(row, np.ones((DEBUG_SCALE, DEBUG_SCALE), dtype=np.uint8))
        _save_debug(big, folder / name)
        _save_debug(
            _boxes_picture(unit.source, records[index].digits),
            folder / f"{name[: -len('.png')]}{DEBUG_BOXES_SUFFIX}",
        )


# The picture with the digits' boxes drawn on it is saved as NAME.boxes.png beside NAME.png.
DEBUG_BOXES_SUFFIX = ".boxes.png"
_BOX_COLOUR = (230, 30, 30)


def _boxes_picture(source: Path | np.ndarray, digits: Sequence[DigitReading]) -> np.ndarray:
    """An RGB copy of the picture with each digit's box and reading drawn on it."""
    from PIL import Image, ImageDraw

    gray = load_image(source) if isinstance(source, Path) else source
    picture = Image.fromarray(np.round(np.clip(gray, 0, 1) * 255).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(picture)
    width = max(1, max(picture.size) // 200)
    for reading in digits:
        x0, y0, x1, y1 = reading.box
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=_BOX_COLOUR, width=width)
        draw.text((x0 + width, max(0, y0 - 11)), str(reading.digit), fill=_BOX_COLOUR)
    return np.asarray(picture)


def _save_debug(pixels: np.ndarray, target: Path) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    write_bytes(target, buffer.getvalue())
