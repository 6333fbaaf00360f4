"""Shared fixtures: isolated working folders, a real trained run, the MNIST file, a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
def runner():  # type: ignore[no-untyped-def]
    """A CLI runner with a fixed, wide terminal so Rich output is stable."""
    from typer.testing import CliRunner

    return CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})
