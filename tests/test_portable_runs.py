"""Runs work from any folder: saved configs record absolute data paths (issue 15, item 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.config import load_config
from digitcli.errors import TrainingInterrupted
from digitcli.trainer import TrainCallbacks, train


def lab_files(folder: Path) -> None:
    """400 real digits as the lab's X.npy / y.npy (row-major rows)."""
    from digitcli.data import load_dataset

    dataset = load_dataset(load_config(None).data, 0)
    folder.mkdir(parents=True)
    np.save(folder / "X.npy", dataset.train.x[:400])
    np.save(folder / "y.npy", dataset.train.y[:400])


RECIPE = [
    "data.source=npy",
    "data.path=data/X.npy",  # relative: the folder train runs in
    "data.pixel_order=row_major",
    "train.epochs=6",
]


def sets(*overrides: str) -> list[str]:
    return [part for text in overrides for part in ("--set", text)]


def test_a_run_trained_with_relative_paths_works_from_elsewhere(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    lab_files(here / "data")
    elsewhere.mkdir()
    monkeypatch.chdir(here)
    trained = runner.invoke(app, ["--quiet", "train", *sets(*RECIPE)])
    assert trained.exit_code == 0, trained.stderr
    run = (here / trained.stdout.strip()).resolve()
    expected = str(here / "data" / "X.npy")
    assert load_config(run / "config.yaml").data.path == expected
    assert json.loads((run / "run.json").read_text())["data"]["path"] == expected

    monkeypatch.chdir(elsewhere)
    evaluated = runner.invoke(app, ["evaluate", str(run), "--json"])
    assert evaluated.exit_code == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["data"]["matches_run"] is True
    checked = runner.invoke(app, ["config", "validate", "--data", str(run / "config.yaml")])
    assert checked.exit_code == 0, checked.stderr


def test_resume_accepts_new_data_paths_only(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab_files(tmp_path / "data")
    config = load_config(None, RECIPE)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(config, callbacks=TrainCallbacks(should_stop=lambda: True))  # after epoch 1
    partial = Path(stopped.value.message.rsplit(" ", 1)[-1])
    os.rename(tmp_path / "data", tmp_path / "moved")

    refused = runner.invoke(app, ["train", "--resume", str(partial), *sets("train.epochs=9")])
    assert refused.exit_code == 2
    assert refused.stderr == (
        "error: --set train.epochs=9: --resume continues a run with its saved config; only "
        "data.path and data.labels_path may be changed (the data moved)\n"
    )
    moved = tmp_path / "moved" / "X.npy"
    resumed = runner.invoke(
        app, ["--quiet", "train", "--resume", str(partial), *sets(f"data.path={moved}")]
    )
    assert resumed.exit_code == 0, resumed.stderr
    run = Path(resumed.stdout.strip())
    assert load_config(run / "config.yaml").data.path == str(moved)
