"""The data sources, all delivering canonical 20x20 images (flattened row-major) and labels 0-9.

Each source is one entry of `SOURCES`, keyed by its `data.source` name: its loader (config -> images
and labels, plus the source's own test split if it has one), whether it needs `data.path`, and a
one-line description. `load_dataset(config.data, seed)` loads the configured source, subsamples it
to `data.limit`, canonicalises it and returns a `Dataset` with stratified, seeded
train/validation/test splits; a source with its own test split (MNIST, any Keras-layout .npz) keeps
it as the test set.

With `data.sources` (several sources at once), each source is loaded and split exactly as it would
be alone, so its test images never reach training. The test split is the union of the sources'
test splits (`Dataset.tests` keeps each one, and metrics.json reports each as `test:<name>`);
validation is the union of their validation splits; the training parts are repeated `repeat`
times each (oversampling a small source) and joined.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitcli.config import DataConfig, SourceEntry
from digitcli.errors import DataError, DigitcliError
from digitcli.lab_format import lab_rows_to_images
from digitcli.preprocess import canonicalize_batch
from digitcli.vocabulary import INPUT_SIZE, NUM_CLASSES, DataSource, Invert


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # (N, 400) float32 in [0, 1], row-major 20x20 images
    y: np.ndarray  # (N,) int32 labels 0-9

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Dataset:
    train: Split
    validation: Split
    test: Split
    source: str
    fingerprint: str  # sha256 of all canonical images and labels: same data <=> same fingerprint
    warnings: tuple[str, ...] = ()  # e.g. images skipped as unreadable: one line each
    # With several sources (data.sources): each one's own part of `test`, by source name.
    tests: dict[str, Split] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }


@dataclass(frozen=True)
class SourceImages:
    """What a source's loader returns, before subsampling and canonicalisation."""

    images: np.ndarray  # (N, H, W) light-on-dark in [0, 1], or canonical 20x20 (see `canonical`)
    labels: np.ndarray  # (N,) int labels 0-9
    test: tuple[np.ndarray, np.ndarray] | None = None  # the source's own test split, same layout
    canonical: bool = False  # images already canonical 20x20 (e.g. canonicalised one by one)
    warnings: tuple[str, ...] = ()  # one line each, e.g. a file skipped as unreadable


def check_labels(labels: np.ndarray, where: str) -> np.ndarray:
    """Labels as int32, refusing non-integers, NaN and anything outside 0-9."""
    values = np.asarray(labels)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise DataError(f"{where}: labels must be a vector of N values, got shape {values.shape}")
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)):
            raise DataError(f"{where}: labels contain NaN or infinite values")
        if not np.all(values == np.round(values)):
            raise DataError(f"{where}: labels must be whole numbers 0-9, found fractions")
    elif values.dtype.kind not in "iub":
        raise DataError(f"{where}: labels must be integers 0-9, got dtype {values.dtype}")
    if len(values) and (values.min() < 0 or values.max() >= NUM_CLASSES):
        bad = values[(values < 0) | (values >= NUM_CLASSES)][0]
        raise DataError(f"{where}: labels must be in 0-9, found {bad}")
    return values.astype(np.int32)


def check_pixels(images: np.ndarray, where: str) -> np.ndarray:
    values = np.asarray(images)
    if values.dtype.kind not in "fiub":
        raise DataError(f"{where}: pixels must be numbers, got dtype {values.dtype}")
    values = values.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise DataError(f"{where}: pixels contain NaN or infinite values")
    return values


def to_canonical(images: np.ndarray) -> np.ndarray:
    """(N, H, W) light-on-dark images in [0, 1] -> (N, 400) canonical rows."""
    canonical = canonicalize_batch(np.clip(images, 0.0, 1.0), Invert.no)
    return canonical.reshape(len(images), INPUT_SIZE)


def _load_digits(config: DataConfig) -> SourceImages:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # 17 grey levels, 16 = ink: already light on dark.
    return SourceImages(np.asarray(bunch.images, dtype=np.float32) / 16.0, np.asarray(bunch.target))


def _npz_array(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    if key not in archive.files:
        raise DataError(
            f"{path}: missing array {key!r} (expected x_train, y_train, x_test, y_test)"
        )
    return np.asarray(archive[key])


def _load_mnist(config: DataConfig) -> SourceImages:
    path = config.path
    if path is None:
        # Users online get Keras's own download and cache (~/.keras/datasets/mnist.npz).
        from digitcli.tf_runtime import load_tensorflow

        load_tensorflow()  # quietly: importing keras imports TensorFlow, and its log lines
        try:
            import keras

            # Keras prints its download progress on stdout, which holds digitcli's results.
            with contextlib.redirect_stdout(sys.stderr):
                (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        except Exception as exc:
            raise DataError(
                f"cannot download MNIST ({exc}); set data.path to a local mnist.npz"
            ) from exc
        return _keras_layout(Path("keras:mnist"), x_train, y_train, x_test, y_test)
    return _read_keras_npz(Path(path), "MNIST file")


def _load_npz(config: DataConfig) -> SourceImages:
    assert config.path is not None  # needs_path: load_source checked it
    return _read_keras_npz(Path(config.path), ".npz file")


def _read_keras_npz(source: Path, what: str) -> SourceImages:
    """A Keras-layout .npz (x_train, y_train, x_test, y_test), as keras.datasets.mnist writes it."""
    if not source.is_file():
        raise DataError(f"{source}: {what} not found (data.path)")
    try:
        with np.load(source, allow_pickle=False) as archive:
            x_train, y_train, x_test, y_test = (
                _npz_array(archive, key, source)
                for key in ("x_train", "y_train", "x_test", "y_test")
            )
    except DigitcliError:
        raise
    except Exception as exc:
        raise DataError(f"{source}: not a readable .npz file ({exc})") from exc
    return _keras_layout(source, x_train, y_train, x_test, y_test)


def _keras_layout(
    source: Path, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> SourceImages:
    for name, images in (("x_train", x_train), ("x_test", x_test)):
        if images.ndim != 3:
            raise DataError(f"{source}: {name} must be N x H x W images, got shape {images.shape}")
    scale = 255.0 if x_train.dtype == np.uint8 or float(np.max(x_train[:100])) > 1.0 else 1.0
    x_train = check_pixels(x_train, f"{source} x_train") / scale
    x_test = check_pixels(x_test, f"{source} x_test") / scale
    y_train = check_labels(y_train, f"{source} y_train")
    y_test = check_labels(y_test, f"{source} y_test")
    for name, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(images) != len(labels):
            raise DataError(
                f"{source}: x_{name} has {len(images)} images but y_{name} {len(labels)} labels"
            )
    return SourceImages(x_train, y_train, test=(x_test, y_test))


def _load_npy(config: DataConfig) -> SourceImages:
    assert config.path is not None  # needs_path: load_source checked it
    x_path = Path(config.path)
    if x_path.is_dir():
        x_path = x_path / "X.npy"
    y_path = Path(config.labels_path) if config.labels_path else x_path.with_name("y.npy")
    arrays = []
    for path in (x_path, y_path):
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        try:
            arrays.append(np.load(path, allow_pickle=False))
        except Exception as exc:
            raise DataError(f"{path}: not a readable .npy file ({exc})") from exc
    rows, labels = arrays
    pixels = check_pixels(rows, str(x_path))
    labels = check_labels(labels, str(y_path))
    if len(pixels) != len(labels):
        raise DataError(f"{x_path} has {len(pixels)} images but {y_path} has {len(labels)} labels")
    images = lab_rows_to_images(pixels, config.pixel_order, str(x_path))
    # The lab's pixels overshoot [0, 1] slightly (interpolation ringing); clip rather than rescale.
    return SourceImages(np.clip(images, 0.0, 1.0), labels)


def _stray_entries(root: Path, suffixes: frozenset[str]) -> list[str]:
    """What in a folder dataset is neither a digit subfolder nor an image file in one (hidden
    files such as .DS_Store aside), as paths relative to `root`."""
    digits = {str(label) for label in range(NUM_CLASSES)}
    stray = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.name not in digits or not entry.is_dir():
            stray.append(entry.name + ("/" if entry.is_dir() else ""))
            continue
        for file in sorted(entry.iterdir()):
            if not file.name.startswith(".") and (
                file.is_dir() or file.suffix.lower() not in suffixes
            ):
                stray.append(f"{entry.name}/{file.name}" + ("/" if file.is_dir() else ""))
    return stray


def _load_folder(config: DataConfig) -> SourceImages:
    """Images in subfolders 0..9. An unreadable image is skipped with a warning (refused with
    data.strict); anything else in the folders is reported, never silently ignored."""
    from digitcli.imaging import IMAGE_SUFFIXES, load_image
    from digitcli.preprocess import canonicalize

    assert config.path is not None  # needs_path: load_source checked it
    root = Path(config.path)
    if not root.is_dir():
        raise DataError(f"{root}: folder not found (data.path)")
    images, labels, warnings = [], [], []
    for label in range(NUM_CLASSES):
        folder = root / str(label)
        if not folder.is_dir():
            continue
        for file in sorted(folder.iterdir()):
            if file.name.startswith(".") or file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                images.append(canonicalize(load_image(file)))
            except DigitcliError as exc:  # its message names the file already
                if config.strict:
                    raise DataError(f"{exc.message} (data.strict is true)") from exc
                warnings.append(f"{exc.message}; skipped")
                continue
            labels.append(label)
    if warnings:
        warnings.append(
            f"{root}: skipped {len(warnings)} unreadable image(s), used {len(images)} "
            "(set data.strict: true to refuse the data instead)"
        )
    stray = _stray_entries(root, IMAGE_SUFFIXES)
    if stray:
        shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        warnings.append(
            f"{root}: ignored {len(stray)} entries that are not images in subfolders 0-9: {shown}"
        )
    if not images:
        raise DataError(f"{root}: no images found in subfolders named 0-9")
    # Files differ in size: each is canonicalised on its own, as predict does.
    return SourceImages(
        np.stack(images),
        np.asarray(labels, dtype=np.int32),
        canonical=True,
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class DataSourceEntry:
    load: Callable[[DataConfig], SourceImages]
    needs_path: bool  # refuse to load without data.path
    own_test_split: bool  # the loader returns the source's own test split (`SourceImages.test`)
    description: str  # one line, for help texts
    path_hint: str = ""  # what data.path names, added to the "not set" error


SOURCES: dict[DataSource, DataSourceEntry] = {
    DataSource.digits: DataSourceEntry(
        _load_digits,
        needs_path=False,
        own_test_split=False,
        description="scikit-learn's bundled 8x8 digits: offline, the default",
    ),
    DataSource.mnist: DataSourceEntry(
        _load_mnist,
        needs_path=False,
        own_test_split=True,
        description="a local Keras-layout mnist.npz (data.path), or Keras's download without one",
    ),
    DataSource.npz: DataSourceEntry(
        _load_npz,
        needs_path=True,
        own_test_split=True,
        description="any Keras-layout .npz (x_train, y_train, x_test, y_test), e.g. USPS",
        path_hint="the .npz file",
    ),
    DataSource.npy: DataSourceEntry(
        _load_npy,
        needs_path=True,
        own_test_split=False,
        description="the course lab's X.npy and y.npy (N x 400 rows)",
        path_hint="X.npy or its folder",
    ),
    DataSource.folder: DataSourceEntry(
        _load_folder,
        needs_path=True,
        own_test_split=False,
        description="image files in subfolders named 0..9",
    ),
}


def _subsample(
    images: np.ndarray, labels: np.ndarray, limit: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    if limit is None or limit >= len(labels):
        return images, labels
    keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
    return images[keep], labels[keep]


def _stratified_split(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y, minlength=NUM_CLASSES)
    held_out = max(1, round(len(y) * fraction))
    # Stratify only when every class can appear on both sides; tiny datasets split at random.
    stratify = y if counts[counts > 0].min() >= 2 and held_out >= np.count_nonzero(counts) else None
    if len(y) < 2:
        raise DataError(f"need at least 2 images to split, got {len(y)}")
    x_keep, x_out, y_keep, y_out = train_test_split(
        x, y, test_size=held_out, random_state=seed, stratify=stratify
    )
    return x_keep, y_keep, x_out, y_out


def fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def load_source(config: DataConfig, seed: int) -> tuple[Split, Split | None]:
    """The configured source's canonical images (subsampled to data.limit) and its own test split."""
    pool, own_test, _ = _load_source(config, seed)
    return pool, own_test


def _load_source(config: DataConfig, seed: int) -> tuple[Split, Split | None, tuple[str, ...]]:
    entry = SOURCES[config.source]
    if entry.needs_path and config.path is None:
        hint = f" ({entry.path_hint})" if entry.path_hint else ""
        raise DataError(f"data.source is {config.source.value} but data.path is not set{hint}")
    loaded = entry.load(config)

    def canonical(images: np.ndarray) -> np.ndarray:
        if loaded.canonical:
            return images.reshape(len(images), INPUT_SIZE)
        return to_canonical(images)

    images, labels = _subsample(loaded.images, loaded.labels, config.limit, seed)
    if len(labels) == 0:
        raise DataError(f"the {config.source.value} dataset is empty")
    own_test = None
    if loaded.test is not None:
        test_images, test_labels = _subsample(*loaded.test, config.limit, seed)
        own_test = Split(canonical(test_images), test_labels)
    return Split(canonical(images), labels), own_test, loaded.warnings


def _split_source(
    config: DataConfig, seed: int
) -> tuple[Split, Split, Split, str, tuple[str, ...]]:
    """One source's train, validation and test splits (seeded, stratified), their fingerprint and
    the loader's warnings."""
    pool, own_test, warnings = _load_source(config, seed)
    x, labels = pool.x, pool.y
    if own_test is None:
        x_pool, y_pool, x_test, y_test = _stratified_split(x, labels, config.test_fraction, seed)
    else:
        x_pool, y_pool = x, labels
        x_test, y_test = own_test.x, own_test.y
    validation_share = config.validation_fraction / (
        1 - (0 if own_test is not None else config.test_fraction)
    )
    x_train, y_train, x_val, y_val = _stratified_split(x_pool, y_pool, validation_share, seed + 1)
    return (
        Split(x_train.astype(np.float32), y_train.astype(np.int32)),
        Split(x_val.astype(np.float32), y_val.astype(np.int32)),
        Split(x_test.astype(np.float32), y_test.astype(np.int32)),
        # Of the arrays as loaded (labels' dtype included), as runs have always recorded it.
        fingerprint(x_train, y_train, x_val, y_val, x_test, y_test),
        warnings,
    )


def load_dataset(config: DataConfig, seed: int) -> Dataset:
    """Load the configured source(s) and split them (seeded, stratified)."""
    if config.sources is not None:
        return _load_sources(config, config.sources, seed)
    train, validation, test, digest, warnings = _split_source(config, seed)
    return Dataset(train, validation, test, config.source.value, digest, warnings)


def source_config(config: DataConfig, entry: SourceEntry) -> DataConfig:
    """The single-source config that loads `entry` (fractions, limit and augmentation shared)."""
    return config.model_copy(
        update={
            "source": entry.source,
            "path": entry.path,
            "labels_path": entry.labels_path,
            "pixel_order": entry.pixel_order,
            "sources": None,
        }
    )


def _join(splits: list[Split]) -> Split:
    return Split(np.concatenate([s.x for s in splits]), np.concatenate([s.y for s in splits]))


def _load_sources(config: DataConfig, entries: list[SourceEntry], seed: int) -> Dataset:
    """Several sources: each split on its own exactly as it would be alone (its own test split,
    else test_fraction of it), so no source's test images reach training; the training parts are
    repeated `repeat` times (oversampling) and joined, validation and test parts joined as they are.
    """
    trains, validations, tests, warnings = [], [], {}, list[str]()
    for entry in entries:
        train, validation, test, _, said = _split_source(source_config(config, entry), seed)
        trains.append(_join([train] * entry.repeat))
        validations.append(validation)
        tests[entry.label] = test
        warnings += said
    train, validation, test = _join(trains), _join(validations), _join(list(tests.values()))
    return Dataset(
        train=train,
        validation=validation,
        test=test,
        source="+".join(tests),
        fingerprint=fingerprint(train.x, train.y, validation.x, validation.y, test.x, test.y),
        warnings=tuple(warnings),
        tests=tests,
    )
