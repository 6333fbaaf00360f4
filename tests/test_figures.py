"""Every figure in `plotting.FIGURES` renders for a real trained run, and `plot --help` lists it.

A new figure needs no new test here: it is drawn from the same real run as the others.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from digitcli.cli import app
from digitcli.plotting import FIGURES, FigureKind, RunPlotData, _write, read_plot_data
from digitcli.vocabulary import PlotFormat


@pytest.fixture(scope="module")
def compared_data(
    trained_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RunPlotData, RunPlotData]:
    """The fixture run's plot data alone, and with --all over a results folder of two copies."""
    root = tmp_path_factory.mktemp("results")
    for name in ("20200101-a", "20200102-b"):
        shutil.copytree(trained_run, root / name, ignore=shutil.ignore_patterns("plots"))
    alone, _, _ = read_plot_data(root / "20200102-b")
    with_all, _, warnings = read_plot_data(root / "20200102-b", all_runs=True)
    assert warnings == []
    assert [run.name for run in with_all.compared] == ["20200101-a", "20200102-b"]
    return alone, with_all


def test_figure_entries_are_complete_and_unique() -> None:
    stems = [kind.stem for kind in FIGURES]
    assert len(set(stems)) == len(stems)
    for kind in FIGURES:
        assert kind.stem.isidentifier() and kind.title and kind.summary and kind.caption


@pytest.mark.parametrize("kind", FIGURES, ids=lambda kind: kind.stem)
def test_every_figure_renders_for_a_real_run(
    kind: FigureKind, compared_data: tuple[RunPlotData, RunPlotData], tmp_path: Path
) -> None:
    alone, with_all = compared_data
    assert kind.applies(with_all)
    # Only figures with a condition (`when`) may be left out of a plain single-run plot.
    assert kind.applies(alone) or kind.when
    written = _write(
        kind.draw(with_all), tmp_path, kind.stem, kind.title, kind.caption, PlotFormat.png
    )
    assert written.path == tmp_path / f"{kind.stem}.png"
    with Image.open(written.path) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width >= 300 and height >= 150
        # Something is drawn: the figure is not one flat colour.
        assert len(image.convert("L").getcolors(maxcolors=1 << 16) or range(2)) > 1


def test_plot_help_lists_every_figure(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["plot", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    for kind in FIGURES:
        assert f"{kind.stem} ({kind.summary})" in result.stdout
