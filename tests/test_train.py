"""`train` end to end: the run directory, reproducibility, the CLI's output and errors."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.config import load_config
from digitcli.inference import NumpyModel
from digitcli.runs import latest_run, list_runs

TINY = ["train.epochs=3", "data.limit=400"]


def test_train_cli_writes_a_complete_run(runner: CliRunner) -> None:
    result = runner.invoke(app, ["train", *[arg for o in TINY for arg in ("--set", o)]])
    assert result.exit_code == 0, result.stderr
    run_dir = Path(result.stdout.strip())
    assert run_dir.parent == Path("results") and run_dir.is_dir()
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "calibration.json",
        "config.yaml",
        "history.csv",
        "metrics.json",
        "model.keras",
        "run.json",
        "weights.npz",
    ]
    assert latest_run(Path("results")) == run_dir
    assert (Path("results") / "latest").read_text().strip() == run_dir.name
    # Plain progress when not on a terminal: one parseable line per epoch, no ANSI codes.
    epoch_lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epoch_lines] == ["1/3", "2/3", "3/3"]
    assert "\x1b[" not in result.stderr + result.stdout
    assert "test: loss=" in result.stderr and "errors out of" in result.stderr
    # Before the first epoch: what it is doing (MNIST takes seconds to load).
    assert result.stderr.startswith("loading data: digits (built in)\nbuilding model\nepoch 1/3 ")

    with (run_dir / "history.csv").open() as handle:
        history = list(csv.DictReader(handle))
    assert [row["epoch"] for row in history] == ["1", "2", "3"]
    assert set(history[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"}

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"train", "validation", "test"}
    for split in metrics.values():
        assert split["errors"] == round((1 - split["accuracy"]) * split["total"])
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["seed"] == 1234 and meta["data"]["source"] == "digits"
    assert len(meta["data"]["fingerprint"]) == 16
    assert {"tensorflow", "keras", "numpy", "digitcli"} <= set(meta["versions"])
    assert meta["wall_seconds"] > 0
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["train"]["epochs"] == 3 and saved["data"]["limit"] == 400


def test_metrics_match_the_saved_model(trained_run: Path) -> None:
    from digitcli.data import load_dataset

    config = load_config(trained_run / "config.yaml")
    data = load_dataset(config.data, config.seed)
    model = NumpyModel.load(trained_run / "weights.npz")
    predicted = model.logits(data.test.x).argmax(axis=1)
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["test"]["errors"] == int(np.count_nonzero(predicted != data.test.y))
    assert metrics["test"]["total"] == len(data.test)


@pytest.mark.slow
def test_the_saved_config_reproduces_the_run_exactly(runner: CliRunner) -> None:
    """Same config and seed, same metrics and history; the second run never overwrites the first."""
    first = runner.invoke(app, ["train", "--set", "train.epochs=2", "--set", "data.limit=300"])
    assert first.exit_code == 0, first.stderr
    run_dir = Path(first.stdout.strip())
    again = runner.invoke(app, ["train", "--config", str(run_dir / "config.yaml")])
    assert again.exit_code == 0, again.stderr
    rerun = Path(again.stdout.strip())
    assert rerun != run_dir
    assert sorted(list_runs(Path("results"))) == sorted([run_dir, rerun])
    assert json.loads((rerun / "metrics.json").read_text()) == json.loads(
        (run_dir / "metrics.json").read_text()
    )

    def losses(run: Path) -> list[tuple[str, ...]]:
        with (run / "history.csv").open() as handle:
            return [(row["loss"], row["val_loss"]) for row in csv.DictReader(handle)]

    assert losses(rerun) == losses(run_dir)


def test_json_output_and_the_keras_engine(runner: CliRunner) -> None:
    # That both engines train the same model is tested in test_engines.py; here the config picks it.
    # Three epochs on 400 images: enough to beat chance (a run at chance is a failed training).
    options = ["train.epochs=3", "data.limit=400", "train.engine=keras"]
    result = runner.invoke(
        app, ["--quiet", "train", "--json", *[arg for o in options for arg in ("--set", o)]]
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert Path(document["run_dir"]).is_dir()
    meta = json.loads((Path(document["run_dir"]) / "run.json").read_text())
    assert meta["engine"] == "keras"
    assert document["epochs"] == 3
    assert result.stderr == ""  # --quiet: no progress


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            ["--set", "train.epochs=0"],
            "error: config (with --set): train.epochs: Input should be greater than 0 (got 0)\n",
            2,
        ),
        (["--config", "nope.yaml"], "error: nope.yaml: config file not found\n", 2),
        (
            ["--set", "train.epoch=3"],
            "error: --set train.epoch=3: unknown key train.epoch (known keys: batch_size, early_stopping, engine, epochs, l2, learning_rate, momentum, optimizer, outlier_exposure, schedule, weight_decay)\n",
            2,
        ),
        (
            ["--set", "data.source=npy"],
            "error: data.source is npy but data.path is not set (X.npy or its folder)\n",
            1,
        ),
        (
            ["--resume", "results/nothing.partial"],
            "error: results/nothing.partial: no interrupted run found to resume\n",
            1,
        ),
    ],
)
def test_train_errors_are_one_line(
    runner: CliRunner, args: list[str], message: str, code: int
) -> None:
    result = runner.invoke(app, ["train", *args])
    assert result.stderr == message
    assert result.exit_code == code
    assert result.stdout == ""
    assert not list_runs(Path("results"))


def test_bad_config_exit_code_is_usage(runner: CliRunner) -> None:
    Path("bad.yaml").write_text("train: {epochs: -1}\n")
    result = runner.invoke(app, ["train", "--config", "bad.yaml"])
    assert result.exit_code == 2
    assert (
        result.stderr == "error: bad.yaml: train.epochs: Input should be greater than 0 (got -1)\n"
    )


def test_unwritable_results_folder(runner: CliRunner) -> None:
    Path("results").write_text("a file where the results folder should be")
    result = runner.invoke(app, ["train", "--set", "train.epochs=1", "--set", "data.limit=200"])
    assert result.exit_code == 1
    # After the progress lines ("loading data: …", "building model"), one error line.
    assert result.stderr.splitlines()[-1].startswith(
        "error: results: cannot create the results folder"
    )
    assert result.stderr.count("error:") == 1


def _rich_display(interrupted: bool) -> str:
    import io

    from rich.console import Console

    from digitcli.cli.train import _RichProgress
    from digitcli.engines import EpochLog

    out = io.StringIO()
    display = _RichProgress(Console(file=out, force_terminal=True, width=200, no_color=True))
    display.start(3, 0)
    for epoch in (1, 2):
        display.epoch(EpochLog(epoch, 0.5, 0.9, 0.6, 0.8, 0.01))
    display.stop(interrupted=interrupted)
    return out.getvalue()


def test_the_progress_bar_says_which_time_is_which() -> None:
    raw = _rich_display(interrupted=False)
    assert raw.endswith("\n\x1b[?25h")  # the bar stays on screen (then the cursor shows)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert "epoch 2/3" in text
    assert re.search(r"elapsed 0:00:0\d(, about 0:00:\d\d left)?", text)
    assert " left 0:" not in text  # the old ambiguous "0:00:05 left 0:00:07"


def test_an_interrupted_bar_is_erased_not_printed_again() -> None:
    # After Ctrl-C the final bar was printed once more below the ^C; now the live bar is erased
    # (cursor up, erase line) and the error line that follows says where training stopped.
    raw = _rich_display(interrupted=True)
    assert raw.endswith("\x1b[1A\x1b[2K")  # the last line printed (the bar) is erased
