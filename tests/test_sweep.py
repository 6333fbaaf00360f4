"""`digitcli sweep`: the spec, a sweep of tiny trials, pruning, processes sharing a study, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.config import TrainConfig, load_config
from digitcli.runs import latest_run, list_runs

pytest.importorskip("optuna")

REPO = Path(__file__).resolve().parents[1]
TINY = ["train.epochs=2", "data.limit=200"]


def write_spec(path: Path, **changes: Any) -> Path:
    spec: dict[str, Any] = {
        "study": "tiny",
        "base": str(REPO / "configs" / "default.yaml"),
        "set": TINY,
        "trials": 3,
        "pruner": "none",
        "search": {
            "train.learning_rate": {"float": [0.001, 0.02], "log": True},
            "model.layers.0.units": {"int": [8, 32], "step": 8},
        },
    }
    spec.update(changes)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def study_trials(storage: str, name: str = "tiny") -> list[Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=name, storage=storage)
    return [trial for trial in study.get_trials() if not trial.user_attrs.get("surplus")]


def states(trials: list[Any]) -> list[str]:
    return sorted(trial.state.name for trial in trials)


def sweep_process(spec: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-m", "digitcli", "sweep", str(spec), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trails": 3}, "error: spec.yaml: unknown key trails\n"),
        (
            {"search": {"train.learning_rat": {"float": [0.001, 0.01]}}},
            "error: spec.yaml: search.train.learning_rat: unknown key train.learning_rat "
            "(known keys: batch_size, {known})\n",
        ),
        (
            {"search": {"train.learning_rate": {"float": [0.01, 0.001]}}},
            "error: spec.yaml: search.train.learning_rate: the range's low end must be below its "
            "high end (got [0.01, 0.001])\n",
        ),
        (
            {"search": {"train.batch_size": {"int": [0, 64]}}},
            "error: spec.yaml: search.train.batch_size: train.batch_size: Input should be greater "
            "than 0 (got 0)\n",
        ),
        (
            {"search": {"train.batch_size": {"choices": [16], "log": True}}},
            "error: spec.yaml: search.train.batch_size: log and step apply to ranges, not choices\n",
        ),
    ],
)
def test_bad_specs_are_one_line(runner: CliRunner, changes: dict[str, Any], message: str) -> None:
    write_spec(Path("spec.yaml"), **changes)
    result = runner.invoke(app, ["sweep", "spec.yaml"])
    known = ", ".join(sorted(TrainConfig.model_fields)[1:])  # the keys after batch_size
    assert (result.exit_code, result.stderr) == (2, message.replace("{known}", known))
    assert not Path("results").exists()


@pytest.mark.slow
def test_a_sweep_of_tiny_trials(runner: CliRunner) -> None:
    write_spec(Path("spec.yaml"))
    result = runner.invoke(app, ["sweep", "spec.yaml"])
    assert result.exit_code == 0, result.stderr
    storage = "sqlite:///results/sweeps/tiny/study.db"
    trials = study_trials(storage)
    assert states(trials) == ["COMPLETE"] * 3
    # Each trial is a normal run, named after the study and trial, that knows its trial.
    runs = list_runs(Path("results"))
    assert [run.name for run in runs] == ["tiny-000", "tiny-001", "tiny-002"]
    for trial in trials:
        run = Path(trial.user_attrs["run"])
        meta = json.loads((run / "run.json").read_text())
        assert meta["sweep"] == {"study": "tiny", "trial": trial.number}
        config = load_config(run / "config.yaml")
        assert config.train.learning_rate == trial.params["train.learning_rate"]
        assert config.model.layers[0].model_dump()["units"] == trial.params["model.layers.0.units"]
        metrics = json.loads((run / "metrics.json").read_text())
        assert trial.value == metrics["validation"]["accuracy"]
    # The table: best first.
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "trial", "state", "validation.accuracy", "train.learning_rate", "model.layers.0.units",
        "epochs", "run",
    ]  # fmt: skip
    best = max(trials, key=lambda trial: (trial.value, -trial.number))
    values = [float(line.split()[2]) for line in lines[1:]]
    assert values == sorted(values, reverse=True) and len(values) == 3
    assert lines[1].split()[0] == str(best.number)
    # The best config trains the best trial again, and latest names the best run.
    best_yaml = Path("results/sweeps/tiny/tiny-best.yaml")
    assert load_config(best_yaml) == load_config(Path(best.user_attrs["run"]) / "config.yaml")
    assert latest_run(Path("results")) == Path(best.user_attrs["run"])
    for figure in ("optimization_history", "param_importances", "parallel_coordinate"):
        assert (Path("results/sweeps/tiny") / f"{figure}.png").stat().st_size > 1000
    assert f"best config: {best_yaml} (digitcli train --config {best_yaml})" in result.stderr
    assert "3 of 3 trials finished (3 complete, 0 pruned, 0 failed" in result.stderr

    # Calling it again runs nothing: the study has its trials.
    again = runner.invoke(app, ["sweep", "spec.yaml", "--json"])
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["counts"] == {"complete": 3}
    assert len(list_runs(Path("results"))) == 3


@pytest.mark.slow
def test_a_hopeless_trial_is_pruned_and_leaves_no_run(tmp_path: Path) -> None:
    """Trial 0 learns (learning rate 0.01), trial 1 cannot (1e-7): after its first epoch it is
    below the median of earlier trials and stops; only complete runs get a folder."""
    from digitcli.sweep import _Stop, default_storage, open_storage, open_study, run_worker
    from digitcli.sweep_spec import load_spec

    spec = load_spec(
        write_spec(
            tmp_path / "spec.yaml",
            set=["train.epochs=3", "data.limit=300", f"output.dir={tmp_path / 'results'}"],
            trials=2,
            pruner={"kind": "median", "startup_trials": 1, "warmup_epochs": 0},
            search={"train.learning_rate": {"float": [1e-7, 0.01], "log": True}},
        )
    )
    (tmp_path / "results" / "sweeps" / "tiny").mkdir(parents=True)
    url = default_storage(spec)
    study = open_study(spec, open_storage(url), create=True)
    study.enqueue_trial({"train.learning_rate": 0.01})
    study.enqueue_trial({"train.learning_rate": 1e-7})
    messages: list[str] = []
    assert run_worker(spec, url, 0, messages.append, _Stop()) is False
    first, second = study_trials(url)
    assert (first.state.name, second.state.name) == ("COMPLETE", "PRUNED")
    assert list(second.intermediate_values) == [1]
    assert "trial 1 pruned after epoch 1" in messages
    assert [run.name for run in list_runs(tmp_path / "results")] == ["tiny-000"]
    assert latest_run(tmp_path / "results") == tmp_path / "results" / "tiny-000"
    assert not list((tmp_path / "results").glob("*.partial"))


@pytest.mark.slow
def test_processes_sharing_one_storage_run_each_trial_once(tmp_path: Path) -> None:
    """`--jobs 2` (two workers) and a second `sweep` process on the same SQLite file: together they
    complete the study's 5 trials, each trial one run, none run twice."""
    spec = write_spec(tmp_path / "spec.yaml", trials=5)
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    os.chdir(tmp_path)
    processes = [
        sweep_process(spec, "--storage", storage, "--jobs", "2"),
        sweep_process(spec, "--storage", storage),
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    trials = study_trials(storage)
    assert states(trials) == ["COMPLETE"] * 5
    assert sorted(trial.number for trial in trials) == sorted({trial.number for trial in trials})
    runs = {trial.user_attrs["run"] for trial in trials}
    assert len(runs) == 5
    assert sorted(str(run) for run in list_runs(Path("results"))) == sorted(runs)
    started = [
        line.split()[1]
        for _, stderr in outputs
        for line in stderr.splitlines()
        if line.startswith("trial ") and " started:" in line
    ]
    assert sorted(started) == sorted({trial_number for trial_number in started})  # none twice


@pytest.mark.slow
def test_an_interrupted_sweep_keeps_its_trials_and_continues(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "spec.yaml", trials=3)
    os.chdir(tmp_path)
    process = sweep_process(spec)
    assert process.stderr is not None
    seen = []
    # "trial 1 started" is printed after trial 0 finished and before trial 1's work begins, and
    # the Ctrl-C handler is in place before any trial starts.
    for line in process.stderr:
        seen.append(line)
        if line.startswith("trial 1 started"):
            process.send_signal(signal.SIGINT)
            break
    else:
        pytest.fail("the sweep ended without starting trial 1:\n" + "".join(seen))
    _, rest = process.communicate(timeout=300)
    assert process.returncode == 130, "".join(seen) + rest
    assert rest.splitlines()[-1] == (
        f"error: sweep interrupted; finished trials are kept. Continue with: digitcli sweep {spec}"
    )
    storage = "sqlite:///results/sweeps/tiny/study.db"
    before = {trial.number: trial.value for trial in study_trials(storage) if trial.value}
    assert 0 in before
    assert len(list_runs(Path("results"))) == len(before)
    assert not list(Path("results").glob("*.partial"))

    resumed = sweep_process(spec)
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    complete = {t.number: t.value for t in study_trials(storage) if t.state.name == "COMPLETE"}
    assert len(complete) == 3
    assert all(complete[number] == value for number, value in before.items())
    assert len(list_runs(Path("results"))) == 3


def test_the_example_spec_is_valid() -> None:
    from digitcli.sweep_spec import load_spec

    spec = load_spec(REPO / "configs" / "sweeps" / "reference.yaml")
    assert spec.study == "reference" and spec.spec.trials == 16
    assert list(spec.spec.search) == [
        "train.learning_rate",
        "train.batch_size",
        "model.layers.0.units",
        "model.layers.1.units",
    ]
    assert spec.trial_config({}).train.epochs == 30
