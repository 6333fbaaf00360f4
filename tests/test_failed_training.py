"""Trainings that give no usable model are reported as failed, not kept as runs (issue 15, item 8)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.config import load_config
from digitcli.engines import EpochLog
from digitcli.errors import ResourceExhausted
from digitcli.runs import latest_run, list_runs
from digitcli.trainer import failure_reason, out_of_memory_as_error

LABELS = np.array([0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 9])  # the commonest digits: 2 of 12


def log(epoch: int, loss: float, val_accuracy: float, val_loss: float = 1.0) -> EpochLog:
    return EpochLog(epoch, loss, 0.5, val_loss, val_accuracy, 0.01)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_diverged_loss_is_a_failure(bad: float) -> None:
    config = load_config(None, ["train.learning_rate=5"])
    history = [log(1, 2.0, 0.5), log(2, bad, 0.5)]
    reason = failure_reason(history, LABELS, config)
    assert reason == (
        f"the loss diverged ({bad} at epoch 2; train.learning_rate is 5: try a smaller one)"
    )
    assert failure_reason([log(1, 2.0, 0.5, val_loss=bad)], LABELS, config) is not None


def test_chance_is_the_commonest_digits_share() -> None:
    config = load_config(None)
    chance = 2 / 12
    assert failure_reason([log(1, 2.0, 3 / 12)], LABELS, config) is None  # one more right
    reason = failure_reason([log(1, 2.0, chance)], LABELS, config)
    assert reason is not None and reason.startswith(
        "it ended no better than chance (validation accuracy 0.1667; always guessing the "
        "commonest digit scores 0.1667;"
    )
    assert failure_reason([log(1, 2.0, 0.1)], np.array([], dtype=np.int64), config) is None


def test_a_run_at_chance_fails_and_is_kept_aside(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        ["train", "--set", "train.learning_rate=10", "--set", "train.epochs=3"],
    )
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training failed: it ended no better than chance")
    assert "train.learning_rate is 10" in last and last.endswith("(not a run, not latest)")
    assert result.stdout == ""
    (failed,) = Path("results").glob("*.failed")
    assert json.loads((failed / "failure.json").read_text())["epochs"] == 3
    assert (failed / "config.yaml").is_file() and (failed / "history.csv").is_file()
    assert list_runs(Path("results")) == [] and latest_run(Path("results")) is None
    assert not (Path("results") / "latest").exists()


@pytest.mark.parametrize("doing", ["building the model", "training the model"])
def test_out_of_memory_is_one_line(doing: str) -> None:
    import tensorflow as tf

    config = load_config(None, ["model.layers.0.units=1000"])
    oom = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor\nwith shape")
    for error in (oom, MemoryError()):
        with pytest.raises(ResourceExhausted) as caught, out_of_memory_as_error(config, doing):
            raise error
        assert caught.value.message == (
            f"out of memory {doing} (416,175 parameters, batch size 32): use fewer units or a "
            "smaller train.batch_size"
        )
    with pytest.raises(ValueError, match="not memory"), out_of_memory_as_error(config, doing):
        raise ValueError("not memory")


def test_a_diverging_run_stops_at_once(runner: CliRunner) -> None:
    recipe = [
        "train.optimizer=sgd",
        "train.learning_rate=10",
        "train.epochs=20",
        "data.limit=300",
        "model.layers.0.activation=linear",
        "model.layers.1.activation=linear",
    ]
    result = runner.invoke(app, ["train", *[part for text in recipe for part in ("--set", text)]])
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training failed: the loss diverged (nan at epoch 1;"), last
    (failed,) = Path("results").glob("*.failed")
    assert json.loads((failed / "failure.json").read_text())["epochs"] == 1  # not 20
    assert list_runs(Path("results")) == []
