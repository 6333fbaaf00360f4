"""Interrupts, resume, concurrent runs and atomic run folders, with real processes and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digitcli.errors import RunNotFoundError
from digitcli.runs import PARTIAL_SUFFIX, latest_run, list_runs, resolve_run

RECIPE = ["--set", "data.limit=500", "--set", "train.epochs=120"]


def digitcli(*args: str) -> list[str]:
    return [sys.executable, "-m", "digitcli", *args]


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(digitcli(*args), capture_output=True, text=True, timeout=timeout)


def test_sigint_checkpoints_and_resume_matches_uninterrupted_run() -> None:
    process = subprocess.Popen(
        digitcli("train", *RECIPE), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    for line in process.stderr:
        if line.startswith("epoch 5/"):
            process.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline, "training never reached epoch 5"
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    error_line = stderr.strip().splitlines()[-1]
    assert error_line.startswith("error: training interrupted after epoch ")
    assert "checkpoint saved. Resume with: digitcli train --resume results/" in error_line
    assert stdout == ""
    partial = Path(error_line.rsplit(" ", 1)[-1])
    assert partial.name.endswith(PARTIAL_SUFFIX) and (partial / "checkpoint").is_dir()
    assert list_runs(Path("results")) == []  # nothing half-written is listed or used
    with pytest.raises(RunNotFoundError):
        resolve_run(None)

    resumed = run_cli("train", "--resume", str(partial))
    assert resumed.returncode == 0, resumed.stderr
    resumed_dir = Path(resumed.stdout.strip())
    assert not partial.exists() and not (resumed_dir / "checkpoint").exists()
    first_resumed_epoch = int(resumed.stderr.split("epoch ", 1)[1].split("/", 1)[0])
    assert first_resumed_epoch > 5

    uninterrupted = run_cli("train", *RECIPE)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    reference_dir = Path(uninterrupted.stdout.strip())
    assert json.loads((resumed_dir / "metrics.json").read_text()) == json.loads(
        (reference_dir / "metrics.json").read_text()
    )
    history = (resumed_dir / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 120


def test_two_concurrent_trainings_both_complete() -> None:
    args = digitcli("train", "--set", "data.limit=300", "--set", "train.epochs=3")
    processes = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=240) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err for _, err in outputs]
    run_dirs = {Path(out.strip()) for out, _ in outputs}
    assert len(run_dirs) == 2
    assert set(list_runs(Path("results"))) == run_dirs
    assert latest_run(Path("results")) in run_dirs
    for run_dir in run_dirs:
        assert (run_dir / "metrics.json").is_file() and (run_dir / "run.json").is_file()
    assert not [
        p
        for p in Path("results").iterdir()
        if p.name.endswith(PARTIAL_SUFFIX) or p.name.startswith(".")
    ]


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
    (root / "latest").write_text("20990101-000000-x-abcdef.partial\n")  # a stale pointer
    assert resolve_run(root) == complete
    assert resolve_run(root / "latest") == complete  # the pointer file itself is accepted


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
