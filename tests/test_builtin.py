"""The bundled model (`builtin`): it is the recipe's model, it reads real pictures, and every command
that uses it says so."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from typer.testing import CliRunner

from digitcli.builtin import BUILTIN, DEFAULT_BUILTIN, bundled_dir
from digitcli.cli import app
from digitcli.errors import ModelError
from digitcli.runs import resolve_model

REAL = REPO.parent / "shared" / "data" / "real"
LABEL = f"builtin {DEFAULT_BUILTIN} (bundled)"


@pytest.fixture(scope="session")
def real_pictures() -> dict[str, int]:
    """Two real pictures of each digit, a phone photo and a pen drawing by other writers (the
    evaluation-only sets in ../shared/data/real): path -> label."""
    if not (REAL / "photos").is_dir() or not (REAL / "drawn_28px").is_dir():
        pytest.skip(f"{REAL} not available")
    chosen = {}
    for digit in range(10):
        for kind in ("photos", "drawn_28px"):
            chosen[str(sorted((REAL / kind / str(digit)).iterdir())[0])] = digit
    return chosen


def test_bundled_config_is_the_recipes() -> None:
    from digitcli.builtin import MODEL_CARD
    from digitcli.bundling import KEPT_FILES, recipe_config
    from digitcli.config import load_config

    folder = bundled_dir()
    assert load_config(folder / "config.yaml") == recipe_config(REPO / "configs/real-pictures.yaml")
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [*KEPT_FILES, "config.yaml", MODEL_CARD]
    )
    assert not (folder / "model.keras").exists()  # rebuilt from weights.npz when needed


def test_bundled_metrics_report_every_source_and_evaluation_set() -> None:
    metrics = json.loads((bundled_dir() / "metrics.json").read_text(encoding="utf-8"))
    for key in ("test", "test:mnist", "test:usps", "test:optdigits", "test:semeion"):
        assert metrics[key]["total"] > 0, key
    assert metrics["eval:photos"]["total"] == 40
    assert metrics["eval:drawn_28px"]["total"] == 1000
    card = (bundled_dir() / "MODEL_CARD.md").read_text(encoding="utf-8")
    for words in ("## Architecture", "## Training data and licences", "## Known weaknesses"):
        assert words in card


def test_bundled_weights_are_float32_and_read_real_pictures(real_pictures: dict[str, int]) -> None:
    from digitcli.predict import InputItem, load_classifier, predict_inputs

    with np.load(bundled_dir() / "weights.npz") as archive:
        arrays = [archive[name] for name in archive.files if name.startswith("layer_")]
    assert arrays and all(array.dtype == np.float32 for array in arrays)
    files = resolve_model(Path(BUILTIN))
    classifier = load_classifier(files)
    items = [InputItem(Path(path), path) for path in real_pictures]
    digits = [record.digit for record in predict_inputs(items, classifier)]
    assert digits == list(real_pictures.values())


def test_the_bundled_model_carries_its_own_threshold_and_predict_uses_it() -> None:
    from digitcli.predict import load_classifier
    from digitcli.run_files import read_calibration

    threshold = read_calibration(bundled_dir()).min_confidence
    assert threshold is not None and 0 < threshold < 1
    assert load_classifier(resolve_model(Path(BUILTIN))).min_confidence == threshold
    assert f"Answers below {threshold:g} are marked unsure" in (
        bundled_dir() / "MODEL_CARD.md"
    ).read_text(encoding="utf-8")


def test_the_bundled_threshold_marks_other_writers_digits_unsure_mostly_when_wrong(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # make model chooses it on the recipe's USPS, optdigits and Semeion test splits, pooled: the
    # largest step with at most 2% of them unsure and at least half of those wrong answers.
    from digitcli.bundling import other_writers_threshold
    from digitcli.calibration import THRESHOLD_STEP, calibrated_probabilities
    from digitcli.config import load_config
    from digitcli.data import load_dataset
    from digitcli.inference import NumpyModel
    from digitcli.run_files import read_calibration

    if not REAL.is_dir():
        pytest.skip(f"{REAL} not available")
    monkeypatch.chdir(REPO)  # the recipe's data paths are relative to the repository
    calibration = read_calibration(bundled_dir())
    config = load_config(bundled_dir() / "config.yaml")
    weights = bundled_dir() / "weights.npz"
    assert other_writers_threshold(weights, calibration.temperature, config) == (
        calibration.min_confidence
    )
    others = [entry for entry in config.data.sources or [] if entry.source != "mnist"]
    assert [entry.label for entry in others] == ["usps", "optdigits", "semeion"]
    test = load_dataset(config.data.model_copy(update={"sources": others}), config.seed).test
    model = NumpyModel.load(weights)
    probabilities = calibrated_probabilities(model.logits(test.x), calibration.temperature)
    wrong = probabilities.argmax(axis=1) != test.y
    confidence = probabilities.max(axis=1)

    def keeps_the_rule(threshold: float) -> bool:
        below = confidence < threshold
        return bool(np.mean(below) <= 0.02 and (not below.any() or wrong[below].mean() >= 0.5))

    assert calibration.min_confidence is not None and keeps_the_rule(calibration.min_confidence)
    assert not keeps_the_rule(calibration.min_confidence + THRESHOLD_STEP)


def test_builtin_names_the_bundled_model_and_unknown_names_fail() -> None:
    files = resolve_model(Path("builtin"))
    assert files.builtin == DEFAULT_BUILTIN and files.keras is None
    assert files.weights == bundled_dir() / "weights.npz" and files.label == LABEL
    assert resolve_model(Path(f"builtin:{DEFAULT_BUILTIN}")) == files
    assert resolve_model(bundled_dir()) == files  # its folder, named by path, is still builtin
    with pytest.raises(ModelError, match="builtin:nope: no such bundled model"):
        resolve_model(Path("builtin:nope"))


def test_predict_without_any_run_uses_the_bundled_model_and_says_so(
    runner: CliRunner, real_pictures: dict[str, int]
) -> None:
    paths = list(real_pictures)[:4]
    result = runner.invoke(app, ["predict", *paths, "--format", "csv"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"model: {LABEL}\n"
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(row["digit"]) for row in rows] == [real_pictures[path] for path in paths]
    assert {row["model"] for row in rows} == {LABEL}
    jsonl = runner.invoke(app, ["--quiet", "predict", paths[0], "--format", "jsonl"])
    assert jsonl.stderr == ""  # --quiet silences the model line
    assert json.loads(jsonl.stdout)["model"] == LABEL


def test_a_trained_run_wins_over_the_bundled_model(
    runner: CliRunner, trained_run: Path, real_pictures: dict[str, int], tmp_path: Path
) -> None:
    shutil.copytree(trained_run, tmp_path / "results" / trained_run.name)
    result = runner.invoke(app, ["predict", next(iter(real_pictures)), "--format", "json"])
    assert result.exit_code in (0, 5), result.stderr
    assert result.stderr.splitlines()[0] == f"model: results/{trained_run.name}"
    assert json.loads(result.stdout)[0]["model"] == f"results/{trained_run.name}"


def test_evaluate_scores_every_image_of_a_labelled_folder(
    runner: CliRunner, real_pictures: dict[str, int], tmp_path: Path
) -> None:
    folder = tmp_path / "mine"
    for path, digit in real_pictures.items():
        (folder / str(digit)).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / str(digit) / f"{Path(path).parent.parent.name}.png")
    result = runner.invoke(app, ["evaluate", "--model", "builtin", "--data", str(folder), "--json"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0] == f"model: {LABEL}"
    document = json.loads(result.stdout)
    assert document["model_name"] == LABEL and document["split"] == "all"
    assert document["n_images"] == len(real_pictures) and document["accuracy"] == 1.0
    assert document["data"] == {
        "source": "folder",
        "path": str(folder),
        "fingerprint": document["data"]["fingerprint"],
        "matches_run": None,
    }
    assert not (bundled_dir() / "evaluation.json").exists()  # the package is never written to


def test_evaluate_scores_every_image_of_a_keras_layout_npz(
    runner: CliRunner, real_pictures: dict[str, int], tmp_path: Path
) -> None:
    from PIL import Image

    def pictures(paths: list[str]) -> np.ndarray:  # 28x28 light on dark, as MNIST
        return np.stack(
            [255 - np.asarray(Image.open(path).convert("L").resize((28, 28))) for path in paths]
        )

    drawn = [path for path in real_pictures if "drawn_28px" in path]
    labels = np.array([real_pictures[path] for path in drawn], dtype=np.uint8)
    np.savez(
        tmp_path / "mine.npz",
        x_train=pictures(drawn[:6]),
        y_train=labels[:6],
        x_test=pictures(drawn[6:]),
        y_test=labels[6:],
    )
    result = runner.invoke(app, ["evaluate", "builtin", "--data", "mine.npz", "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["n_images"] == len(drawn)  # both arrays: every image, no split
    assert document["data"]["source"] == "npz" and document["accuracy"] >= 0.9


def test_the_tensorflow_form_of_the_bundled_model_agrees_with_numpy() -> None:
    from digitcli.inference import NumpyModel
    from digitcli.model import load_model_files

    files = resolve_model(Path("builtin"))
    assert files.weights is not None
    pixels = np.random.default_rng(0).random((16, 400), dtype=np.float32)
    keras_logits = np.asarray(load_model_files(files)(pixels, training=False))
    np.testing.assert_allclose(
        keras_logits, NumpyModel.load(files.weights).logits(pixels), atol=1e-4
    )
