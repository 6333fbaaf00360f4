"""`digitcli plot` and `digitcli.plotting`: every figure written, valid, readable; report.html."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.plotting import (
    MISTAKE_COLOR,
    TRAIN_COLOR,
    VALIDATION_COLOR,
    first_layer_weights_figure,
    learning_curves_figure,
    samples_figure,
    save_figure,
)
from digitcli.vocabulary import PlotFormat

FIGURES = [
    "learning_curves",
    "confusion_matrix",
    "test_samples",
    "misclassified",
    "probabilities",
    "reliability",
    "first_layer_weights",
]
COMPARISONS = ["compare_learning_curves", "compare_accuracy"]


def copy_runs(trained_run: Path, root: Path, names: list[str]) -> list[Path]:
    """Copies of the trained run under `root` (several, so --all has runs to compare)."""
    copies = []
    for name in names:
        destination = root / name
        shutil.copytree(trained_run, destination, ignore=shutil.ignore_patterns("plots"))
        info = json.loads((destination / "run.json").read_text())
        info["name"] = name
        (destination / "run.json").write_text(json.dumps(info))
        copies.append(destination)
    return copies


def test_plot_a_results_root_with_all_runs(
    runner: CliRunner, trained_run: Path, tmp_path: Path
) -> None:
    from PIL import Image

    older, newer = copy_runs(trained_run, tmp_path / "results", ["20200101-a", "20200102-b"])
    result = runner.invoke(app, ["plot", "results", "--all"])
    assert result.exit_code == 0, result.stderr
    printed = result.stdout.splitlines()
    plots = Path("results") / newer.name / "plots"  # the latest run
    expected = [plots / f"{name}.png" for name in FIGURES + COMPARISONS] + [plots / "report.html"]
    assert printed == [str(path) for path in expected]
    for path in expected[:-1]:
        with Image.open(path) as image:
            assert image.format == "PNG"
            width, height = image.size
            assert width >= 600 and height >= 300, (path, image.size)
    with Image.open(plots / "learning_curves.png") as image:
        assert image.size == (1100, 420)  # 11 x 4.2 inches at 100 dpi
    with Image.open(plots / "confusion_matrix.png") as image:
        assert image.size == (1300, 580)
    assert sorted(p.name for p in plots.iterdir()) == sorted(p.name for p in expected)  # no temps
    assert not (older / "plots").exists()

    report = (plots / "report.html").read_text(encoding="utf-8")
    assert report.count('src="data:image/png;base64,') == len(FIGURES + COMPARISONS)
    metrics = json.loads((newer / "metrics.json").read_text())
    test = metrics["test"]  # the run's own test scores, recomputed by plot: they agree
    assert f"Test accuracy <strong>{test['accuracy']:.4f}</strong>" in report
    assert f"{test['errors']} errors out of {test['total']} images" in report
    assert f"<td>{metrics['validation']['accuracy']:.4f}</td>" in report
    assert "learning_rate: 0.001" in report  # the config
    assert "20200101-a" in report and "20200102-b" in report  # the comparison table
    assert "\x1b[" not in result.stdout + result.stderr


def test_plot_a_run_directory_as_svg(runner: CliRunner, trained_run: Path, tmp_path: Path) -> None:
    (run,) = copy_runs(trained_run, tmp_path / "elsewhere", ["20200103-c"])
    out = tmp_path / "figures"
    result = runner.invoke(app, ["plot", str(run), "--format", "svg", "--output", str(out)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [str(out / f"{name}.svg") for name in FIGURES] + [
        str(out / "report.html")
    ]
    for name in FIGURES:
        head = (out / f"{name}.svg").read_text(encoding="utf-8")[:200]
        assert head.startswith(("<?xml", "<svg")), name
        assert "<svg" in head
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.count('src="data:image/svg+xml;base64,') == len(FIGURES)
    assert not (run / "plots").exists()


def test_pdf_figures_and_their_report_copy(tmp_path: Path) -> None:
    from digitcli.engines import EpochLog
    from digitcli.plotting import _write

    history = [
        EpochLog(epoch, 1 / epoch, 0.5 + epoch / 20, 1.1 / epoch, 0.5, 0.1) for epoch in (1, 2)
    ]
    figure = _write(
        learning_curves_figure(history, "demo"), tmp_path, "curves", "t", "c", PlotFormat.pdf
    )
    assert figure.path == tmp_path / "curves.pdf"
    assert figure.path.read_bytes().startswith(b"%PDF")
    # Browsers cannot show a PDF in <img>: the report embeds a PNG rendering instead.
    assert figure.mime == "image/png" and figure.data.startswith(b"\x89PNG")


def test_a_folder_without_runs_fails_in_one_line(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["plot", "empty"])
    assert result.exit_code == 1
    assert (
        result.stderr == "error: empty: holds no complete run (train one first: digitcli train)\n"
    )
    missing = runner.invoke(app, ["plot", "missing-run"])
    assert missing.exit_code == 1
    assert missing.stderr == "error: missing-run: run directory not found\n"
    assert result.stdout == missing.stdout == ""


def test_learning_curves_use_the_fixed_colours() -> None:
    from digitcli.engines import EpochLog

    history = [EpochLog(epoch, 1 / epoch, 0.5, 1.2 / epoch, 0.4, 0.1) for epoch in (1, 2, 3)]
    figure = learning_curves_figure(history, "demo")
    for ax in figure.axes:
        lines = {line.get_label(): line.get_color() for line in ax.get_lines()}
        assert lines == {"training": TRAIN_COLOR, "validation": VALIDATION_COLOR}
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() and ax.get_title()


def test_images_are_drawn_upright_and_mistakes_in_red() -> None:
    images = np.zeros((3, 400), dtype=np.float32)
    images[:, :20] = 1.0  # the top row of each 20x20 image (row-major) is ink
    labels = np.array([1, 2, 3])
    predicted = np.array([1, 7, 3])
    figure = samples_figure(images, labels, predicted, seed=0, count=3)
    shown = [ax for ax in figure.axes if ax.get_visible()]
    assert len(shown) == 3
    for ax, truth, guess in zip(shown, labels, predicted, strict=True):
        (picture,) = ax.get_images()
        data = np.asarray(picture.get_array())
        assert data.shape == (20, 20) and data[0].min() == 1.0 and data[1:].max() == 0.0
        assert picture.get_cmap().name == "gray"
        assert ax.get_title() == f"true {truth}  pred {guess}"
        expected = MISTAKE_COLOR if truth != guess else "black"
        assert ax.title.get_color() == expected


def test_first_layer_weights_are_columns_reshaped_row_major() -> None:
    kernel = np.random.default_rng(0).normal(size=(400, 6)).astype(np.float32)
    figure = first_layer_weights_figure(kernel)
    panels = [ax for ax in figure.axes if ax.get_images() and ax.get_title().startswith("unit")]
    assert [ax.get_title() for ax in panels] == [f"unit {j}" for j in range(1, 7)]
    for j, ax in enumerate(panels):
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), kernel[:, j].reshape(20, 20))


def test_an_interrupted_save_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digitcli.engines import EpochLog

    figure = learning_curves_figure([EpochLog(1, 1.0, 0.5, 1.0, 0.5, 0.1)], "demo")

    def half_written(target: BinaryIO, **kwargs: object) -> None:
        target.write(b"\x89PNG half")  # figures render in memory first
        raise KeyboardInterrupt

    monkeypatch.setattr(figure, "savefig", half_written)
    with pytest.raises(KeyboardInterrupt):
        save_figure(figure, tmp_path / "curves.png", PlotFormat.png)
    assert list(tmp_path.iterdir()) == []
