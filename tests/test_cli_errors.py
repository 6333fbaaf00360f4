"""The error model: one line on stderr, a documented exit code, tracebacks only with --debug."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.cli._common import settings
from digitcli.cli._group import GLOBAL_FLAGS, DigitcliGroup, hoist_global_flags
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
    assert result.stderr == (
        "error: No such option: --no-such-option\n"
        "hint: 'digitcli train --help' lists the arguments and options\n"
    )


def test_a_piped_usage_error_is_two_plain_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "digitcli", "predict", "x.png", "--format", "xml"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: Invalid value for '--format' / '-f': 'xml' is not one of 'table', 'plain', "
        "'csv', 'json', 'jsonl'.",
        "hint: 'python -m digitcli predict --help' lists the arguments and options",
    ]


@pytest.mark.parametrize("flag", ["--quiet", "-q", "--no-color", "--debug"])
def test_global_options_work_after_the_subcommand(runner: CliRunner, flag: str) -> None:
    settings.quiet = settings.no_color = settings.debug = False
    result = runner.invoke(app, ["config", "show", flag])
    assert result.exit_code == 0, result.stderr
    assert (settings.quiet, settings.no_color, settings.debug) == (
        flag in ("--quiet", "-q"),
        flag == "--no-color",
        flag == "--debug",
    )


def test_global_flags_are_not_moved_past_a_double_dash() -> None:
    commands = ["predict", "config"]
    assert hoist_global_flags(["predict", "a.png", "--debug", "-q"], commands) == [
        "--debug",
        "-q",
        "predict",
        "a.png",
    ]
    assert hoist_global_flags(["-v", "predict", "--", "--debug"], commands) == [
        "-v",
        "predict",
        "--",
        "--debug",
    ]


def test_no_command_has_an_option_named_like_a_global_one() -> None:
    import typer

    group = typer.main.get_command(app)
    assert isinstance(group, DigitcliGroup)

    def options(command: Any) -> set[str]:
        names = {name for param in command.params for name in param.opts + param.secondary_opts}
        for sub in getattr(command, "commands", {}).values():
            names |= options(sub)
        return names

    clashes = {name: options(sub) & GLOBAL_FLAGS for name, sub in group.commands.items()}
    assert not {name: found for name, found in clashes.items() if found}


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


def test_mnist_download_prints_no_tensorflow_log_lines(tmp_path: Path) -> None:
    # data.path null: Keras downloads MNIST. Its download fails at once here (an empty home, so
    # no cache, and a proxy on a closed port), after TensorFlow was imported for it; that import
    # printed TensorFlow's log lines, and Keras its progress on stdout.
    env = {**os.environ, "HOME": str(tmp_path), "KERAS_HOME": str(tmp_path / ".keras")}
    env |= {"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    done = subprocess.run(
        [sys.executable, "-m", "digitcli", "train", "--set", "data.source=mnist"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == "loading data: mnist (Keras's download or cache)"
    assert lines[-1].startswith("error: cannot download MNIST (")
    assert [line for line in lines[1:-1] if not line.startswith("Downloading data from ")] == []
