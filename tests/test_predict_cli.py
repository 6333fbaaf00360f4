"""`digitcli predict` end to end: inputs, output formats, stderr, exit codes, engines, start-up.

Images are real digits from the trained_run model's own test split that it reads confidently,
saved as dark ink on white paper (see tests/test_predict.py for the API-level cases).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pictures import paper
from PIL import Image
from typer.testing import CliRunner, Result

from digitcli.cli import app

ANSI_ESCAPE = "\x1b["


@pytest.fixture(scope="module")
def samples(confident_digits: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """label -> a 28x28 dark-on-light picture the model reads confidently."""
    return {label: paper(image) for label, image in confident_digits.items()}


@pytest.fixture
def images(samples: dict[int, np.ndarray], tmp_path: Path) -> dict[str, int]:
    """Files in the test's folder: path -> expected digit (PNG, JPEG photo, a subfolder)."""
    expected: dict[str, int] = {}
    (tmp_path / "imgs" / "more").mkdir(parents=True)
    for label, picture in samples.items():
        Image.fromarray(picture).save(tmp_path / "imgs" / f"{label}.png")
        expected[f"imgs/{label}.png"] = label
    label, picture = next(iter(samples.items()))
    Image.fromarray(picture).convert("RGB").save(tmp_path / "photo.jpg", quality=90)
    expected["photo.jpg"] = label
    Image.fromarray(255 - picture).save(tmp_path / "imgs" / "more" / "screen.png")
    expected["imgs/more/screen.png"] = label
    return expected


def invoke(runner: CliRunner, run: Path, *args: str, input: str | bytes | None = None) -> Result:
    return runner.invoke(app, ["predict", "--model", str(run), *args], input=input)


def test_one_photo_prints_the_digit_and_confidence(
    runner: CliRunner, trained_run: Path, images: dict[str, int]
) -> None:
    result = invoke(runner, trained_run, "photo.jpg")
    assert result.exit_code == 0, result.stderr
    path, digit, confidence, status = result.stdout.rstrip("\n").split("\t")
    assert (path, int(digit), status) == ("photo.jpg", images["photo.jpg"], "ok")
    assert 0.8 < float(confidence) <= 1.0 and len(confidence.split(".")[1]) == 4
    assert result.stderr == f"model: {trained_run}\n"  # which model answered, and nothing else
    quiet = runner.invoke(app, ["--quiet", "predict", "--model", str(trained_run), "photo.jpg"])
    assert quiet.stdout == result.stdout and quiet.stderr == ""
    assert ANSI_ESCAPE not in result.stdout
    # --engine tf: the Keras model gives the same line (test_predict.py checks the engines to 1e-5).
    with_tf = invoke(runner, trained_run, "photo.jpg", "--engine", "tf")
    assert (with_tf.exit_code, with_tf.stdout) == (0, result.stdout), with_tf.stderr


def test_the_latest_run_is_the_default_model(
    runner: CliRunner, trained_run: Path, images: dict[str, int], tmp_path: Path
) -> None:
    shutil.copytree(trained_run, tmp_path / "results" / trained_run.name)
    result = runner.invoke(app, ["predict", "imgs/more/screen.png"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split("\t")[1] == str(images["imgs/more/screen.png"])


def test_folders_with_and_without_recursive(
    runner: CliRunner, trained_run: Path, images: dict[str, int]
) -> None:
    flat = invoke(runner, trained_run, "imgs", "--format", "plain")
    assert flat.exit_code == 0, flat.stderr
    top = sorted(name for name in images if name.count("/") == 1)
    assert [line.split("\t")[0] for line in flat.stdout.splitlines()] == top
    # -j 2 starts a worker pool even for a few inputs (test_predict.py checks pooled records in
    # depth); --debug-dir makes its folder and writes the 20x20 input each image became, enlarged.
    deep = invoke(
        runner, trained_run, "imgs", "-r", "--format", "plain", "-j", "2", "--debug-dir", "out/seen"
    )
    assert deep.exit_code == 0, deep.stderr
    rows = [line.split("\t") for line in deep.stdout.splitlines()]
    assert [row[0] for row in rows] == [*top, "imgs/more/screen.png"]
    assert all(int(row[1]) == images[row[0]] for row in rows)
    written = sorted(path.name for path in Path("out/seen").glob("*[!s].png"))
    assert written == sorted(row[0].replace("/", "_") for row in rows)
    for path in Path("out/seen").glob("*[!s].png"):
        with Image.open(path) as picture:
            assert picture.size == (200, 200)


def test_paths_from_stdin_as_csv(
    runner: CliRunner, trained_run: Path, images: dict[str, int]
) -> None:
    names = ["imgs/more/screen.png", "photo.jpg", *sorted(n for n in images if n.count("/") == 1)]
    result = invoke(runner, trained_run, "-", "--format", "csv", input="\n".join(names) + "\n\n")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        *("path", "digit", "confidence", "top3", "error"),
        *("unsure", "status", "reason", "number", "boxes", "model"),
    ]
    assert {row["model"] for row in rows} == {str(trained_run)}  # which model answered
    assert [row["path"] for row in rows] == names
    for row in rows:
        assert int(row["digit"]) == images[row["path"]] and row["error"] == ""
        top = [pair.split(":") for pair in row["top3"].split()]
        assert len(top) == 3 and top[0] == [row["digit"], row["confidence"]]


def test_json_and_jsonl_records(
    runner: CliRunner, trained_run: Path, images: dict[str, int]
) -> None:
    as_json = invoke(runner, trained_run, "imgs", "photo.jpg", "missing.png", "--format", "json")
    as_jsonl = invoke(runner, trained_run, "imgs", "photo.jpg", "missing.png", "--format", "jsonl")
    assert as_json.exit_code == as_jsonl.exit_code == 3
    array = json.loads(as_json.stdout)
    lines = [json.loads(line) for line in as_jsonl.stdout.splitlines()]
    assert array == lines
    assert [record["path"] for record in lines][-2:] == ["photo.jpg", "missing.png"]
    for record in lines[:-1]:
        assert list(record) == [
            *("path", "digit", "confidence", "probabilities", "top3", "error"),
            *("unsure", "status", "reason", "number", "digits", "model"),
        ]
        assert record["model"] == str(trained_run)
        assert record["number"] == str(record["digit"]) and len(record["digits"]) == 1
        assert record["digit"] == images[record["path"]] and record["error"] is None
        assert len(record["probabilities"]) == 10
        assert sum(record["probabilities"]) == pytest.approx(1.0, abs=1e-4)
        assert record["top3"][0] == [record["digit"], record["confidence"]]
    assert lines[-1] == {
        "path": "missing.png",
        "digit": None,
        "confidence": None,
        "probabilities": None,
        "top3": [],
        "error": "no such file",
        "unsure": False,
        "status": "error",
        "reason": None,
        "number": None,
        "digits": [],
        "model": str(trained_run),
    }


def test_empty_results_still_parse(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    as_json = invoke(runner, trained_run, "nothing", "--format", "json")
    assert as_json.exit_code == 1
    (record,) = json.loads(as_json.stdout)
    assert record["error"] == "no image files in this folder"
    assert as_json.stderr == (
        f"model: {trained_run}\nerror: nothing: no image files in this folder\n"
    )


def test_table_on_request_has_no_ansi_codes_when_piped(
    runner: CliRunner, trained_run: Path, images: dict[str, int]
) -> None:
    result = invoke(runner, trained_run, "imgs", "missing.png", "--format", "table")
    assert result.exit_code == 3
    assert ANSI_ESCAPE not in result.stdout and ANSI_ESCAPE not in result.stderr
    for header in ("file", "digit", "confidence", "top-3"):
        assert header in result.stdout
    assert "no such file" in result.stdout


def test_piped_default_is_plain_without_escape_codes(
    trained_run: Path, images: dict[str, int], tmp_path: Path
) -> None:
    # A real process with a pipe for stdout, colours not switched off: still no ANSI codes.
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    env["FORCE_COLOR"] = ""
    done = subprocess.run(
        [sys.executable, "-m", "digitcli", "predict", "--model", str(trained_run), "imgs", "x.png"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert done.returncode == 3
    assert ANSI_ESCAPE not in done.stdout and ANSI_ESCAPE not in done.stderr
    assert len(done.stdout.splitlines()) == len([n for n in images if n.count("/") == 1]) + 1
    assert done.stdout.splitlines()[-1] == "x.png\t\t\terror"


def test_partial_failure_exits_3_and_reports_each_input(
    runner: CliRunner, trained_run: Path, images: dict[str, int], tmp_path: Path
) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "whole.png")
    whole = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "corrupt.png").write_bytes(whole[: len(whole) // 2])  # a truncated download
    Image.new("L", (28, 28), 255).save(tmp_path / "blank.png")
    result = invoke(
        runner, trained_run, "photo.jpg", "corrupt.png", "blank.png", "--format", "plain"
    )
    assert result.exit_code == 3
    assert result.stdout.splitlines()[1:] == ["corrupt.png\t\t\terror", "blank.png\t\t\tno_digit"]
    assert result.stdout.splitlines()[0].startswith(f"photo.jpg\t{images['photo.jpg']}\t")
    model_line, *errors = result.stderr.splitlines()
    assert model_line == f"model: {trained_run}"
    assert errors[0].startswith("error: corrupt.png: cannot decode the image")
    assert errors[1] == "error: blank.png: no ink found: the image is blank"
    assert errors[2] == "error: 2 of 3 inputs could not be predicted"


def test_all_inputs_failing_exits_1(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_text("text")
    result = invoke(runner, trained_run, "a.png", "b.png", "--format", "csv")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(row["path"], row["digit"], row["error"]) for row in rows] == [
        (
            "a.png",
            "",
            "not an image digitcli can read (supported: PNG, JPEG, BMP, GIF, TIFF, WebP, AVIF, "
            "HEIC with digitcli[heif])",
        ),
        ("b.png", "", "no such file"),
    ]
    assert result.stderr.splitlines()[-1] == "error: none of the 2 inputs could be predicted"
    single = invoke(runner, trained_run, "b.png")
    assert single.exit_code == 1
    assert single.stderr == f"model: {trained_run}\nerror: b.png: no such file\n"


def test_npy_inputs_and_their_options(
    runner: CliRunner, trained_run: Path, samples: dict[int, np.ndarray], tmp_path: Path
) -> None:
    # The options reach the pipeline; test_predict.py covers npy layouts and pixel orders in depth.
    labels = sorted(samples)
    np.save(tmp_path / "paper.npy", np.stack([samples[label] for label in labels]))  # dark on light
    args = ["paper.npy", "--format", "jsonl", "--invert", "yes", "--pixel-order", "column_major"]
    result = invoke(runner, trained_run, *args)
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in records] == [f"paper.npy[{i}]" for i in range(len(labels))]
    assert [r["digit"] for r in records] == labels
    bad = invoke(runner, trained_run, "paper.npy", "--pixel-order", "sideways")
    assert bad.exit_code == 2


def test_model_problems_are_one_line_errors(
    runner: CliRunner, tmp_path: Path, images: dict[str, int]
) -> None:
    nowhere = invoke(runner, tmp_path / "nowhere", "photo.jpg")
    assert nowhere.exit_code == 1
    assert nowhere.stderr == f"error: {tmp_path / 'nowhere'}: run directory not found\n"
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "latest").write_text("gone\n")
    broken = runner.invoke(app, ["predict", "photo.jpg"])  # never the bundled model instead
    assert broken.exit_code == 1
    assert broken.stderr.startswith("error: results/latest: names 'gone', which does not exist")
    weights = tmp_path / "wide.npz"
    np.savez(
        weights,
        kernel_0=np.zeros((784, 10), np.float32),
        bias_0=np.zeros(10, np.float32),
        activations=np.array(["linear"]),
    )
    wide = invoke(runner, weights, "photo.jpg")
    assert wide.exit_code == 1
    assert wide.stderr == (
        f"model: {weights}\nerror: {weights}: the model reads 784 values per image, but predict feeds it 400 "
        "(a 20x20 image)\n"
    )


def test_usage_errors(runner: CliRunner, trained_run: Path) -> None:
    none = invoke(runner, trained_run)
    assert none.exit_code == 2
    assert none.stderr.startswith("error: no inputs: give image files, folders, .npy arrays")
    empty_stdin = invoke(runner, trained_run, "-", input="\n\n")
    assert empty_stdin.exit_code == 2
    assert empty_stdin.stderr == "error: no inputs: standard input held no paths\n"
    bad_format = invoke(runner, trained_run, "x.png", "--format", "xml")
    assert bad_format.exit_code == 2


def test_help_documents_formats_and_exit_codes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["predict", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Exit codes: 0 every input predicted; 3 some inputs failed" in text
    assert "1 every input failed" in text
    for option in ("--model", "--engine", "--invert", "--recursive", "--pixel-order", "--format"):
        assert option in text


def test_stdin_names_that_are_not_utf8(
    runner: CliRunner, trained_run: Path, images: dict[str, int], tmp_path: Path
) -> None:
    name = b"caf\xe9.png"  # Latin-1 bytes, as an old file system or archive may hold
    shutil.copy(tmp_path / "photo.jpg", os.fsdecode(name))
    result = invoke(runner, trained_run, "-", input=name + b"\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.split(b"\t")[:2] == [name, str(images["photo.jpg"]).encode()]


def test_nul_separated_stdin_and_odd_names_in_plain_output(
    runner: CliRunner, trained_run: Path, images: dict[str, int], tmp_path: Path
) -> None:
    # `find -print0 | digitcli predict -`: names may hold tabs and newlines, which plain escapes.
    odd = ["tab\there.jpg", "new\nline.jpg", "back\\slash.jpg"]
    for name in odd:
        shutil.copy(tmp_path / "photo.jpg", tmp_path / name)
    result = invoke(runner, trained_run, "-", input="\0".join(odd).encode() + b"\0")
    assert result.exit_code == 0, result.stderr
    label = str(images["photo.jpg"])
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[:2] for row in rows] == [
        ["tab\\there.jpg", label],
        ["new\\nline.jpg", label],
        ["back\\\\slash.jpg", label],
    ]


def test_animated_gif_reads_its_first_frame_and_says_so(
    runner: CliRunner, trained_run: Path, images: dict[str, int], tmp_path: Path
) -> None:
    first = Image.open(tmp_path / "photo.jpg").convert("L")
    frames = [Image.new("L", first.size, shade) for shade in (255, 128)]  # distinct: kept
    first.save("anim.gif", save_all=True, append_images=frames, duration=100)
    result = invoke(runner, trained_run, "anim.gif", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        "warning: anim.gif: holds 3 frames or pages; only the first is read\n"
        f"model: {trained_run}\n"
    )
    assert next(csv.DictReader(io.StringIO(result.stdout)))["digit"] == str(images["photo.jpg"])
