"""`digitcli plot`: write a run's figures and a one-page report.html, print their paths."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from digitcli.cli._common import handle_errors, info, pick_model, run_model_option
from digitcli.plotting import FIGURES
from digitcli.vocabulary import PlotFormat


def _figure_list() -> str:
    """The figures, one paragraph per condition, from the registry: always first, then "with --all"."""
    paragraphs: dict[str, list[str]] = {}
    for kind in FIGURES:
        paragraphs.setdefault(kind.when, []).append(f"{kind.stem} ({kind.summary})")
    return "\n\n".join(
        f"{when.capitalize() + ' also' if when else 'Figures'}: {'; '.join(names)}."
        for when, names in paragraphs.items()
    )


PLOT_HELP = f"""Draw a run's figures and write report.html, a single page with all of them.

PATH is a run directory or a results folder (then its latest run); default ./results. Files go to
the run's plots/ folder (or --output DIR), named after the figure; their paths are printed on
stdout, one per line.

{_figure_list()}

Examples:

  digitcli plot results/                  # latest run

  digitcli plot results/ --all --format svg

  digitcli plot results/<run> --output /tmp/figures
"""


@handle_errors
def plot_command(
    path: Annotated[
        Path | None,
        typer.Argument(
            metavar="PATH",
            help="Run directory, results folder or builtin (the bundled model; figures go to "
            "./builtin-real-pictures/plots/) (default: ./results, its latest run).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[Path | None, run_model_option("plot")] = None,
    all_runs: Annotated[
        bool, typer.Option("--all", help="Also compare every run in the results folder.")
    ] = False,
    fmt: Annotated[
        PlotFormat, typer.Option("--format", "-f", help="Image format of the figure files.")
    ] = PlotFormat.png,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="Folder to write into (default: the run's plots/ folder).",
        ),
    ] = None,
) -> None:
    from digitcli.plotting import plot_run

    result = plot_run(pick_model(path, model), out_dir=output, fmt=fmt, all_runs=all_runs)
    info(f"model: {result.model}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    for file in result.files:
        print(file)
    info(
        f"wrote {len(result.figures)} figures and {result.report.name} in {result.seconds:.1f} s "
        f"(test accuracy {result.evaluation.accuracy:.4f})"
    )


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the app."""
    app.command("plot", help=PLOT_HELP)(plot_command)
