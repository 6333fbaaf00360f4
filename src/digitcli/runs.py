"""Run directories: creating them atomically, finding them again, and the "latest run" pointer.

A run is first written into `<root>/<name>.partial/` and renamed to `<root>/<name>/` only when every
file is complete, so no command ever picks up a half-written run. `<root>/latest` is a one-line text
file naming the newest complete run; it is replaced atomically (write a temporary file, `os.replace`).
A broken pointer (empty, naming a missing run or a path outside the folder) is an error, never
silently replaced by another run. Only folders holding `run.json` and not ending in `.partial` count
as runs.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitcli.builtin import (
    BUILTIN,
    DEFAULT_BUILTIN,
    builtin_label,
    builtin_name,
    builtin_names,
    bundled_dir,
)
from digitcli.errors import ModelError, OutputError, RunNotFoundError, UsageError
from digitcli.output_files import make_folder, write_text

LATEST_POINTER = "latest"
PARTIAL_SUFFIX = ".partial"
FAILED_SUFFIX = ".failed"  # a training that gave no usable model: kept to inspect, never a run
RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
KERAS_FILE = "model.keras"
WEIGHTS_FILE = "weights.npz"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"
CALIBRATION_FILE = "calibration.json"
CHECKPOINT_DIR = "checkpoint"


def new_run_name(label: str) -> str:
    """Sortable by start time, unique across concurrent processes (random suffix)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe_label = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in label)[:40] or "run"
    return f"{stamp}-{safe_label}-{secrets.token_hex(3)}"


# A run name chosen with `train --name`: a plain folder name, never the pointer file or a staging name.
_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def check_run_name(root: Path, name: str) -> None:
    """Refuse a run name that is not a plain folder name or that a run in `root` already has."""
    if (
        not name
        or len(name) > 100
        or not set(name) <= _NAME_CHARACTERS
        or name.startswith(".")
        or name == LATEST_POINTER
        or name.endswith((PARTIAL_SUFFIX, FAILED_SUFFIX))
    ):
        raise UsageError(
            f"--name {name!r}: use up to 100 letters, digits, '-', '_' or '.', not starting with "
            f"'.', not 'latest' and not ending in '{PARTIAL_SUFFIX}' or '{FAILED_SUFFIX}'"
        )
    for taken in (root / name, root / f"{name}{PARTIAL_SUFFIX}"):
        if taken.exists():
            raise UsageError(
                f"{taken}: a run with this name exists; choose another --name "
                f"(or delete it: digitcli runs rm {name})"
            )


def create_staging_dir(root: Path, label: str, name: str | None = None) -> Path:
    """Make `<root>/<unique name>.partial/` to write a new run into (`<root>/<name>.partial/`
    when the run is named; creating that folder is what reserves the name)."""
    make_folder(root, "results folder")
    if name is not None:
        check_run_name(root, name)
        staging = root / f"{name}{PARTIAL_SUFFIX}"
        try:
            staging.mkdir()
        except FileExistsError:  # another process took the name just now
            check_run_name(root, name)
            raise
        except OSError as exc:
            raise OutputError(
                f"{root}: cannot write into the results folder ({exc.strerror})"
            ) from exc
        return staging
    for _ in range(10):
        staging = root / f"{new_run_name(label)}{PARTIAL_SUFFIX}"
        try:
            staging.mkdir()
            return staging
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(
                f"{root}: cannot write into the results folder ({exc.strerror})"
            ) from exc
    raise OutputError(f"{root}: could not find a free run name")


def finalize_run(staging: Path) -> Path:
    """Rename a complete staging folder into place and point `latest` at it."""
    final = staging.with_name(staging.name.removesuffix(PARTIAL_SUFFIX))
    if final.exists():  # os.rename would replace an empty folder of that name
        raise OutputError(f"{final}: exists already; the finished run stays in {staging}")
    try:
        os.rename(staging, final)
    except OSError as exc:
        raise OutputError(
            f"{staging}: cannot move the finished run into place ({exc.strerror})"
        ) from exc
    point_latest(final)
    return final


def point_latest(run: Path) -> None:
    """Make `<results>/latest` name `run` (the pointer's one format: the run's name, a newline)."""
    write_text(run.parent / LATEST_POINTER, run.name + "\n")


def is_run_dir(path: Path) -> bool:
    return (
        path.is_dir()
        and not path.name.endswith((PARTIAL_SUFFIX, FAILED_SUFFIX))
        and (path / RUN_FILE).is_file()
    )


def list_runs(root: Path) -> list[Path]:
    """Complete runs under `root`, oldest first."""
    if not root.is_dir():
        return []
    return sorted(child for child in root.iterdir() if is_run_dir(child))


def read_latest_pointer(root: Path) -> Path | None:
    """The run `<root>/latest` names; None when there is no pointer.

    A pointer that is not a plain one-line file, is empty, names anything but a folder directly in
    `root`, or names no complete run is an error saying so: using another run instead would hide
    the problem, and following `../..` or an absolute path would leave the results folder.
    """
    pointer = root / LATEST_POINTER
    if not os.path.lexists(pointer):
        return None
    fix = f"write a run's name into it, or delete it to use the newest run in {root}"
    if pointer.is_symlink() or not pointer.is_file():
        raise RunNotFoundError(f"{pointer}: expected a one-line text file naming a run; {fix}")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise RunNotFoundError(f"{pointer}: cannot read the pointer ({exc}); {fix}") from exc
    if not name:
        raise RunNotFoundError(f"{pointer}: is empty; {fix}")
    if name in (".", "..") or "/" in name or "\\" in name or "\n" in name:
        raise RunNotFoundError(
            f"{pointer}: names {name!r}, which is not a run folder inside {root}; {fix}"
        )
    named = root / name
    if not is_run_dir(named):
        what = "does not exist" if not named.exists() else "is not a complete run"
        raise RunNotFoundError(f"{pointer}: names {name!r}, which {what}; {fix}")
    return named


def latest_run(root: Path, *, strict: bool = True) -> Path | None:
    """The run `<root>/latest` names, else (no pointer) the newest complete run, else None.

    A broken pointer raises RunNotFoundError; with `strict` False it counts as no pointer (for
    listing and repairing a results folder).
    """
    try:
        named = read_latest_pointer(root)
    except RunNotFoundError:
        if strict:
            raise
        named = None
    if named is not None:
        return named
    runs = list_runs(root)
    return runs[-1] if runs else None


def resolve_run(path: Path | None, default_root: Path = Path("results")) -> Path:
    """A run directory from: nothing (latest under `results/`), a results root, or a run directory."""
    target = default_root if path is None else path
    if target.name == LATEST_POINTER and target.is_file():
        # `results/latest` itself: follow the pointer.
        found = latest_run(target.parent)
        if found is None:
            raise RunNotFoundError(f"{target}: names no complete run")
        return found
    if not target.exists():
        what = "results folder" if path is None else "run directory"
        hint = " (train one first: digitcli train)" if path is None else ""
        raise RunNotFoundError(f"{target}: {what} not found{hint}")
    if target.is_file():
        raise RunNotFoundError(f"{target}: expected a run directory or results folder, got a file")
    if target.name.endswith(PARTIAL_SUFFIX):
        raise RunNotFoundError(
            f"{target}: this run did not finish; resume it with: digitcli train --resume {target}"
        )
    if is_run_dir(target):
        return target
    found = latest_run(target)
    if found is None:
        raise RunNotFoundError(f"{target}: holds no complete run (train one first: digitcli train)")
    return found


@dataclass(frozen=True)
class ModelFiles:
    """Where a model's files are: a run directory, or a bare .keras / .npz file."""

    run_dir: Path | None
    weights: Path | None  # weights.npz for the NumPy engine
    keras: Path | None  # model.keras for the TensorFlow engine
    builtin: str | None = None  # the bundled model's name (builtin.py): read-only, no model.keras

    @property
    def label(self) -> str:
        """Which model this is, for the user: `builtin real-pictures (bundled)`, or its path."""
        if self.builtin is not None:
            return builtin_label(self.builtin)
        return str(self.run_dir or self.weights or self.keras)


def resolve_builtin(name: str) -> ModelFiles:
    """The bundled model `name` (`builtin` on the command line names the default one)."""
    folder = bundled_dir(name)
    if not (folder / WEIGHTS_FILE).is_file():
        known = ", ".join(builtin_names()) or "none in this installation"
        raise ModelError(f"{BUILTIN}:{name}: no such bundled model (bundled: {known})")
    return ModelFiles(folder, folder / WEIGHTS_FILE, None, builtin=name)


def resolve_model(
    path: Path | None,
    default_root: Path = Path("results"),
    *,
    builtin_fallback: bool = False,
) -> ModelFiles:
    """Model files from a run directory, a results root, a .keras file, a weights .npz file, or
    `builtin` (the bundled model; `builtin:<name>` for another one). This is the one place that
    decides which model a command uses.

    With `builtin_fallback` and no path, the bundled model stands in when `default_root` holds no
    run at all (a fresh install); a broken `latest` pointer is still an error.
    """
    if path is not None:
        name = builtin_name(str(path))
        if name is not None:
            return resolve_builtin(name)
    elif builtin_fallback and latest_run(default_root) is None:
        return resolve_builtin(DEFAULT_BUILTIN)
    if path is not None and path.is_file() and path.name != LATEST_POINTER:
        suffix = path.suffix.lower()
        run_dir = path.parent if is_run_dir(path.parent) else None
        sibling_weights = path.with_name(WEIGHTS_FILE)
        sibling_keras = path.with_name(KERAS_FILE)
        if suffix == ".npz":
            return ModelFiles(run_dir, path, sibling_keras if sibling_keras.is_file() else None)
        if suffix == ".keras":
            return ModelFiles(run_dir, sibling_weights if sibling_weights.is_file() else None, path)
        raise ModelError(f"{path}: not a model file (expected a run directory, .keras or .npz)")
    run_dir = resolve_run(path, default_root)
    if run_dir.resolve().parent == bundled_dir(DEFAULT_BUILTIN).parent:  # named by its path
        return resolve_builtin(run_dir.resolve().name)
    weights, keras_file = run_dir / WEIGHTS_FILE, run_dir / KERAS_FILE
    if not weights.is_file() and not keras_file.is_file():
        raise ModelError(f"{run_dir}: holds neither {WEIGHTS_FILE} nor {KERAS_FILE}")
    return ModelFiles(
        run_dir,
        weights if weights.is_file() else None,
        keras_file if keras_file.is_file() else None,
    )


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: file not found") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not readable JSON ({exc})") from exc
