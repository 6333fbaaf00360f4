"""The formats of a run directory's files, one reader and one writer each.

- `history.csv`: one row per epoch (epoch, loss, accuracy, val_loss, val_accuracy, seconds);
- `metrics.json`: split name -> loss, accuracy, errors, total of the final model;
- `run.json`: what made the run (versions, seed, engine, data source and fingerprint, timings);
- `calibration.json`: the temperature that calibrates the model's probabilities (`calibration.py`);
  runs without one (trained before it existed) read as T = 1.

Where runs live and how they are created is `runs.py`; the weights file is model.py's and
inference.py's.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitcli.errors import ModelError
from digitcli.output_files import write_json
from digitcli.runs import CALIBRATION_FILE, HISTORY_FILE, METRICS_FILE, RUN_FILE, read_json

if TYPE_CHECKING:  # predict reads calibration.json without importing the engines (and pydantic)
    from digitcli.calibration import Calibration
    from digitcli.engines import EpochLog

HISTORY_FIELDS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")


def write_history(run_dir: Path, history: Sequence[EpochLog]) -> None:
    with (run_dir / HISTORY_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(HISTORY_FIELDS))
        writer.writeheader()
        for log in history:
            writer.writerow({key: f"{value:.6g}" for key, value in log.as_dict().items()})


def epoch_log_from_dict(row: dict[str, Any]) -> EpochLog:
    """One epoch from a history.csv row or a checkpoint's JSON history."""
    from digitcli.engines import EpochLog

    return EpochLog(
        epoch=int(row["epoch"]),
        loss=float(row["loss"]),
        accuracy=float(row["accuracy"]),
        val_loss=float(row["val_loss"]),
        val_accuracy=float(row["val_accuracy"]),
        seconds=float(row["seconds"]),
    )


def read_history(run_dir: Path) -> list[EpochLog]:
    path = run_dir / HISTORY_FILE
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [epoch_log_from_dict(row) for row in csv.DictReader(handle)]
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: training history not found") from exc
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"{path}: unreadable training history ({exc})") from exc


def read_history_rows(run_dir: Path) -> list[dict[str, float]]:
    """history.csv as rows of numbers, whatever columns it has (for listing runs of any version);
    ModelError, as read_history, when it is missing or unreadable."""
    path = run_dir / HISTORY_FILE
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [
                {key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)
            ]
    except FileNotFoundError as exc:
        raise ModelError(f"{path}: training history not found") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise ModelError(f"{path}: unreadable training history ({exc})") from exc


def write_metrics(run_dir: Path, metrics: dict[str, dict[str, float]]) -> None:
    write_json(run_dir / METRICS_FILE, metrics)


def read_metrics(run_dir: Path, *, missing_ok: bool = False) -> dict[str, Any]:
    """metrics.json as a dict ({} when `missing_ok` and there is none, or it holds no object)."""
    path = run_dir / METRICS_FILE
    if missing_ok and not path.is_file():
        return {}
    metrics = read_json(path)
    return metrics if isinstance(metrics, dict) else {}


def write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
    write_json(run_dir / RUN_FILE, info)


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """run.json as a dict ({} when it holds no object)."""
    info = read_json(run_dir / RUN_FILE)
    return info if isinstance(info, dict) else {}


def write_calibration(run_dir: Path, calibration: Calibration) -> None:
    write_json(run_dir / CALIBRATION_FILE, calibration.to_dict())


def read_calibration(folder: Path | None) -> Calibration:
    """The calibration saved in `folder` (a run directory, or the folder of a bare model file);
    T = 1 (no change) when there is none, as for runs trained before calibration existed."""
    from digitcli.calibration import Calibration

    if folder is None or not (folder / CALIBRATION_FILE).is_file():
        return Calibration()
    path = folder / CALIBRATION_FILE
    document = read_json(path)
    try:
        if not isinstance(document, dict):
            raise ValueError("expected an object")
        return Calibration.from_dict(document)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"{path}: not a readable calibration file ({exc})") from exc
