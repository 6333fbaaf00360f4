"""Issue 6's list of bad inputs, through the real CLI: one `error:` line, a documented code, no traceback."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from digitcli.cli import app

DOCUMENTED_CODES = {1, 2, 3, 4, 130}


def make_missing(folder: Path) -> list[str]:
    return ["predict", str(folder / "missing.png")]


def make_directory(folder: Path) -> list[str]:
    (folder / "conf.yaml").mkdir()
    return ["train", "--config", str(folder / "conf.yaml")]


def make_empty(folder: Path) -> list[str]:
    (folder / "empty.png").write_bytes(b"")
    return ["predict", str(folder / "empty.png")]


def make_truncated_png(folder: Path) -> list[str]:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    image.save(folder / "full.png")
    data = (folder / "full.png").read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    return ["predict", str(folder / "cut.png")]


def make_corrupt_jpeg(folder: Path) -> list[str]:
    Image.new("RGB", (64, 64), "white").save(folder / "ok.jpg")
    data = bytearray((folder / "ok.jpg").read_bytes())
    (folder / "bad.jpg").write_bytes(bytes(data[:20]) + b"\x00" * 50)
    return ["predict", str(folder / "bad.jpg")]


def make_text_png(folder: Path) -> list[str]:
    (folder / "notes.png").write_text("this is not an image\n")
    return ["predict", str(folder / "notes.png")]


def make_tiny(folder: Path) -> list[str]:
    Image.new("L", (1, 1), 0).save(folder / "dot.png")
    return ["predict", str(folder / "dot.png")]


def make_bomb(folder: Path) -> list[str]:
    Image.new("1", (20_000, 20_000), 1).save(folder / "bomb.png")  # 400 MP, a few kB on disk
    return ["predict", str(folder / "bomb.png")]


def make_white(folder: Path) -> list[str]:
    Image.new("L", (64, 64), 255).save(folder / "white.png")
    return ["predict", str(folder / "white.png")]


def make_black(folder: Path) -> list[str]:
    Image.new("L", (64, 64), 0).save(folder / "black.png")
    return ["predict", str(folder / "black.png")]


def make_yaml_syntax(folder: Path) -> list[str]:
    (folder / "bad.yaml").write_text("train:\n  epochs: [1\n")
    return ["train", "--config", str(folder / "bad.yaml")]


def make_yaml_list(folder: Path) -> list[str]:
    (folder / "list.yaml").write_text("- train\n")
    return ["train", "--config", str(folder / "list.yaml")]


def config_file(text: str) -> Callable[[Path], list[str]]:
    """`train --config c.yaml` with `text` as the file."""

    def make(folder: Path) -> list[str]:
        (folder / "c.yaml").write_text(text)
        return ["train", "--config", str(folder / "c.yaml")]

    return make


def lab_files_with_pixel(value: float) -> Callable[[Path], list[str]]:
    """Lab files whose X.npy holds one bad pixel value (NaN or infinity)."""

    def make(folder: Path) -> list[str]:
        rows = np.zeros((10, 400))
        rows[3, 7] = value
        np.save(folder / "X.npy", rows)
        np.save(folder / "y.npy", np.arange(10))
        return ["train", "--set", "data.source=npy", "--set", f"data.path={folder}"]

    return make


def make_length_mismatch(folder: Path) -> list[str]:
    np.save(folder / "X.npy", np.zeros((10, 400)))
    np.save(folder / "y.npy", np.arange(9))
    return ["train", "--set", "data.source=npy", "--set", f"data.path={folder}"]


def make_labels_out_of_range(folder: Path) -> list[str]:
    np.save(folder / "X.npy", np.zeros((10, 400)))
    np.save(folder / "y.npy", np.arange(10) + 1)
    return ["train", "--set", "data.source=npy", "--set", f"data.path={folder}"]


def make_empty_dataset_folder(folder: Path) -> list[str]:
    (folder / "data" / "3").mkdir(parents=True)
    return ["train", "--set", "data.source=folder", "--set", f"data.path={folder / 'data'}"]


def make_strict_folder_with_a_corrupt_image(folder: Path) -> list[str]:
    (folder / "data" / "3").mkdir(parents=True)
    (folder / "data" / "3" / "bad.png").write_text("not an image\n")
    data = ["data.source=folder", f"data.path={folder / 'data'}", "data.strict=true"]
    return ["train", *[part for text in data for part in ("--set", text)]]


def make_missing_run(folder: Path) -> list[str]:
    return ["evaluate", str(folder / "no-such-run")]


def latest_pointer(text: str) -> Callable[[Path], list[str]]:
    """`evaluate` (the latest run) with `text` in results/latest beside a complete run."""

    def make(folder: Path) -> list[str]:
        (folder / "results" / "latest").write_text(text)
        return ["evaluate"]

    return make


def make_noise(folder: Path) -> list[str]:
    noise = np.random.default_rng(1).normal(128, 40, (32, 32)).clip(0, 255).astype(np.uint8)
    Image.fromarray(noise).save(folder / "noise.png")
    return ["predict", str(folder / "noise.png")]


def make_svg_folder(folder: Path) -> list[str]:
    (folder / "drawings").mkdir()
    (folder / "drawings" / "seven.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>\n')
    return ["predict", str(folder / "drawings")]


def make_large_picture(folder: Path) -> list[str]:
    Image.new("L", (100, 100), 255).save(folder / "big.png")
    return ["predict", str(folder / "big.png"), "--max-pixels", "5000"]


def make_output_under_a_file(folder: Path) -> list[str]:
    (folder / "notes.txt").write_text("a file\n")
    return ["evaluate", "-o", str(folder / "notes.txt" / "evaluation.json")]


def make_keras_lambda(folder: Path) -> list[str]:
    import keras

    inputs = keras.Input((400,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(keras.layers.Dense(10)(inputs))
    keras.Model(inputs, outputs).save(folder / "lambda.keras")
    Image.new("L", (28, 28), 0).save(folder / "digit.png")
    return ["predict", str(folder / "digit.png"), "--model", str(folder / "lambda.keras")]


def command_line(*args: str) -> Callable[[Path], list[str]]:
    """A command line as typed, with no files needed."""

    def make(folder: Path) -> list[str]:
        return list(args)

    return make


Case = tuple[Callable[[Path], list[str]], int, str]

CASES: dict[str, Case] = {
    "missing file": (make_missing, 1, "missing.png: no such file"),
    "directory": (make_directory, 2, "conf.yaml: is a directory"),
    "empty file": (make_empty, 1, "empty.png: the file is empty"),
    "truncated png": (make_truncated_png, 1, "cut.png:"),
    "corrupt jpeg": (make_corrupt_jpeg, 1, "bad.jpg:"),
    "text named png": (make_text_png, 1, "notes.png:"),
    "1x1 image": (make_tiny, 1, "dot.png:"),
    "decompression bomb": (make_bomb, 1, "bomb.png:"),
    "all white": (make_white, 1, "white.png: no ink found"),
    "all black": (make_black, 1, "black.png: no ink found"),
    "yaml syntax": (make_yaml_syntax, 2, "bad.yaml: YAML syntax error at line 3"),
    "yaml list": (make_yaml_list, 2, "list.yaml: expected a YAML mapping"),
    "duplicate key": (
        config_file("train:\n  epochs: 3\n  batch_size: 8\n  epochs: 4\n"),
        2,
        "c.yaml: duplicate key 'epochs' at lines 2 and 4",
    ),
    "boolean epochs": (
        config_file("train:\n  epochs: true\n"),
        2,
        "c.yaml: train.epochs: expected a whole number, got a boolean (true)",
    ),
    "boolean learning rate": (
        config_file("train:\n  learning_rate: yes\n"),
        2,
        "c.yaml: train.learning_rate: expected a number, got a boolean (true)",
    ),
    "epochs 1e308": (
        config_file("train:\n  epochs: 1e308\n"),
        2,
        "c.yaml: train.epochs: Input should be less than or equal to 100000 (got 1e+308)",
    ),
    "absurd layer size": (
        config_file(
            "model:\n  layers:\n    - {units: 10000000}\n    - {units: 10, activation: linear}\n"
        ),
        2,
        "c.yaml: model: the layers add up to 4,110,000,010 parameters, more than the limit",
    ),
    "nan pixels": (lab_files_with_pixel(np.nan), 1, "X.npy: pixels contain NaN or infinite values"),
    "inf pixels": (lab_files_with_pixel(np.inf), 1, "X.npy: pixels contain NaN or infinite values"),
    "length mismatch": (make_length_mismatch, 1, "X.npy has 10 images but"),
    "labels out of range": (make_labels_out_of_range, 1, "y.npy: labels must be in 0-9, found 10"),
    "empty dataset folder": (make_empty_dataset_folder, 1, "no images found in subfolders"),
    "missing run": (make_missing_run, 1, "no-such-run: run directory not found"),
    "corrupt image, data.strict": (
        make_strict_folder_with_a_corrupt_image,
        1,
        "bad.png: ",  # the path once; the line ends "(data.strict is true)"
    ),
    "latest names a deleted run": (
        latest_pointer("20990101-gone\n"),
        1,
        "results/latest: names '20990101-gone', which does not exist;",
    ),
    "latest escapes upwards": (
        latest_pointer("../../../etc\n"),
        1,
        "results/latest: names '../../../etc', which is not a run folder inside results;",
    ),
    "latest absolute": (
        latest_pointer("/etc\n"),
        1,
        "results/latest: names '/etc', which is not a run folder inside results;",
    ),
    "latest empty": (latest_pointer(""), 1, "results/latest: is empty; write a run's name"),
    "device": (
        command_line("predict", "/dev/zero"),
        1,
        "/dev/zero: is a device, not an image file",
    ),
    "pure noise": (make_noise, 1, "noise.png: no digit found: the picture is noise"),
    "svg in a folder": (
        make_svg_folder,
        1,
        "seven.svg: an SVG drawing (vector graphics) is not supported; convert it to PNG first",
    ),
    "more pixels than --max-pixels": (
        make_large_picture,
        1,
        "big.png: image is 100x100 pixels, more than the 0.005 megapixel limit (--max-pixels)",
    ),
    "output under a file": (
        make_output_under_a_file,
        1,
        "notes.txt: cannot create the folder: ",  # "<tmp>/notes.txt is a file, not a folder"
    ),
    "keras lambda layer": (
        make_keras_lambda,
        1,
        "lambda.keras: the model holds Python code (a Lambda layer), which Keras will not load",
    ),
    # Usage errors: the error line is followed by one `hint:` line naming the help to read.
    "unknown option": (
        command_line("predict", "x.png", "--debugg"),
        2,
        "No such option: --debugg (Possible options: --debug-dir)",
    ),
    "option without its value": (
        command_line("evaluate", "--config"),
        2,
        "Option '--config' requires an argument.",
    ),
    "bad choice": (
        command_line("predict", "x.png", "--engine", "torch"),
        2,
        "Invalid value for '--engine': 'torch' is not one of 'numpy', 'tf'.",
    ),
    "unknown command": (command_line("frobnicate"), 2, "No such command 'frobnicate'."),
    "extra argument": (
        command_line("evaluate", "one", "two"),
        2,
        "Got unexpected extra argument(s) (two)",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_line_and_documented_code(
    name: str,
    runner: CliRunner,
    trained_run: Path,
    tmp_path: Path,
) -> None:
    make, code, fragment = CASES[name]
    shutil.copytree(trained_run, Path("results") / trained_run.name)
    args = make(tmp_path)
    if args[0] == "predict":
        args += ([] if "--model" in args else ["--model", "results"]) + ["--format", "csv"]
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.stderr
    assert result.exit_code in DOCUMENTED_CODES
    # train says what it loads before the error ("loading data: npy (…)"): progress, not an error.
    lines = [
        line
        for line in result.stderr.strip().splitlines()
        if not line.startswith(("loading data: ", "building model"))
    ]
    if lines[0].startswith("model: "):  # predict first names the model it loaded
        lines.pop(0)
    hints = lines[1:]  # a usage error names the help to read; nothing else follows the error
    assert len(lines) == 1 or (code == 2 and len(hints) == 1), result.stderr
    assert all(
        hint.startswith("hint: '") and hint.endswith(" --help' lists the arguments and options")
        for hint in hints
    )
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not list(Path("results").glob("*.partial"))


def test_truncated_weights_and_mismatched_model(runner: CliRunner, trained_run: Path) -> None:
    run = Path("results") / trained_run.name
    shutil.copytree(trained_run, run)
    Image.new("L", (28, 28), 0).save("digit.png")
    data = (run / "weights.npz").read_bytes()
    (run / "weights.npz").write_bytes(data[: len(data) // 3])
    result = runner.invoke(app, ["--quiet", "predict", "digit.png", "--model", str(run)])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: {run / 'weights.npz'}: not a readable digitcli weights"
    )
    assert result.stderr.count("\n") == 1

    wide: dict[str, Any] = {  # Any: numpy types **kwargs of savez as possibly allow_pickle
        f"kernel_{i}": np.zeros(s, np.float32) for i, s in enumerate([(784, 25), (25, 10)])
    }
    wide |= {f"bias_{i}": np.zeros(s, np.float32) for i, s in enumerate([25, 10])}
    np.savez("wide.npz", activations=np.array(["relu", "linear"]), **wide)
    result = runner.invoke(app, ["--quiet", "predict", "digit.png", "--model", "wide.npz"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: wide.npz: the model reads 784 values per image, but predict feeds it 400 "
        "(a 20x20 image)\n"
    )
    assert result.stderr.count("\n") == 1
