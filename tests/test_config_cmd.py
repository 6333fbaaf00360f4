"""`digitcli config show | validate | reference`, the generated config reference, CLI conventions."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from digitcli import __version__
from digitcli.cli import app
from digitcli.config import Config, load_config
from digitcli.config_reference import render_reference
from digitcli.layers import LAYER_TYPES

REPO = Path(__file__).resolve().parents[1]
DEFAULT_YAML = REPO / "configs" / "default.yaml"
REFERENCE_MD = REPO / "docs" / "config-reference.md"

# --- config show -------------------------------------------------------------------------------


def test_show_prints_the_default_recipe_that_train_would_use(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("# digitcli config, every setting resolved from the built-in")
    shown = tmp_path / "my.yaml"
    shown.write_text(result.stdout)

    loaded = load_config(shown)
    assert loaded == load_config(None) == Config()
    assert loaded == load_config(DEFAULT_YAML)
    # Every setting is spelled out, defaults included, so the file is a complete starting point.
    assert "stroke_probability: 0.3" in result.stdout
    assert "engine: fast" in result.stdout


def test_show_applies_config_file_and_overrides(runner: CliRunner, tmp_path: Path) -> None:
    mnist = REPO / "configs" / "mnist.yaml"
    result = runner.invoke(
        app, ["config", "show", "--config", str(mnist), "--set", "train.epochs=5", "-s", "seed=7"]
    )
    assert result.exit_code == 0, result.stderr
    first_line = result.stdout.splitlines()[0]
    assert first_line == (
        f"# digitcli config, every setting resolved from {mnist} "
        "with --set train.epochs=5 --set seed=7."
    )
    shown = tmp_path / "shown.yaml"
    shown.write_text(result.stdout)
    assert load_config(shown) == load_config(mnist, ["train.epochs=5", "seed=7"])
    assert load_config(shown).train.epochs == 5


def test_show_header_survives_a_newline_in_an_override(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "show", "--set", "output.dir=a\nb"])
    assert result.exit_code == 0, result.stderr
    shown = tmp_path / "shown.yaml"
    shown.write_text(result.stdout)
    assert (
        load_config(shown).output.dir == "a b"
    )  # YAML folds the newline; the header stays a comment


def test_show_reports_bad_overrides_like_train(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "show", "--set", "bogus=1"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: --set bogus=1: unknown key bogus (known keys: data, model, output, seed, train)\n"
    )
    assert result.stderr == runner.invoke(app, ["train", "--set", "bogus=1"]).stderr


# --- config validate ---------------------------------------------------------------------------


def test_validate_checks_every_file_and_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("train:\n  epochs: 3\n")
    negative = tmp_path / "negative.yaml"
    negative.write_text("train:\n  epochs: -1\n")
    typo = tmp_path / "typo.yaml"
    typo.write_text("trian:\n  epochs: 3\n")
    missing = tmp_path / "missing.yaml"

    result = runner.invoke(
        app,
        [
            "config",
            "validate",
            str(negative),
            str(good),
            str(typo),
            str(missing),
            str(DEFAULT_YAML),
        ],
    )
    assert result.exit_code == 2
    assert result.stdout == f"ok: {good}\nok: {DEFAULT_YAML}\n"
    assert result.stderr == (
        f"error: {negative}: train.epochs: Input should be greater than 0 (got -1)\n"
        f"error: {typo}: unknown key trian\n"
        f"error: {missing}: config file not found\n"
    )
    # The very messages train gives for the same files.
    for path, line in zip((negative, typo, missing), result.stderr.splitlines(), strict=True):
        trained = runner.invoke(app, ["train", "--config", str(path)])
        assert trained.exit_code == 2
        assert trained.stderr == line + "\n"


def test_validate_all_good_exits_0(runner: CliRunner) -> None:
    configs = sorted((REPO / "configs").glob("*.yaml"))
    assert configs
    result = runner.invoke(app, ["config", "validate", *map(str, configs)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "".join(f"ok: {path}\n" for path in configs)
    assert result.stderr == ""


def test_validate_needs_a_file(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 2
    assert "Missing argument 'FILE'" in result.stderr


# --- the generated reference --------------------------------------------------------------------


def test_committed_reference_is_up_to_date() -> None:
    assert REFERENCE_MD.read_text(encoding="utf-8") == render_reference(), (
        "docs/config-reference.md is stale; regenerate it with: "
        "python -m digitcli.config_reference > docs/config-reference.md"
    )


def _leaf_keys(value: object, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        return [key for name, item in value.items() for key in _leaf_keys(item, f"{prefix}{name}.")]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [prefix.rstrip("."), *_leaf_keys(value[0], f"{prefix}N.")]
    return [prefix.rstrip(".")]


def test_reference_documents_every_key_with_its_default() -> None:
    text = render_reference()
    defaults = Config().model_dump(mode="json")
    keys = _leaf_keys(defaults)
    assert "model.layers.N.units" in keys and "data.augment.max_shift" in keys
    for key in keys:
        rows = [line for line in text.splitlines() if line.startswith(f"| `{key}` |")]
        # A layer key is documented once in the section of each layer type that has it.
        expected = (
            sum(key.rsplit(".", 1)[1] in kind.model_fields for kind in LAYER_TYPES.values())
            if key.startswith("model.layers.N.")
            else 1
        )
        assert len(rows) == expected, f"{key} is not documented exactly once (per layer type)"
        _, type_cell, default_cell, meaning_cell = rows[0].strip("|").split(" | ")
        assert type_cell.strip() and default_cell.strip() and meaning_cell.strip(), key
    assert (
        "| `train.epochs` | integer in (0, 100000] | `40` | Passes over the training data. |"
        in text
    )
    assert "| `model.layers.N.units` | integer > 0 | required |" in text
    assert "| `data.source` | one of `digits`, `mnist`, `npz`, `npy`, `folder` | `digits` |" in text
    assert "| `data.limit` | integer > 0, or null | `null` |" in text


def test_reference_command_and_module_print_the_same_text(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "reference"])
    assert result.exit_code == 0
    assert result.stdout == render_reference()
    module = subprocess.run(
        [sys.executable, "-m", "digitcli.config_reference"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert module.returncode == 0
    assert module.stdout == render_reference()


# --- CLI conventions ----------------------------------------------------------------------------


def _command_paths() -> list[list[str]]:
    """Every command and sub-command the app has registered, as argument lists."""
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        # Typer vendors its own click: a group is any command with a `commands` mapping.
        subcommands = getattr(command, "commands", None)
        if isinstance(subcommands, dict):
            for name, sub in subcommands.items():
                paths.append([*path, name])
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_known_commands_are_registered() -> None:
    paths = {" ".join(path) for path in _command_paths()}
    assert {"train", "export", "config", "config show", "config validate", "config reference"} <= (
        paths
    )


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_every_command_help_has_examples(runner: CliRunner, path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.stdout, f"digitcli {' '.join(path)} --help shows no examples"
    assert re.search(rf"^\s*digitcli {re.escape(path[0])}\b", result.stdout, re.MULTILINE)


def test_version_is_plain(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"digitcli {__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)  # PEP 440-like, without pinning it


def test_version_verbose_names_tensorflow_and_keras(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In-process (TensorFlow is loaded here anyway); the callback reads sys.argv, as the script's.
    monkeypatch.setattr(sys, "argv", ["digitcli", "--version", "--verbose"])
    result = runner.invoke(app, ["--version", "--verbose"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"digitcli {__version__}"
    assert f"keras {importlib.metadata.version('keras')}" in lines
    assert any(re.fullmatch(r"tensorflow \d+\.\d+\.\d+\S*", line) for line in lines), lines


def test_validate_data_checks_the_named_files(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lab = REPO / "configs" / "lab.yaml"  # names data/X.npy, relative to the current folder
    plain = runner.invoke(app, ["config", "validate", str(lab)])
    assert plain.exit_code == 0 and plain.stdout == f"ok: {lab}\n"  # fast: no data file opened
    checked = runner.invoke(app, ["config", "validate", "--data", str(lab)])
    assert checked.exit_code == 2
    assert checked.stderr == (
        f"error: {lab}: data.path: data/X.npy: file not found\n"
        f"error: {lab}: data.labels_path: data/y.npy: file not found\n"
    )
    Path("data").mkdir()
    Path("data/X.npy").write_bytes(b"x")
    Path("data/y.npy").mkdir()  # a folder where the labels file should be
    checked = runner.invoke(app, ["config", "validate", "--data", str(lab)])
    assert checked.stderr == (
        f"error: {lab}: data.labels_path: data/y.npy: is a folder, expected a file\n"
    )
    Path("data/y.npy").rmdir()
    Path("data/y.npy").write_bytes(b"y")
    checked = runner.invoke(app, ["config", "validate", "--data", str(lab)])
    assert checked.exit_code == 0 and checked.stdout == f"ok: {lab}\n", checked.stderr
    folder = tmp_path / "folder.yaml"
    folder.write_text(f"data:\n  source: folder\n  path: {tmp_path / 'data'}\n")
    checked = runner.invoke(app, ["config", "validate", "--data", str(folder)])
    assert checked.stderr == (
        f"error: {folder}: data.path: {tmp_path / 'data'}: holds no subfolders named 0..9\n"
    )
