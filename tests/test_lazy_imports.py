"""Lazy imports: the commands that need no model start without TensorFlow, Matplotlib or SciPy.

Ruff's TID253 (banned-module-level-imports, see pyproject.toml) keeps every heavy library out of
module level statically; this one check runs the real start-up in a fresh interpreter (this test
process has long since imported them all), since a light module can still call a heavy one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from digitcli.cli import app

REPO = Path(__file__).resolve().parents[1]
# scipy covers scipy.ndimage: labelling one small digit in NumPy saves its ~0.2 s import.
HEAVY = (
    "tensorflow",
    "keras",
    "matplotlib",
    "sklearn",
    "scipy",
    "pandas",
    "onnx",
    "onnxruntime",
    "tf2onnx",
    "optuna",
    "starlette",
    "uvicorn",
)

# Runs `digitcli ARGS` in-process once per argument list (the same `main` as the console script);
# after each, prints which heavy libraries are loaded and whether our own modules were.
CHECK_SCRIPT = """
import json, sys
from digitcli.cli import main
heavy, own = json.loads(sys.argv[1]), json.loads(sys.argv[2])
reports = []
for arguments in json.loads(sys.argv[3]):
    sys.argv = ["digitcli", *arguments]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(heavy))
    reports.append({"args": arguments, "code": code, "loaded": loaded,
                    "own": [m for m in own if m in sys.modules]})
print(json.dumps(reports))
"""


def test_start_up_commands_import_no_heavy_library(trained_run: Path, tmp_path: Path) -> None:
    import typer.main

    image = Image.new("L", (28, 28), 255)
    ImageDraw.Draw(image).line([(14, 4), (14, 24)], fill=0, width=3)  # a small dark "1" on white
    image.save(tmp_path / "one.png")
    commands = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {"train", "predict", "evaluate", "plot", "export", "config"} <= set(commands)
    invocations = [
        ["--help"],
        ["--version"],
        *[[command, "--help"] for command in commands],
        ["config", "show"],
        ["config", "validate", str(REPO / "configs" / "default.yaml")],
        ["config", "validate", "missing.yaml"],
        ["config", "reference"],
        ["predict", "one.png", "--model", str(trained_run), "--format", "plain"],
    ]
    own = ["digitcli.cli", "digitcli.preprocess", "digitcli.inference"]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", CHECK_SCRIPT, *map(json.dumps, (HEAVY, own, invocations))],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout.strip().splitlines()[-1])
    assert [(report["args"], report["code"]) for report in reports] == [
        (arguments, 2 if "missing.yaml" in arguments else 0) for arguments in invocations
    ]
    for report in reports:
        assert report["loaded"] == [], report  # the first command that loaded one is named
    # The check sees the program's own imports: predict really ran the pipeline and the model.
    assert reports[-1]["own"] == own
    assert "\none.png\t" in result.stdout
