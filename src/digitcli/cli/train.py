"""`digitcli train`: parse options, show progress, print the run directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from digitcli.cli._common import (
    ConfigOption,
    SetOption,
    handle_errors,
    settings,
    stderr_console,
    stderr_is_terminal,
)

if TYPE_CHECKING:
    from rich.console import Console

    from digitcli.engines import EpochLog
    from digitcli.trainer import TrainResult

TRAIN_HELP = """Train the network and write a run directory under the results root.

Examples:

  digitcli train                                  # built-in digits, reference recipe

  digitcli train --config configs/mnist.yaml --set data.path=mnist.npz

  digitcli train --set train.epochs=5 --set model.layers.0.units=64

  digitcli train --name wide --set model.layers.0.units=64   # results/wide

  digitcli train --config results/wide/config.yaml   # again: results/<time>-wide-<random>

  digitcli train --resume results/<run>.partial   # continue after Ctrl-C

  digitcli train --resume results/<run>.partial --set data.path=/new/place/mnist.npz

Progress goes to stderr; stdout gets only the run directory (or JSON with --json).
"""


class _PlainProgress:
    """One parseable line per epoch on stderr, for logs and CI."""

    def __init__(self) -> None:
        self.total = 0

    def status(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def start(self, total: int, done: int) -> None:
        self.total = total

    def epoch(self, log: EpochLog) -> None:
        print(
            f"epoch {log.epoch}/{self.total} loss={log.loss:.4f} accuracy={log.accuracy:.4f} "
            f"val_loss={log.val_loss:.4f} val_accuracy={log.val_accuracy:.4f} "
            f"seconds={log.seconds:.3f}",
            file=sys.stderr,
            flush=True,
        )

    def stop(self, interrupted: bool = False) -> None:
        pass


def _times_column() -> Any:
    """A Rich column "elapsed 0:00:05, about 0:00:07 left" (a bare pair of times is ambiguous)."""
    from datetime import timedelta

    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class TimesColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            elapsed = timedelta(seconds=int(task.finished_time or task.elapsed or 0))
            if task.finished:
                return Text(f"took {elapsed}", style="progress.elapsed")
            left = task.time_remaining
            rest = f", about {timedelta(seconds=int(left))} left" if left is not None else ""
            return Text(f"elapsed {elapsed}{rest}", style="progress.elapsed")

    return TimesColumn()


class _RichProgress:
    """A live epoch bar with the latest metrics and the time elapsed and left, on stderr."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console = console or stderr_console()
        self.progress = Progress(
            TextColumn("[bold]epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[metrics]}"),
            _times_column(),
            console=self.console,
            transient=False,
        )
        self.task: Any = None

    def status(self, message: str) -> None:
        self.console.print(message, style="dim", highlight=False)

    def start(self, total: int, done: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("train", total=total, completed=done, metrics="")

    def epoch(self, log: EpochLog) -> None:
        metrics = (
            f"loss {log.loss:.4f} acc {log.accuracy:.4f} "
            f"val_loss {log.val_loss:.4f} val_acc {log.val_accuracy:.4f}"
        )
        self.progress.update(self.task, completed=log.epoch, metrics=metrics)

    def stop(self, interrupted: bool = False) -> None:
        if interrupted:
            # Stopped by Ctrl-C, SIGTERM or an error: erase the bar instead of printing it once
            # more below the ^C (it showed twice); the error line says where training stopped.
            self.progress.live.transient = True
        self.progress.stop()


def metrics_rows(metrics: dict[str, dict[str, float]]) -> list[tuple[str, str, str, str]]:
    rows = []
    for split, values in metrics.items():
        rows.append(
            (
                split,
                f"{values['loss']:.4f}",
                f"{values['accuracy']:.4f}",
                f"{int(values['errors'])} errors out of {int(values['total'])}",
            )
        )
    return rows


def _render_summary(result: TrainResult) -> None:
    if settings.quiet:
        return
    rows = metrics_rows(result.metrics)
    if stderr_is_terminal():
        from rich.table import Table

        table = Table(title=f"Trained in {result.seconds:.1f} s ({len(result.history)} epochs)")
        for column in ("split", "loss", "accuracy", "errors"):
            table.add_column(column, justify="left" if column in ("split", "errors") else "right")
        for row in rows:
            table.add_row(*row)
        stderr_console().print(table)
    else:
        for split, loss, accuracy, errors in rows:
            print(f"{split}: loss={loss} accuracy={accuracy} ({errors})", file=sys.stderr)
        print(f"seconds={result.seconds:.2f}", file=sys.stderr)


@handle_errors
def train_command(
    config: ConfigOption = None,
    overrides: SetOption = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            metavar="RUN",
            help="Continue an interrupted run (its .partial folder) from its last finished epoch.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            "-n",
            metavar="NAME",
            help="Name the run's folder (unique in the results folder; default: time, config, random).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run directory and metrics as JSON on stdout.")
    ] = False,
) -> None:
    from digitcli.config import load_config
    from digitcli.errors import UsageError
    from digitcli.run_catalog import config_origin
    from digitcli.trainer import TrainCallbacks, check_resume_overrides, train

    if resume is not None and (config is not None or name is not None):
        raise UsageError("--resume continues a run with its saved config; drop --config/--name")
    if resume is not None:
        check_resume_overrides(list(overrides or []))
    resolved = load_config(config, None if resume is not None else overrides)
    # A run trained from another run's config.yaml is named after that run, not "config".
    label, source_run = config_origin(config) if config is not None else ("default", None)
    metadata = {"source_run": source_run} if source_run else {}
    if name is not None:
        label = name
    display: _PlainProgress | _RichProgress | None = None
    if not settings.quiet:
        display = _RichProgress() if stderr_is_terminal() else _PlainProgress()
    callbacks = TrainCallbacks(
        on_start=display.start if display else None,
        on_epoch=display.epoch if display else None,
        on_warning=lambda message: print(f"warning: {message}", file=sys.stderr, flush=True),
        on_status=display.status if display else None,
    )
    try:
        result = train(
            resolved,
            label=label,
            callbacks=callbacks,
            resume=resume,
            name=name,
            metadata=metadata,
            resume_overrides=list(overrides or []) if resume is not None else None,
        )
    except BaseException:
        if display is not None:
            display.stop(interrupted=True)
        raise
    if display is not None:
        display.stop()
    _render_summary(result)
    if as_json:
        document = {
            "run_dir": str(result.run_dir),
            "metrics": result.metrics,
            "epochs": len(result.history),
            "seconds": round(result.seconds, 3),
        }
        print(json.dumps(document, indent=2))
    else:
        print(result.run_dir)


def register(app: typer.Typer) -> None:
    app.command("train", help=TRAIN_HELP)(train_command)
