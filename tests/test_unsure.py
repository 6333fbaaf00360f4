"""Unsure answers: below --min-confidence an answer is marked unsure in every format, and
--fail-on-unsure turns that into exit code 5 for CI."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pictures import paper
from PIL import Image
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.errors import ExitCode
from digitcli.predict import InputItem, predict_inputs
from digitcli.runs import resolve_model


@pytest.fixture
def threshold(trained_run: Path, confident_digits: dict[int, np.ndarray], tmp_path: Path) -> float:
    """Writes clear.png (a digit read confidently) and blend.png (two digits on top of each other:
    a doubtful answer); returns a --min-confidence between their confidences."""
    (_, a), (_, b) = list(confident_digits.items())[:2]
    Image.fromarray(paper(a)).save(tmp_path / "clear.png")
    Image.fromarray(paper(np.clip(a + b, 0, 1))).save(tmp_path / "blend.png")
    items = [InputItem(tmp_path / name, name) for name in ("clear.png", "blend.png")]
    clear, blend = predict_inputs(items, resolve_model(trained_run), min_confidence=0.0)
    assert clear.confidence is not None and blend.confidence is not None
    assert blend.confidence < clear.confidence
    return (blend.confidence + clear.confidence) / 2


def predict(runner: CliRunner, run: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["predict", "--model", str(run), "clear.png", "blend.png", *args])
    return result.exit_code, result.stdout


def test_a_doubtful_answer_is_marked_unsure_in_every_format(
    runner: CliRunner, trained_run: Path, threshold: float
) -> None:
    limit = ["--min-confidence", f"{threshold:.6f}"]

    code, table = predict(runner, trained_run, *limit, "--format", "table")
    assert code == 0
    lines = {line.split("│")[1].strip(): line for line in table.splitlines() if "png" in line}
    assert "unsure" in lines["blend.png"] and "unsure" not in lines["clear.png"]

    code, text = predict(runner, trained_run, *limit, "--format", "csv")
    rows = {row["path"]: row for row in csv.DictReader(io.StringIO(text))}
    assert (rows["blend.png"]["status"], rows["blend.png"]["unsure"]) == ("unsure", "true")
    assert (rows["clear.png"]["status"], rows["clear.png"]["unsure"]) == ("ok", "false")
    # The reason names the confidence, the threshold and the runners-up.
    reason = rows["blend.png"]["reason"]
    assert (
        reason.startswith("confidence ") and "; or " in reason and rows["clear.png"]["reason"] == ""
    )

    code, text = predict(runner, trained_run, *limit, "--format", "json")
    blend, clear = sorted(json.loads(text), key=lambda record: str(record["path"]))
    assert (blend["unsure"], blend["status"], clear["unsure"], clear["status"]) == (
        True,
        "unsure",
        False,
        "ok",
    )
    assert blend["digit"] == blend["top3"][0][0] and len(blend["top3"]) == 3  # still answered

    code, text = predict(runner, trained_run, *limit, "--format", "plain")
    assert [line.split("\t")[3] for line in text.splitlines()] == ["ok", "unsure"]

    # 0 marks nothing unsure; 1 marks everything.
    code, text = predict(runner, trained_run, "--min-confidence", "0", "--format", "plain")
    assert [line.split("\t")[3] for line in text.splitlines()] == ["ok", "ok"]


def test_fail_on_unsure_exits_5_after_printing_every_record(
    runner: CliRunner, trained_run: Path, threshold: float
) -> None:
    limit = ["--min-confidence", f"{threshold:.6f}", "--format", "plain"]
    result = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(trained_run),
            "clear.png",
            "blend.png",
            *limit,
            "--fail-on-unsure",
        ],
    )
    assert result.exit_code == ExitCode.UNSURE and int(ExitCode.UNSURE) == 5
    assert len(result.stdout.splitlines()) == 2
    _, line = result.stderr.splitlines()  # the model line, then the error
    assert line.startswith("error: 1 unsure (confidence below 0.")
    assert line.endswith(") of 2 inputs (--fail-on-unsure)")
    # Nothing unsure: exit 0 even with the flag.
    sure = runner.invoke(
        app,
        ["predict", "--model", str(trained_run), "clear.png", "--fail-on-unsure", "-f", "plain"],
    )
    assert sure.exit_code == 0, sure.stderr


def test_bad_thresholds_are_usage_errors(runner: CliRunner, trained_run: Path) -> None:
    for value in ("1.5", "-0.1"):
        result = runner.invoke(
            app, ["predict", "--model", str(trained_run), "x.png", "--min-confidence", value]
        )
        assert result.exit_code == 2


def test_predict_uses_the_runs_threshold_unless_the_flag_is_given(
    runner: CliRunner, trained_run: Path, threshold: float, tmp_path: Path
) -> None:
    from digitcli.predict import load_classifier
    from digitcli.runs import CALIBRATION_FILE
    from digitcli.vocabulary import DEFAULT_MIN_CONFIDENCE

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    calibration = json.loads((run / CALIBRATION_FILE).read_text())
    calibration["min_confidence"] = round(threshold, 6)
    (run / CALIBRATION_FILE).write_text(json.dumps(calibration))

    code, text = predict(runner, run, "--format", "plain")
    assert code == 0 and [line.split("\t")[3] for line in text.splitlines()] == ["ok", "unsure"]
    code, text = predict(runner, run, "--format", "plain", "--min-confidence", "0")
    assert [line.split("\t")[3] for line in text.splitlines()] == ["ok", "ok"]

    # A run trained before the threshold was stored: today's default.
    del calibration["min_confidence"]
    (run / CALIBRATION_FILE).write_text(json.dumps(calibration))
    assert load_classifier(resolve_model(run)).min_confidence == DEFAULT_MIN_CONFIDENCE


def test_predict_inputs_uses_the_models_own_threshold_by_default(tmp_path: Path) -> None:
    # A program calling predict_inputs gets what the CLI gets: the model's stored threshold.
    from digitcli.predict import load_classifier

    model = resolve_model(Path("builtin"))
    own = load_classifier(model).min_confidence
    real = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "drawn_28px"
    paths = sorted(real.glob("*/*.png"))[::50]
    items = [InputItem(path, path.name) for path in paths]
    records = list(predict_inputs(items, model))
    confidences = [record.confidence or 0.0 for record in records]
    assert [record.unsure for record in records] == [c < own for c in confidences]
    strict = list(predict_inputs(items, model, min_confidence=0.999999))
    assert sum(record.unsure for record in strict) > sum(record.unsure for record in records)
    assert not any(record.unsure for record in predict_inputs(items, model, min_confidence=0.0))


def test_digits_that_share_their_columns_make_a_number_unsure() -> None:
    from digitcli.predict import OVERLAPPING_DIGITS, DigitReading, overlap_reason

    # Boxes are (left, top, right, bottom) in the picture's pixels.
    side_by_side = [DigitReading(4, 0.99, (0, 0, 40, 60)), DigitReading(2, 0.99, (44, 0, 84, 60))]
    assert overlap_reason(side_by_side) is None
    touching = [DigitReading(4, 0.99, (0, 0, 40, 60)), DigitReading(2, 0.99, (36, 0, 76, 60))]
    assert overlap_reason(touching) is None  # 10% shared: digits written close together
    # A % cut into a ring with the slash, and the other ring, lower and to the right.
    percent = [DigitReading(1, 1.0, (60, 41, 141, 154)), DigitReading(0, 1.0, (112, 94, 164, 154))]
    assert overlap_reason(percent) == (
        "digits 1 and 2 share 56% of their columns: one symbol, or a number?"
    )
    at_limit = [DigitReading(1, 1.0, (0, 0, 50, 60)), DigitReading(0, 1.0, (30, 0, 80, 60))]
    assert OVERLAPPING_DIGITS == 20 / 50 and overlap_reason(at_limit) is not None
