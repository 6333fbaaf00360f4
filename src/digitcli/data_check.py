"""`config validate --data`: do the files a config's data section names exist and open?

A quick check that reads a few bytes of each file (or lists each folder) without loading the data:
a typo in `data.path` then shows up in CI in milliseconds, not after TensorFlow has started. Relative
paths are checked from the current folder, as `train` reads them.
"""

from __future__ import annotations

import os
from pathlib import Path

from digitcli.config import DataConfig
from digitcli.vocabulary import NUM_CLASSES, DataSource


def _file_problem(path: Path, key: str) -> str | None:
    if not path.exists():
        return f"{key}: {path}: file not found"
    if path.is_dir():
        return f"{key}: {path}: is a folder, expected a file"
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        return f"{key}: {path}: cannot read ({exc.strerror or exc})"
    return None


def _folder_problem(path: Path, key: str) -> str | None:
    if not path.exists():
        return f"{key}: {path}: folder not found"
    if not path.is_dir():
        return f"{key}: {path}: is a file, expected a folder with subfolders 0..9"
    try:
        names = set(os.listdir(path))
    except OSError as exc:
        return f"{key}: {path}: cannot read ({exc.strerror or exc})"
    if not names & {str(digit) for digit in range(NUM_CLASSES)}:
        return f"{key}: {path}: holds no subfolders named 0..9"
    return None


def data_problems(config: DataConfig) -> list[str]:
    """One line per missing or unreadable file or folder that `config` names; [] when all is well."""
    found: list[str | None] = []
    path = Path(config.path).expanduser() if config.path is not None else None
    if config.source is DataSource.mnist and path is not None:
        found.append(_file_problem(path, "data.path"))
    elif config.source is DataSource.npy:
        if path is None:
            found.append("data.path: not set (the npy source needs X.npy or its folder)")
        else:
            x_path = path / "X.npy" if path.is_dir() else path
            found.append(_file_problem(x_path, "data.path"))
            labels = (
                Path(config.labels_path).expanduser()
                if config.labels_path
                else x_path.with_name("y.npy")
            )
            found.append(_file_problem(labels, "data.labels_path"))
    elif config.source is DataSource.folder:
        if path is None:
            found.append("data.path: not set (the folder source needs a folder)")
        else:
            found.append(_folder_problem(path, "data.path"))
    return [problem for problem in found if problem is not None]
