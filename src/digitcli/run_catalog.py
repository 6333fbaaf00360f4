"""The runs in a results folder as plain data: a list, one run's details, a comparison, removal.

A run's files are read as they are on disk (run.json, config.yaml, metrics.json, history.csv) and
the config is not validated against today's schema, so runs written by older versions, or with a
damaged file, still list: what cannot be read is missing (None) and `problems` says why.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml

from digitcli.errors import ModelError, OutputError, RunNotFoundError, UsageError
from digitcli.run_files import read_history_rows, read_metrics, read_run_info
from digitcli.runs import (
    CONFIG_FILE,
    HISTORY_FILE,
    LATEST_POINTER,
    METRICS_FILE,
    PARTIAL_SUFFIX,
    RUN_FILE,
    is_run_dir,
    latest_run,
    list_runs,
    point_latest,
)

# runs.new_run_name: "<YYYYmmdd>-<HHMMSS>-<label>-<6 hex digits>"
_AUTOMATIC_NAME = re.compile(r"^\d{8}-\d{6}-(?P<label>.+)-[0-9a-f]{6}$")
T = TypeVar("T")
_CREATED_FORMAT = "%Y-%m-%dT%H:%M:%S%z"  # how trainer writes run.json's "created"

# The metrics `compare` puts side by side: (row key, split in metrics.json, field there).
_METRIC_ROWS = (
    ("test.accuracy", "test", "accuracy"),
    ("test.loss", "test", "loss"),
    ("test.errors", "test", "errors"),
    ("validation.accuracy", "validation", "accuracy"),
    ("validation.loss", "validation", "loss"),
    ("train.accuracy", "train", "accuracy"),
    ("train.loss", "train", "loss"),
)


@dataclass(frozen=True)
class RunSummary:
    """One line of `runs list`."""

    name: str
    path: Path
    created: datetime | None
    data: str | None  # "digits", "mnist:mnist.npz"
    model: str | None  # "400-25-15-10"
    epochs: int | None
    test_accuracy: float | None
    wall_seconds: float | None
    latest: bool
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "created": self.created.isoformat() if self.created else None,
            "data": self.data,
            "model": self.model,
            "epochs": self.epochs,
            "test_accuracy": self.test_accuracy,
            "wall_seconds": self.wall_seconds,
            "latest": self.latest,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class RunDetails:
    """Everything `runs show` prints: the summary, the run's metadata, config and metrics."""

    summary: RunSummary
    meta: dict[str, Any]
    config: dict[str, Any] | None
    metrics: dict[str, Any] | None
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary.to_dict(),
            "run": self.meta,
            "config": self.config,
            "metrics": self.metrics,
            "best_epoch": best_epoch(self.history),
        }


@dataclass(frozen=True)
class CompareRow:
    key: str
    values: list[Any]  # one per run; None where the run lacks the key
    differences: list[float | None] | None = None  # metrics: value minus the first run's

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"key": self.key, "values": self.values}
        if self.differences is not None:
            document["differences"] = self.differences
        return document


@dataclass(frozen=True)
class Comparison:
    runs: list[str]
    settings: list[CompareRow]  # only the config keys whose values differ
    same_settings: int  # how many config keys all runs share
    metrics: list[CompareRow]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "settings": [row.to_dict() for row in self.settings],
            "same_settings": self.same_settings,
            "metrics": [row.to_dict() for row in self.metrics],
        }


@dataclass(frozen=True)
class Removal:
    removed: list[Path]
    latest: str | None  # what results/latest names afterwards (None: no run left)


def _read(path: Path, read: Callable[[Path], T], problems: list[str]) -> T | None:
    """`read(run_dir)` (a run_files reader), None with the reason in `problems` when it fails."""
    try:
        return read(path.parent)
    except ModelError as exc:
        cause = exc.__cause__
        if isinstance(cause, FileNotFoundError):
            problems.append(f"{path.name} missing")
        else:
            problems.append(f"{path.name} unreadable ({type(cause).__name__})")
    return None


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path.name} missing")
    except (OSError, yaml.YAMLError) as exc:
        problems.append(f"{path.name} unreadable ({type(exc).__name__})")
    return None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _created(meta: dict[str, Any]) -> datetime | None:
    text = meta.get("created")
    if isinstance(text, str):
        try:
            return datetime.strptime(text, _CREATED_FORMAT)
        except ValueError:
            pass
    return None


def _layer_summary(layer: Any, last: bool) -> str:
    """`25` for a Dense layer (`25:tanh` when not the usual activation), `conv16x3`, `maxpool2`..."""
    from digitcli.layers import LAYER_TYPES, layer_type

    if not isinstance(layer, dict):
        return "?"
    kind = LAYER_TYPES.get(layer_type(layer))
    text = kind.short_name(layer) if kind is not None else str(layer["type"])
    activation = layer.get("activation")
    usual = "linear" if last else "relu"
    return text if activation in (None, usual) else f"{text}:{activation}"


def model_summary(config: dict[str, Any] | None) -> str | None:
    """`400-25-15-10` for the reference network: input size, then each layer."""
    model = _mapping(_mapping(config).get("model"))
    layers = model.get("layers")
    if not isinstance(layers, list) or not layers:
        return None
    parts = [_layer_summary(layer, index == len(layers) - 1) for index, layer in enumerate(layers)]
    return "-".join([str(model.get("input_size", "?")), *parts])


def data_summary(meta: dict[str, Any], config: dict[str, Any] | None) -> str | None:
    data = _mapping(meta.get("data")) or _mapping(_mapping(config).get("data"))
    source = data.get("source")
    if not source:
        return None
    path = data.get("path")
    return f"{source}:{Path(str(path)).name}" if path else str(source)


def best_epoch(history: list[dict[str, float]]) -> dict[str, float] | None:
    """The epoch with the highest validation accuracy (the first of equals)."""
    scored = [row for row in history if row.get("val_accuracy") == row.get("val_accuracy")]
    return max(scored, key=lambda row: row["val_accuracy"]) if scored else None


def _latest_name(root: Path) -> str | None:
    found = latest_run(root, strict=False)  # a broken pointer marks no run latest
    return found.name if found is not None else None


def summarize(path: Path, latest: str | None = None) -> RunSummary:
    details = load_details(path, latest)
    return details.summary


def load_details(path: Path, latest: str | None = None) -> RunDetails:
    problems: list[str] = []
    meta = _read(path / RUN_FILE, read_run_info, problems) or {}
    config = _read_yaml(path / CONFIG_FILE, problems)
    config = config if isinstance(config, dict) else None
    metrics = _read(path / METRICS_FILE, read_metrics, problems)
    history = _read(path / HISTORY_FILE, read_history_rows, []) or []
    test = _mapping(_mapping(metrics).get("test"))
    epochs = meta.get("epochs", len(history) or None)
    if latest is None:
        latest = _latest_name(path.parent)
    summary = RunSummary(
        name=path.name,
        path=path,
        created=_created(meta),
        data=data_summary(meta, config),
        model=model_summary(config),
        epochs=epochs if isinstance(epochs, int) else None,
        test_accuracy=_number(test.get("accuracy")),
        wall_seconds=_number(meta.get("wall_seconds")),
        latest=path.name == latest,
        problems=tuple(problems),
    )
    return RunDetails(summary, meta, config, metrics, history)


def _newest_first(summary: RunSummary) -> tuple[float, float, str]:
    # "created" has whole seconds; run.json's modification time orders runs within a second.
    try:
        written = (summary.path / RUN_FILE).stat().st_mtime
    except OSError:
        written = 0.0
    when = summary.created.timestamp() if summary.created else written
    return (-when, -written, summary.name)


def list_summaries(root: Path) -> list[RunSummary]:
    """Every complete run under `root`, newest first."""
    if root.exists() and not root.is_dir():
        raise RunNotFoundError(f"{root}: not a results folder")
    latest = _latest_name(root)
    summaries = [summarize(path, latest) for path in list_runs(root)]
    return sorted(summaries, key=_newest_first)


def find_run(root: Path, reference: str) -> Path:
    """A run from what a user types: a path to it, its name in `root`, `latest`, or a unique part
    of its name (e.g. the random suffix)."""
    path = Path(reference)
    if reference == LATEST_POINTER or (path.name == LATEST_POINTER and path.is_file()):
        pointer_root = root if reference == LATEST_POINTER else path.parent
        found = latest_run(pointer_root)
        if found is None:
            raise RunNotFoundError(f"{pointer_root}: holds no complete run")
        return found
    for candidate in (path, root / reference):
        if is_run_dir(candidate):
            return candidate
        if candidate.is_dir() and candidate.name.endswith(PARTIAL_SUFFIX):
            raise RunNotFoundError(
                f"{candidate}: this run did not finish (resume it with digitcli train --resume "
                f"{candidate}, or delete the folder)"
            )
    matches = [run for run in list_runs(root) if reference in run.name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(run.name for run in matches[:3]) + (", ..." if len(matches) > 3 else "")
        raise UsageError(f"{reference}: matches {len(matches)} runs in {root} ({shown}); say more")
    raise RunNotFoundError(f"{reference}: no such run in {root} (digitcli runs list shows them)")


def flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    """{"train": {"epochs": 5}} -> {"train.epochs": 5}; list items by index (model.layers.0.units)."""
    if isinstance(document, dict):
        items: list[tuple[str, Any]] = [(str(key), value) for key, value in document.items()]
    elif isinstance(document, list):
        items = [(str(index), value) for index, value in enumerate(document)]
    else:
        return {prefix: document}
    flat: dict[str, Any] = {}
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict | list) and value:
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


def _difference(value: Any, base: Any) -> float | None:
    one, other = _number(value), _number(base)
    return None if one is None or other is None else one - other


def compare(paths: list[Path]) -> Comparison:
    """The config keys whose values differ between the runs, and their metrics side by side."""
    if len({path.resolve() for path in paths}) < 2:
        raise UsageError("compare needs two or more different runs")
    details = [load_details(path) for path in paths]
    flat = [flatten(entry.config or {}) for entry in details]
    keys = list(dict.fromkeys(key for config in flat for key in config))
    settings, same = [], 0
    for key in keys:
        values = [config.get(key) for config in flat]
        if all(value == values[0] for value in values) and all(key in c for c in flat):
            same += 1
        else:
            settings.append(CompareRow(key, values))
    rows: list[tuple[str, list[Any]]] = []
    for key, split, name in _METRIC_ROWS:
        rows.append((key, [_mapping(_mapping(d.metrics).get(split)).get(name) for d in details]))
    rows.append(("epochs", [entry.summary.epochs for entry in details]))
    best = [best_epoch(entry.history) for entry in details]
    rows.append(("best_epoch", [int(row["epoch"]) if row else None for row in best]))
    rows.append(("best_val_accuracy", [row["val_accuracy"] if row else None for row in best]))
    rows.append(("wall_seconds", [entry.summary.wall_seconds for entry in details]))
    metrics = [
        CompareRow(key, values, [_difference(value, values[0]) for value in values])
        for key, values in rows
    ]
    return Comparison([entry.summary.name for entry in details], settings, same, metrics)


def config_origin(config_path: Path) -> tuple[str, str | None]:
    """The label for a run trained from `config_path`, and the run it comes from when it is a run's
    saved config.yaml: the new run is named after that run's label, not "config"."""
    run = config_path.parent
    if config_path.name != CONFIG_FILE or not is_run_dir(run):
        return config_path.stem, None
    meta = _read(run / RUN_FILE, read_run_info, []) or {}
    label = meta.get("label")
    if not isinstance(label, str) or not label:
        automatic = _AUTOMATIC_NAME.match(run.name)
        label = automatic.group("label") if automatic else run.name
    return label, run.name


def plan_removal(paths: list[Path], *, force: bool) -> list[Path]:
    """Check that every run may be deleted (the one `latest` names only with `force`)."""
    unique = list(dict.fromkeys(paths))
    for path in unique:
        if not is_run_dir(path):
            raise RunNotFoundError(f"{path}: not a complete run (nothing deleted)")
        if not force and latest_run(path.parent, strict=False) == path:
            raise UsageError(
                f"{path}: is the latest run ({path.parent / LATEST_POINTER} names it); "
                "pass --force to delete it anyway (nothing deleted)"
            )
    return unique


def remove_runs(paths: list[Path]) -> Removal:
    """Delete the runs (checked by `plan_removal`) and keep `latest` naming a run that exists.

    Each run is first renamed to a hidden name, so no command sees a half-deleted run.
    """
    removed: list[Path] = []
    roots = list(dict.fromkeys(path.parent for path in paths))
    for path in paths:
        hidden = path.with_name(f".{path.name}.deleting-{secrets.token_hex(3)}")
        try:
            os.rename(path, hidden)
        except OSError as exc:
            raise OutputError(f"{path}: cannot delete ({exc.strerror})") from exc
        shutil.rmtree(hidden, ignore_errors=True)
        removed.append(path)
    latest: str | None = None
    for root in roots:
        pointer = root / LATEST_POINTER
        named = latest_run(root, strict=False) if pointer.is_file() else None
        if named is not None and (root / _pointer_text(pointer)) == named:
            latest = named.name
            continue
        remaining = list_summaries(root)
        if remaining:
            point_latest(remaining[0].path)
            latest = remaining[0].name
        else:
            pointer.unlink(missing_ok=True)
    return Removal(removed, latest)


def _pointer_text(pointer: Path) -> str:
    try:
        return pointer.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
