"""`digitcli sweep SPEC.yaml`: run or continue an Optuna study and show its trials, best first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from digitcli.cli._common import handle_errors, info, stdout_console, stdout_is_terminal

if TYPE_CHECKING:
    from digitcli.sweep import SweepResult

SWEEP_HELP = """Search settings with Optuna: every trial is a normal run in the results folder.

SPEC.yaml names a base config, the keys to search with their ranges or choices, the metric, the
number of trials and a pruner (see README, "Searching settings"). The study is kept in a storage:
by default results/sweeps/<study>/study.db (SQLite, no server); --storage takes any database URL
Optuna supports, so several processes or machines can work on one study. Running the same command
again continues the study toward its number of trials (interrupted trials are run again).

Prints the trials, best first; writes the best config as YAML (ready for train --config) and
figures into results/sweeps/<study>/, and points results/latest at the best run.

Examples:

  digitcli sweep configs/sweep.yaml --jobs 2

  digitcli sweep configs/sweep.yaml --storage sqlite:///shared.db      # another process, same study

  digitcli sweep configs/sweep.yaml --storage postgresql://user:pw@db/optuna   # several machines
"""


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _param(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def table_rows(result: SweepResult) -> list[list[str]]:
    keys = result.parameters
    header = ["trial", "state", result.metric, *keys, "epochs", "run"]
    rows = [header]
    for row in result.rows:
        rows.append(
            [
                str(row.number),
                row.state,
                _value(row.value),
                *(_param(row.params.get(key)) for key in keys),
                "-" if row.epochs is None else str(row.epochs),
                Path(row.run).name if row.run else "-",
            ]
        )
    return rows


def render_plain(result: SweepResult) -> str:
    from digitcli.cli.runs_cmd import aligned

    return aligned(table_rows(result))


def _render_rich(result: SweepResult) -> None:
    from rich.table import Table

    rows = table_rows(result)
    table = Table(title=f"Study {result.study}: {result.direction} {result.metric}, best first")
    for index, column in enumerate(rows[0]):
        table.add_column(column, justify="left" if index in (1, len(rows[0]) - 1) else "right")
    for row in rows[1:]:
        table.add_row(*row)
    stdout_console().print(table)


@handle_errors
def sweep_command(
    spec: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="The sweep spec.")],
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            metavar="URL",
            help="Optuna storage URL (default: sqlite:///<results>/sweeps/<study>/study.db).",
        ),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=1, metavar="N", help="Trials run in parallel (processes)."
        ),
    ] = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the study's trials as one JSON document.")
    ] = False,
) -> None:
    from digitcli.errors import TrainingInterrupted
    from digitcli.sweep import run_sweep

    result = run_sweep(spec, storage, jobs, report=info)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    elif stdout_is_terminal():
        _render_rich(result)
    else:
        print(render_plain(result))
    for warning in result.warnings:
        info(f"warning: {warning}")
    counts = result.counts()
    finished = counts.get("complete", 0) + counts.get("pruned", 0)
    info(
        f"{finished} of {result.trials_wanted} trials finished "
        f"({counts.get('complete', 0)} complete, {counts.get('pruned', 0)} pruned, "
        f"{counts.get('failed', 0)} failed, {counts.get('running', 0)} running elsewhere)"
    )
    if result.best_config is not None:
        info(f"best config: {result.best_config} (digitcli train --config {result.best_config})")
    for figure in result.figures:
        info(f"figure: {figure}")
    if result.interrupted:
        raise TrainingInterrupted(
            f"sweep interrupted; finished trials are kept. Continue with: digitcli sweep {spec}"
            + (f" --storage {storage}" if storage else "")
        )


def register(app: typer.Typer) -> None:
    app.command("sweep", help=SWEEP_HELP)(sweep_command)
