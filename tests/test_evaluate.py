"""`digitcli evaluate` and `digitcli.evaluation`: metrics checked by hand, stable JSON, exit codes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.errors import ModelError, QualityGateError
from digitcli.evaluation import Evaluation, check_min_accuracy, evaluate_run, score_logits
from digitcli.inference import NumpyModel

TOP_KEYS = {
    "schema_version",
    "calibration",
    "run",
    "model",
    "model_name",
    "engine",
    "split",
    "data",
    "n_images",
    "accuracy",
    "loss",
    "errors",
    "per_class",
    "macro_avg",
    "confusion_matrix",
}


@pytest.fixture(scope="module")
def evaluation(trained_run: Path) -> Evaluation:
    """The trained run's default evaluation, computed once for the read-only tests."""
    return evaluate_run(trained_run)


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A writable copy of the trained run, inside a results root."""
    destination = tmp_path / "results" / trained_run.name
    shutil.copytree(trained_run, destination)
    return destination


def test_metrics_agree_with_an_independent_computation(
    trained_run: Path, evaluation: Evaluation
) -> None:
    import keras

    run_info = json.loads((trained_run / "run.json").read_text())
    assert evaluation.predictions is not None
    # The images are the run's own test split: same data fingerprint as at training time.
    assert evaluation.fingerprint == run_info["data"]["fingerprint"]
    test = evaluation.predictions
    logits = NumpyModel.load(trained_run / "weights.npz").logits(test.x)
    predicted = logits.argmax(axis=1)
    scores = evaluation.scores

    assert scores.n_images == len(test.y) == run_info["data"]["sizes"]["test"]
    assert scores.accuracy == pytest.approx(np.mean(predicted == test.y), abs=1e-12)
    assert scores.errors == int(np.sum(predicted != test.y))
    matrix = np.array(scores.confusion_matrix)
    for true, guess in ((3, 5), (8, 1), (4, 4)):
        assert matrix[true, guess] == np.sum((test.y == true) & (predicted == guess))
    for digit in range(10):
        entry = scores.per_class[digit]
        assert entry.digit == digit
        assert entry.support == np.sum(test.y == digit)
        hits = np.sum((test.y == digit) & (predicted == digit))
        assert entry.recall == pytest.approx(hits / max(1, entry.support))
        assert entry.precision == pytest.approx(hits / max(1, np.sum(predicted == digit)))
    expected_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(test.y, logits)
    assert scores.loss == pytest.approx(float(expected_loss), abs=1e-5)
    # The run's own metrics.json (written at training time) agrees too.
    saved = json.loads((trained_run / "metrics.json").read_text())["test"]
    assert saved["errors"] == scores.errors
    assert evaluation.matches_run is True and evaluation.warnings == ()


def test_scores_of_a_hand_made_example() -> None:
    labels = np.array([0, 0, 1, 1, 2])
    logits = np.eye(10)[[0, 1, 1, 1, 0]] * 5.0  # predictions 0, 1, 1, 1, 0
    scores = score_logits(logits, labels)
    assert (scores.n_images, scores.errors, scores.accuracy) == (5, 2, 0.6)
    zero, one, two = scores.per_class[:3]
    assert (zero.precision, zero.recall, zero.support) == (0.5, 0.5, 2)
    assert (one.precision, one.recall, one.f1) == pytest.approx((2 / 3, 1.0, 0.8))
    assert (two.precision, two.recall, two.f1, two.support) == (0.0, 0.0, 0.0, 1)
    assert all(entry.support == 0 and entry.f1 == 0 for entry in scores.per_class[3:])
    assert scores.macro_avg["precision"] == pytest.approx((0.5 + 2 / 3) / 10)
    assert scores.confusion_matrix[0][:3] == [1, 1, 0]
    assert scores.confusion_matrix[2][:3] == [1, 0, 0]


def test_json_schema_is_stable(evaluation: Evaluation) -> None:
    document = evaluation.to_dict()
    assert set(document) == TOP_KEYS
    assert set(document["data"]) == {"source", "path", "fingerprint", "matches_run"}
    assert [set(entry) for entry in document["per_class"]] == [
        {"digit", "precision", "recall", "f1", "support"}
    ] * 10
    assert set(document["macro_avg"]) == {"precision", "recall", "f1", "support"}
    assert document["schema_version"] == 3
    assert set(document["calibration"]) == {
        *("temperature", "fitted", "ece_before", "ece_after", "loss_after")
    }
    assert (document["split"], document["engine"]) == ("test", "numpy")
    assert len(document["confusion_matrix"]) == 10
    assert all(len(row) == 10 for row in document["confusion_matrix"])


def test_json_output_parses_and_the_matrix_sums_to_the_images(
    runner: CliRunner, run_copy: Path
) -> None:
    result = runner.invoke(app, ["evaluate", str(run_copy), "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert sum(map(sum, document["confusion_matrix"])) == document["n_images"]
    assert document["errors"] == document["n_images"] - np.trace(document["confusion_matrix"])
    assert document["run"] == str(run_copy.resolve())
    # A --json call (CI) prints the document and leaves the run's own record alone.
    assert not (run_copy / "evaluation.json").exists()
    assert "not saved (--output FILE saves it)" in result.stderr


def test_only_the_runs_own_test_evaluation_is_its_record(runner, run_copy: Path) -> None:  # type: ignore[no-untyped-def]
    record = run_copy / "evaluation.json"
    plain = runner.invoke(app, ["evaluate", str(run_copy)])
    assert plain.exit_code == 0, plain.stderr
    assert f"saved {record}" in plain.stderr
    saved = record.read_text()
    assert json.loads(saved)["split"] == "test"
    for other in (
        ["--split", "validation"],
        ["--set", "data.limit=200"],  # other data than the run was trained on
        ["--json"],
    ):
        result = runner.invoke(app, ["evaluate", str(run_copy), *other])
        assert result.exit_code == 0, result.stderr
        assert record.read_text() == saved, other


def test_output_folder_file_and_stdout(runner, run_copy: Path) -> None:  # type: ignore[no-untyped-def]
    into = runner.invoke(app, ["evaluate", str(run_copy), "-o", "newdir/"])
    assert into.exit_code == 0, into.stderr
    assert json.loads(Path("newdir/evaluation.json").read_text())["split"] == "test"
    Path("existing").mkdir()
    assert runner.invoke(app, ["evaluate", str(run_copy), "-o", "existing"]).exit_code == 0
    assert Path("existing/evaluation.json").is_file()
    piped = runner.invoke(app, ["evaluate", str(run_copy), "-o", "-"])
    assert piped.exit_code == 0, piped.stderr
    assert json.loads(piped.stdout)["split"] == "test"  # the document only, no tables
    assert not (run_copy / "evaluation.json").exists()


def test_plain_output_is_readable_and_has_no_ansi_codes(
    runner: CliRunner,
    run_copy: Path,
    evaluation: Evaluation,
) -> None:
    accuracy = evaluation.accuracy
    # The default run: the latest under ./results (the test's working folder).
    result = runner.invoke(app, ["evaluate", "--min-accuracy", "0.5"])
    assert result.exit_code == 0, result.stderr
    assert "error:" not in result.stderr
    assert "\x1b[" not in result.stdout + result.stderr
    assert f"accuracy: {accuracy:.4f}" in result.stdout
    assert re.search(r"^errors: \d+ errors out of \d+ images$", result.stdout, re.M)
    assert re.search(r"^digit\s+precision\s+recall\s+f1\s+support$", result.stdout, re.M)
    assert "confusion matrix (rows: true digit, columns: predicted digit)" in result.stdout


def test_rich_tables_on_a_terminal_without_colour(runner: CliRunner, run_copy: Path) -> None:
    # FORCE_COLOR makes Rich treat the runner's output as a terminal; NO_COLOR still applies.
    result = runner.invoke(
        app, ["evaluate", str(run_copy)], env={"FORCE_COLOR": "1", "TERM": "xterm-256color"}
    )
    assert result.exit_code == 0, result.stderr
    assert "Per digit" in result.stdout and "Confusion matrix" in result.stdout
    assert "│" in result.stdout or "┃" in result.stdout  # box-drawn tables
    assert "\x1b[" not in result.stdout


def test_min_accuracy_is_a_quality_gate(runner: CliRunner, run_copy: Path) -> None:
    high = runner.invoke(app, ["evaluate", str(run_copy), "--min-accuracy", "0.999"])
    assert high.exit_code == 4
    last = high.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"error: accuracy 0\.\d{4} is below --min-accuracy 0\.999 "
        r"\(\d+ errors out of \d+ test images\)",
        last,
    ), last
    assert "errors out of" in high.stdout  # the results are printed before failing
    assert (run_copy / "evaluation.json").is_file()  # and saved


def test_quality_gate_function(evaluation: Evaluation) -> None:
    check_min_accuracy(evaluation, None)
    check_min_accuracy(evaluation, evaluation.accuracy)  # equal passes
    with pytest.raises(QualityGateError, match="is below --min-accuracy 1"):
        check_min_accuracy(evaluation, 1.0)


def test_changed_data_is_warned_about(runner: CliRunner, run_copy: Path) -> None:
    run_json = run_copy / "run.json"
    info = json.loads(run_json.read_text())
    info["data"]["fingerprint"] = "0000000000000000"
    run_json.write_text(json.dumps(info))
    result = runner.invoke(app, ["evaluate", str(run_copy), "--json"])
    assert result.exit_code == 0, result.stderr
    assert re.search(
        r"^warning: .*: the digits data differs from the data this run was trained on "
        r"\(fingerprint [0-9a-f]{16}, run\.json says 0000000000000000\)",
        result.stderr,
        re.M,
    )
    assert json.loads(result.stdout)["data"]["matches_run"] is False


def test_another_data_source_split_and_output(
    runner: CliRunner,
    run_copy: Path,
    tmp_path: Path,
    mnist_npz: Path,
) -> None:
    output = tmp_path / "out" / "mnist-eval.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(run_copy),
            "--set",
            "data.source=mnist",
            "--set",
            f"data.path={mnist_npz}",
            "--set",
            "data.limit=300",
            "--output",
            str(output),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["data"]["source"] == "mnist"
    assert document["data"]["matches_run"] is False
    assert document["n_images"] == 300  # data.limit applies to MNIST's own test set too
    assert "warning:" not in result.stderr  # other data on purpose: no warning
    assert json.loads(output.read_text()) == document
    assert not (run_copy / "evaluation.json").exists()

    validation = runner.invoke(app, ["evaluate", str(run_copy), "--split", "validation", "--json"])
    assert validation.exit_code == 0, validation.stderr
    sizes = json.loads((run_copy / "run.json").read_text())["data"]["sizes"]
    assert json.loads(validation.stdout)["n_images"] == sizes["validation"]


def test_model_files_and_the_tf_engine(trained_run: Path, evaluation: Evaluation) -> None:
    by_dir = evaluation.to_dict()
    with_tf = evaluate_run(trained_run / "model.keras")  # a named .keras file: its own engine
    assert with_tf.engine == "tf" and with_tf.model.endswith("model.keras")
    assert with_tf.run == evaluation.run  # a model file inside a run evaluates that run
    assert with_tf.scores.confusion_matrix == by_dir["confusion_matrix"]
    assert with_tf.scores.loss == pytest.approx(by_dir["loss"], abs=1e-5)


def test_a_run_without_weights_falls_back_to_tensorflow(run_copy: Path) -> None:
    (run_copy / "weights.npz").unlink()
    evaluated = evaluate_run(run_copy)
    assert evaluated.engine == "tf" and evaluated.model.endswith("model.keras")
    with pytest.raises(ModelError, match="the NumPy engine reads weights.npz"):
        evaluate_run(run_copy / "model.keras", engine="numpy")


def test_a_bare_model_needs_a_config(
    tmp_path: Path, trained_run: Path, evaluation: Evaluation
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(trained_run / "weights.npz", bare / "weights.npz")
    with pytest.raises(ModelError, match=r"no config\.yaml beside the model.*pass --config FILE"):
        evaluate_run(bare / "weights.npz")
    bare_evaluation = evaluate_run(bare / "weights.npz", config_file=trained_run / "config.yaml")
    assert bare_evaluation.matches_run is None
    assert bare_evaluation.accuracy == evaluation.accuracy


def test_missing_run_is_one_line_exit_1(runner: CliRunner) -> None:
    result = runner.invoke(app, ["evaluate", "no-such-run"])
    assert result.exit_code == 1
    assert result.stderr == "error: no-such-run: run directory not found\n"
    empty = runner.invoke(app, ["evaluate"])
    assert empty.exit_code == 1
    assert empty.stderr == (
        "error: results: results folder not found (train one first: digitcli train)\n"
    )


def test_bad_override_is_a_usage_error(runner: CliRunner, run_copy: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(run_copy), "--set", "data.sauce=mnist"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --set data.sauce=mnist: unknown key data.sauce")
    assert len(result.stderr.strip().splitlines()) == 1
