"""Typed, validated run configuration: loading YAML files, applying `--set` overrides, saving.

The models forbid unknown keys, so a typo is an error rather than a silently ignored setting. Every
error is re-raised as one `ConfigError` line naming the file, the key path and what was expected.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from digitcli.errors import ConfigError
from digitcli.layers import (
    LAYER_TYPES,
    Dense,
    LayerConfig,
    LayerFitError,
    LayerList,
    check_output,
    parameter_count,
    plan,
)
from digitcli.strict import StrictModel
from digitcli.vocabulary import (
    NUM_CLASSES,
    Activation,
    DataSource,
    Monitor,
    OptimizerName,
    PixelOrder,
    ScheduleKind,
    TrainingEngine,
)

# A network this size is far beyond what digitcli's small dense models need; the limit turns a
# typo such as `units: 10000000` into a config error instead of minutes of swapping or an OOM.
MAX_PARAMETERS = 20_000_000


class AugmentConfig(StrictModel):
    """Random changes applied to training images each epoch, so the model copes with real drawings."""

    enabled: bool = Field(
        False, description="Turn augmentation on (off: the plain reference recipe)."
    )
    max_shift: float = Field(
        1.5, ge=0, le=5, description="Largest random shift in pixels, in each direction."
    )
    max_rotation: float = Field(
        12.0, ge=0, le=45, description="Largest random rotation in degrees."
    )
    max_scale: float = Field(
        0.1, ge=0, le=0.5, description="Largest relative change of size (0.1: 90% to 110%)."
    )
    stroke_probability: float = Field(
        0.3, ge=0, le=1, description="Chance of thickening or thinning an image's strokes."
    )


class SourceEntry(StrictModel):
    """One of several training sources (`data.sources`): canonicalised like a single source."""

    source: DataSource = Field(description="digits, mnist, npz, npy or folder.")
    path: str | None = Field(None, description="As data.path, for this source.")
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="How metrics name this source's test split (default: the file's or folder's "
        "name, else the source).",
    )
    labels_path: str | None = Field(None, description="npy: as data.labels_path.")
    pixel_order: PixelOrder = Field(
        PixelOrder.column_major, description="npy: as data.pixel_order."
    )
    repeat: int = Field(
        1, ge=1, le=100, description="Oversampling: each training image is used this many times."
    )

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.path:
            return Path(self.path).stem or Path(self.path).name
        return self.source.value


class DataConfig(StrictModel):
    source: DataSource = Field(
        DataSource.digits,
        description="Where images come from: digits, mnist, npz, npy or folder (one source; "
        "data.sources for several).",
    )
    path: str | None = Field(
        None,
        description=(
            "mnist: the .npz file (none: Keras's download); npz: the .npz file; npy: X.npy or a "
            "folder holding "
            "X.npy and y.npy; folder: the folder with subfolders 0..9."
        ),
    )
    labels_path: str | None = Field(
        None, description="npy: the labels file (none: y.npy beside X.npy)."
    )
    pixel_order: PixelOrder = Field(
        PixelOrder.column_major, description="npy: how each 400-pixel row is laid out."
    )
    validation_fraction: float = Field(
        0.15, gt=0, lt=1, description="Share of the training pool held out to validate each epoch."
    )
    test_fraction: float = Field(
        0.15,
        gt=0,
        lt=1,
        description="Share held out for the final test (ignored for mnist, which has its own).",
    )
    limit: int | None = Field(
        None, gt=0, description="Use at most this many training images (quick experiments)."
    )
    strict: bool = Field(
        False,
        description=(
            "folder: refuse the data when one image cannot be read (default: skip it with a "
            "warning)."
        ),
    )
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    sources: list[SourceEntry] | None = Field(
        None,
        min_length=1,
        description="Several sources trained on at once, instead of data.source/path: each is "
        "split on its own (its own test split, else test_fraction of it), the splits are joined, "
        "and metrics report each source's test split too.",
    )

    @model_validator(mode="after")
    def _one_way_to_name_sources(self) -> DataConfig:
        if self.sources is None:
            return self
        if self.source is not DataSource.digits or self.path is not None:
            raise ValueError("set data.source/data.path or data.sources, not both")
        labels = [entry.label for entry in self.sources]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"two sources are named {repeated[0]!r}; give each a different `name`")
        return self

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> DataConfig:
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                "validation_fraction + test_fraction must leave at least 10% to train on"
            )
        return self


def _reference_layers() -> list[LayerConfig]:
    return [
        Dense(units=25, activation=Activation.relu),
        Dense(units=15, activation=Activation.relu),
        Dense(units=NUM_CLASSES, activation=Activation.linear),
    ]


class ModelConfig(StrictModel):
    # vocabulary.INPUT_SIZE, spelled out: a Literal type takes only a number (test_vocabulary checks).
    input_size: Literal[400] = Field(
        400, description="Pixels per image: every source delivers 20x20 = 400."
    )
    layers: LayerList = Field(
        default_factory=_reference_layers,
        min_length=1,
        description="Layers in order, each a mapping with a `type` (default dense); the last is "
        "the output: dense, 10 units, linear (logits).",
    )

    @field_validator("layers")
    @classmethod
    def _layers_fit(cls, layers: list[LayerConfig]) -> list[LayerConfig]:
        plan(layers)
        check_output(layers)
        return layers

    @model_validator(mode="after")
    def _size_is_sane(self) -> ModelConfig:
        count = parameter_count(self.layers, self.input_size)
        if count > MAX_PARAMETERS:
            raise ValueError(
                f"the layers add up to {count:,} parameters, more than the limit of "
                f"{MAX_PARAMETERS:,}; use fewer units or filters"
            )
        return self


class ScheduleConfig(StrictModel):
    """How the learning rate changes during training; constant keeps the reference recipe."""

    kind: ScheduleKind = Field(
        ScheduleKind.constant,
        description="constant, step (times `factor` every `every_epochs` epochs) or cosine.",
    )
    every_epochs: int = Field(10, gt=0, description="step: epochs between two reductions.")
    factor: float = Field(0.5, gt=0, lt=1, description="step: what each reduction multiplies by.")
    min_learning_rate: float = Field(
        0.0, ge=0, description="cosine: the learning rate reached at the last epoch."
    )


class EarlyStoppingConfig(StrictModel):
    """Stop when a validation value has not improved for `patience` epochs."""

    enabled: bool = Field(False, description="Turn early stopping on.")
    monitor: Monitor = Field(Monitor.val_loss, description="val_loss or val_accuracy.")
    patience: int = Field(5, gt=0, description="Epochs without improvement before stopping.")
    min_delta: float = Field(
        0.0, ge=0, description="The smallest change that counts as an improvement."
    )
    restore_best: bool = Field(
        True, description="End with (and save) the best epoch's weights, not the last epoch's."
    )


class OutlierExposureConfig(StrictModel):
    """Train on synthetic non-digits too (letters, symbols, doodles; `negatives.py`) with a uniform
    target, so the network is unsure off digits and predict marks such pictures unsure."""

    enabled: bool = Field(False, description="Add the non-digit images (off: digits only).")
    fraction: float = Field(
        0.2, gt=0, le=2, description="Non-digit images added per training image (0.2: one in six)."
    )
    weight: float = Field(
        0.5,
        gt=0,
        le=10,
        description="Loss weight of a non-digit image (cross-entropy to the uniform distribution).",
    )


class TrainConfig(StrictModel):
    engine: TrainingEngine = Field(
        TrainingEngine.fast, description="fast (compiled epoch loop) or keras (model.fit)."
    )
    epochs: int = Field(40, gt=0, le=100_000, description="Passes over the training data.")
    batch_size: int = Field(32, gt=0, le=1_000_000, description="Images per gradient step.")
    learning_rate: float = Field(
        0.001, gt=0, le=10, description="The optimizer's step size (at the start, with a schedule)."
    )
    optimizer: OptimizerName = Field(
        OptimizerName.adam, description="adam, adamw (decoupled weight decay) or sgd (momentum)."
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd: the momentum.")
    weight_decay: float | None = Field(
        None,
        ge=0,
        lt=1,
        description=(
            "Decoupled weight decay: each step shrinks every weight by learning_rate x "
            "weight_decay (none: 0.004 for adamw, 0 otherwise)."
        ),
    )
    l2: float = Field(
        0.0,
        ge=0,
        description="L2 penalty: adds l2 x the sum of squared kernel weights to the loss.",
    )
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    outlier_exposure: OutlierExposureConfig = Field(default_factory=OutlierExposureConfig)


class OutputConfig(StrictModel):
    dir: str = Field(
        "results", min_length=1, description="Results root: each run gets a folder here."
    )


class Config(StrictModel):
    seed: int = Field(
        1234, ge=0, le=2**31 - 1, description="Seeds weights, splits, shuffling and augmentation."
    )
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)


Override = Annotated[str, "KEY.PATH=VALUE"]


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `train.epochs=5` into (["train", "epochs"], 5); the value is parsed as a YAML scalar."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, for example train.epochs=5")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _apply_override(document: dict[str, Any], path: list[str], value: Any, text: str) -> None:
    """Set `value` at `path` in the raw document, refusing paths the schema does not have.

    Sections missing from the file are filled with their defaults first, so that an override such
    as `model.layers.0.units=64` can address the default layer list.
    """
    node: Any = document
    default: Any = Config().model_dump(mode="json")
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        shown = ".".join(path[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"--set {text}: {shown} is not an index of a list with {len(node)} items"
                )
            key: Any = int(part)
            default = default[key] if isinstance(default, list) and key < len(default) else {}
            if shown.startswith("model.layers.") and isinstance(node[key], dict):
                # The keys of the layer's own type (a conv2d has no `units` but `filters`).
                kind = LAYER_TYPES.get(str(node[key].get("type", "dense")))
                default = dict.fromkeys(kind.model_fields) if kind else default
        elif isinstance(node, dict) and isinstance(default, dict) and part in default:
            key = part
            default = default[part]
        else:
            known = sorted(default) if isinstance(default, dict) else []
            hint = f" (known keys: {', '.join(known)})" if known else ""
            raise ConfigError(f"--set {text}: unknown key {shown}{hint}")
        if last:
            node[key] = value
            return
        if isinstance(node, dict) and node.get(key) is None:
            node[key] = copy.deepcopy(default)
        node = node[key]


def _location(parts: tuple[int | str, ...]) -> str:
    """`model.layers.0.units`: the layer-type tag pydantic adds after a layer's index is left out."""
    kept = [
        str(part)
        for depth, part in enumerate(parts)
        if not (depth and isinstance(parts[depth - 1], int) and part in LAYER_TYPES)
    ]
    return ".".join(kept) or "(top level)"


def _describe_validation_error(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    location = _location(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"{source}: unknown key {location}"
    message = first["msg"].removeprefix("Value error, ")
    cause = first.get("ctx", {}).get("error")
    if kind == "union_tag_invalid":  # a layer's `type`
        context = first.get("ctx", {})
        message = f"unknown type {context.get('tag')!r} (known: {context.get('expected_tags')})"
    if isinstance(cause, LayerFitError):
        location = f"{location}.{cause.index} ({cause.layer_type})"
        message = cause.reason
    value = first.get("input")
    if isinstance(value, int) and abs(value) >= 10**15:
        value = float(value)  # 1e+308, not 309 digits
    shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
    if message.startswith("expected "):  # our own messages already show the value
        shown = ""
    more = len(error.errors()) - 1
    suffix = f" [and {more} more problem{'s' if more > 1 else ''}]" if more else ""
    return f"{source}: {location}: {message}{shown}{suffix}"


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: int, second: int) -> None:
        super().__init__(f"duplicate key {key!r} at lines {first} and {second}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a config that sets a key twice is a mistake."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable: the base class reports it
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise _DuplicateKey(key, first, line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml_document(path: Path) -> dict[str, Any]:
    """Read a YAML mapping from `path`, turning every failure into one ConfigError line."""
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, expected a YAML config file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from exc
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from exc
    if document is None:  # empty, or only comments: every key takes its default
        return {}
    if not isinstance(document, dict):
        raise ConfigError(
            f"{path}: expected a YAML mapping of settings (key: value), got a {type(document).__name__}"
        )
    return document


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`update` laid over `base`: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    base: Config | None = None,
) -> Config:
    """Load a config file (or the defaults), apply `--set` overrides and validate the result.

    With `base` (e.g. a run's saved config), the file's keys and the overrides are laid over it.
    """
    document: dict[str, Any] = base.model_dump(mode="json") if base is not None else {}
    source = "run config" if base is not None else "config"
    if path is not None:
        document = _merge(document, read_yaml_document(Path(path)))
        source = str(path)
    for text in overrides or []:
        keys, value = parse_override(text)
        _apply_override(document, keys, value, text)
    if overrides:
        source = f"{source} (with --set)"
    try:
        return Config.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, source)) from exc


def config_to_yaml(config: Config) -> str:
    """The fully resolved config as YAML that `load_config` reads back to an equal Config."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


# The keys naming data files: the only ones `train --resume --set` may change (the data moved).
DATA_PATH_KEYS = ("data.path", "data.labels_path")


def with_absolute_data_paths(config: Config) -> Config:
    """`config` with data.path and data.labels_path made absolute (from the current folder).

    A run saves its config this way, so evaluate, plot, `train --resume` and
    `train --config <run>/config.yaml` find the data from any folder.
    """
    data = config.data
    absolute = {
        key: os.path.abspath(os.path.expanduser(value))
        for key, value in (("path", data.path), ("labels_path", data.labels_path))
        if value is not None
    }
    if not absolute:
        return config
    return config.model_copy(update={"data": data.model_copy(update=absolute)})


def save_config(config: Config, path: Path) -> None:
    path.write_text(config_to_yaml(config), encoding="utf-8")
