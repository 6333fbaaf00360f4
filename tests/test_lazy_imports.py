"""Lazy imports: TensorFlow, Matplotlib and scikit-learn load only in commands that need them.

Each check runs in a fresh interpreter, since this test process has long since imported them all.
`digitcli --help`, `--version`, every command's --help and NumPy-engine `predict` must start without
any of the heavy libraries, which is what keeps them fast.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("tensorflow", "keras", "matplotlib", "sklearn")

# Prints which heavy libraries are loaded after running the CLI with the given arguments in-process.
CHECK_SCRIPT = """
import json, sys
from digitcli.cli import main
heavy = {heavy!r}
exit_codes = []
for arguments in json.loads(sys.argv[1]):
    sys.argv = ["digitcli", *arguments]
    try:
        main()
        exit_codes.append(0)
    except SystemExit as exc:
        exit_codes.append(exc.code or 0)
print(json.dumps({{"exit_codes": exit_codes, "loaded": [m for m in heavy if m in sys.modules]}}))
"""


def python(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, env=env, timeout=300
    )


def loaded_after(*invocations: list[str]) -> dict[str, list]:
    """Run `digitcli` once per argument list in one fresh process; report exits and heavy imports."""
    script = CHECK_SCRIPT.format(heavy=HEAVY)
    result = python("-c", script, json.dumps(list(invocations)))
    assert result.returncode == 0, result.stderr
    report: dict[str, list] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def imported_modules(*arguments: str) -> set[str]:
    """Every module `python -X importtime -m digitcli ARGS` imports (read from its stderr)."""
    result = python("-X", "importtime", "-m", "digitcli", *arguments)
    assert result.returncode == 0, result.stderr
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", result.stderr, re.MULTILINE)
    return set(names)


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_importing_the_cli_loads_no_heavy_library() -> None:
    result = python(
        "-c",
        "import sys, digitcli.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY!r}))",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("arguments", [["--help"], ["--version"]], ids=["help", "version"])
def test_help_and_version_never_import_tensorflow(arguments: list[str]) -> None:
    modules = imported_modules(*arguments)
    assert "digitcli.cli" in modules  # the check sees the program's own imports
    assert top_level(modules).isdisjoint(HEAVY)


def test_every_command_help_loads_no_heavy_library() -> None:
    import typer

    from digitcli.cli import app

    commands = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {"train", "predict", "evaluate"} <= set(commands)
    report = loaded_after(*[[command, "--help"] for command in commands])
    assert report["exit_codes"] == [0] * len(commands)
    assert report["loaded"] == []


def test_numpy_engine_predict_never_imports_tensorflow(trained_run: Path, tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(image).line([(32, 10), (32, 54)], fill=0, width=6)  # a black "1" on white
    path = tmp_path / "one.png"
    image.save(path)

    report = loaded_after(["predict", str(path), "--model", str(trained_run), "--format", "plain"])
    assert report["exit_codes"] == [0]
    assert report["loaded"] == []


def test_one_small_image_predicts_without_scipy(trained_run: Path, tmp_path: Path) -> None:
    """A lone small digit is labelled in NumPy: scipy.ndimage's import would double start-up."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(image).line([(14, 4), (14, 24)], fill=255, width=3)
    path = tmp_path / "one.png"
    image.save(path)
    modules = imported_modules(
        "predict", str(path), "--model", str(trained_run), "--format", "plain"
    )
    assert "scipy.ndimage" not in modules
    assert "digitcli.preprocess" in modules
