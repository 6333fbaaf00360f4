"""Shared fixtures: isolated working folders, a real trained run, the MNIST file, a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
MNIST_NPZ = REPO.parent / "shared" / "data" / "mnist" / "mnist.npz"


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in its own empty folder, so results/ never leaks between tests."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def mnist_npz() -> Path:
    if not MNIST_NPZ.is_file():
        pytest.skip(f"{MNIST_NPZ} not available")
    return MNIST_NPZ


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run: the default recipe on the built-in digits, shortened to 8 epochs. Read-only."""
    from digitcli.config import load_config
    from digitcli.trainer import train

    root = tmp_path_factory.mktemp("session-results")
    config = load_config(None, [f"output.dir={root}", "train.epochs=8"])
    return train(config, label="fixture").run_dir


@pytest.fixture
def runner() -> CliRunner:
    """A CLI runner with a fixed, wide terminal so Rich output is stable."""
    return CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})


@pytest.fixture(scope="session")
def confident_digits(
    trained_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[int, np.ndarray]:
    """label -> canonical 20x20 image (light on dark) that the `trained_run` model reads
    confidently (> 0.8) when it is saved as a dark-on-light PNG and predicted; 2 or 3 labels."""
    from pictures import paper
    from PIL import Image

    from digitcli.config import load_config
    from digitcli.data import load_dataset
    from digitcli.inference import NumpyModel
    from digitcli.predict import InputItem, predict_inputs
    from digitcli.runs import resolve_model

    config = load_config(trained_run / "config.yaml")
    test = load_dataset(config.data, config.seed).test
    probabilities = NumpyModel.load(trained_run / "weights.npz").probabilities(test.x)
    folder = tmp_path_factory.mktemp("samples")
    files = resolve_model(trained_run)
    chosen: dict[int, np.ndarray] = {}
    for index in np.argsort(-probabilities.max(axis=1), kind="stable"):
        label = int(test.y[index])
        if label in chosen or int(probabilities[index].argmax()) != label:
            continue
        image = test.x[index].reshape(20, 20)
        path = folder / f"{index}.png"
        Image.fromarray(paper(image)).save(path)
        record = next(predict_inputs([InputItem(path, str(path))], files))
        if record.digit == label and (record.confidence or 0) > 0.8:
            chosen[label] = image
        if len(chosen) == 3:
            break
    assert len(chosen) >= 2, "the fixture model reads too few digits confidently"
    return chosen
