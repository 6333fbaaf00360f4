"""Interrupts, resume, concurrent runs and atomic run folders, with real processes and signals."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.errors import RunNotFoundError
from digitcli.runs import PARTIAL_SUFFIX, latest_run, list_runs, resolve_run

RECIPE = ["--set", "data.limit=500", "--set", "train.epochs=120"]


def digitcli(*args: str) -> list[str]:
    return [sys.executable, "-m", "digitcli", *args]


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(digitcli(*args), capture_output=True, text=True, timeout=timeout)


# Progress and summary lines; anything else on a training process's stderr is TensorFlow noise.
PROGRESS: tuple[str, ...] = ("loading data: ", "building model", "epoch ", "train:")
PROGRESS += ("validation:", "test:", "seconds=")


@pytest.mark.slow
def test_sigint_checkpoints_resume_and_a_concurrent_run_all_match(runner: CliRunner) -> None:
    """Two trainings of one recipe start at once in one results folder; Ctrl-C stops one, which
    keeps a checkpoint; resumed, it ends with the other's metrics. Each gets its own run folder."""
    reference = subprocess.Popen(
        digitcli("train", *RECIPE), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # No race with a fast machine: stderr is a one-page pipe that this test stops reading at
    # "epoch 5/", so training blocks on its progress line within ~45 epochs of the 120 and the
    # signal always arrives before the run can finish.
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    process = subprocess.Popen(
        digitcli("train", *RECIPE), stdout=subprocess.PIPE, stderr=write_end, text=True
    )
    os.close(write_end)
    seen = bytearray()
    while not seen.endswith(b"\n") or not seen.rsplit(b"\n", 2)[-2].startswith(b"epoch 5/"):
        byte = os.read(read_end, 1)  # one byte at a time: nothing past that line is taken
        assert byte, f"training ended before epoch 5: {seen.decode()}"
        seen += byte
    process.send_signal(signal.SIGINT)
    with os.fdopen(read_end, "rb") as rest:
        seen += rest.read()  # unblocks the progress line; ends when the process exits
    stdout, _ = process.communicate(timeout=120)
    stderr = seen.decode()
    assert process.returncode == 130, stderr
    error_line = stderr.strip().splitlines()[-1]
    assert error_line.startswith("error: training interrupted after epoch ")
    assert "checkpoint saved. Resume with: digitcli train --resume results/" in error_line
    assert stdout == ""
    partial = Path(error_line.rsplit(" ", 1)[-1])
    assert partial.name.endswith(PARTIAL_SUFFIX) and (partial / "checkpoint").is_dir()
    # Nothing half-written is listed or used (the other run may have finished by now).
    assert partial.resolve() not in {run.resolve() for run in list_runs(Path("results"))}
    try:
        chosen: Path | None = resolve_run(None)
    except RunNotFoundError:
        chosen = None
    assert chosen is None or chosen.resolve() != partial.resolve()

    # Resumed in this process: TensorFlow is loaded here already.
    resumed = runner.invoke(app, ["train", "--resume", str(partial)])
    assert resumed.exit_code == 0, resumed.stderr
    reference_stdout, reference_stderr = reference.communicate(timeout=240)
    assert reference.returncode == 0, reference_stderr
    resumed_dir, reference_dir = Path(resumed.stdout.strip()), Path(reference_stdout.strip())
    assert not partial.exists() and not (resumed_dir / "checkpoint").exists()
    first_resumed_epoch = int(resumed.stderr.split("epoch ", 1)[1].split("/", 1)[0])
    assert first_resumed_epoch > 5
    assert json.loads((resumed_dir / "metrics.json").read_text()) == json.loads(
        (reference_dir / "metrics.json").read_text()
    )
    history = (resumed_dir / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 120
    # Each got its own run folder, `latest` names one of them whole, nothing half-written is left.
    assert resumed_dir != reference_dir
    assert set(list_runs(Path("results"))) == {resumed_dir, reference_dir}
    assert latest_run(Path("results")) in {resumed_dir, reference_dir}
    for run_dir in (resumed_dir, reference_dir):
        assert (run_dir / "metrics.json").is_file() and (run_dir / "run.json").is_file()
    assert not [
        p
        for p in Path("results").iterdir()
        if p.name.endswith(PARTIAL_SUFFIX) or p.name.startswith(".")
    ]
    # A real training process prints progress and the summary, no TensorFlow log lines.
    for line in reference_stderr.splitlines():
        assert line.startswith(PROGRESS), line


def test_partial_runs_are_never_used(trained_run: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(trained_run, root / f"20990101-000000-x-abcdef{PARTIAL_SUFFIX}")
    assert list_runs(root) == []
    with pytest.raises(RunNotFoundError, match="holds no complete run"):
        resolve_run(root)
    with pytest.raises(
        RunNotFoundError, match="did not finish; resume it with: digitcli train --resume"
    ):
        resolve_run(root / f"20990101-000000-x-abcdef{PARTIAL_SUFFIX}")
    complete = root / trained_run.name
    shutil.copytree(trained_run, complete)
    assert resolve_run(root) == complete  # no pointer: the newest complete run
    (root / "latest").write_text(f"{complete.name}\n")
    assert resolve_run(root / "latest") == complete  # the pointer file itself is accepted
    # A pointer naming an unfinished run is broken: an error, not silently another run.
    (root / "latest").write_text("20990101-000000-x-abcdef.partial\n")
    with pytest.raises(RunNotFoundError, match="which is not a complete run; write a run's name"):
        resolve_run(root)


def test_missing_run_directory_is_one_line() -> None:
    with pytest.raises(RunNotFoundError, match=r"^nowhere: run directory not found$"):
        resolve_run(Path("nowhere"))
    with pytest.raises(
        RunNotFoundError, match=r"results: results folder not found \(train one first"
    ):
        resolve_run(None)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_results_folder(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        result = run_cli(
            "train",
            "--set",
            f"output.dir={root}",
            "--set",
            "train.epochs=1",
            "--set",
            "data.limit=200",
        )
    finally:
        root.chmod(0o700)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {root}: cannot write")
