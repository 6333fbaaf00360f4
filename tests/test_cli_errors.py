"""The error model: one line on stderr, a documented exit code, tracebacks only with --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.errors import ExitCode


@pytest.fixture
def broken_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make config loading hit a bug (an unexpected exception), as a stand-in for any defect."""

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("digitcli.config.load_config", explode)


def test_unexpected_exception_is_short_with_debug_hint(
    runner: CliRunner, broken_loader: None
) -> None:
    result = runner.invoke(app, ["train"])
    assert result.exit_code == int(ExitCode.INTERNAL) == 70
    assert result.stderr == (
        "error: unexpected RuntimeError: boom (this is a bug; rerun with --debug for the "
        "traceback and report it)\n"
    )
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(runner: CliRunner, broken_loader: None) -> None:
    result = runner.invoke(app, ["--debug", "train"])
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.stderr
    assert 'raise RuntimeError("boom")' in result.stderr


def test_usage_errors_exit_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["train", "--no-such-option"])
    assert result.exit_code == 2
    assert "No such option" in result.stderr


def test_real_process_prints_no_traceback_and_no_tf_noise(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("train:\n  epochs: [1, 2\n")
    result = subprocess.run(
        [sys.executable, "-m", "digitcli", "train", "--config", str(tmp_path / "bad.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {tmp_path / 'bad.yaml'}: YAML syntax error at line 3")
