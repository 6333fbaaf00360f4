"""`digitcli runs list|show|compare|rm`: render what `digitcli.run_catalog` finds.

A Rich table on a terminal; aligned plain text when piped (one record per line, `-` where a value
is missing, no spaces inside a field, so `awk`/`cut` work); one JSON document with --json;
Markdown for `compare --markdown` (for a pull request).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from digitcli.cli._common import handle_errors, info, stdout_console, stdout_is_terminal

if TYPE_CHECKING:
    from digitcli.run_catalog import Comparison, RunDetails, RunSummary

RUNS_HELP = """List, inspect, compare and delete the runs in a results folder.

Examples:

  digitcli runs list                          # newest first: name, date, data, model, accuracy

  digitcli runs show latest                   # one run: card, metrics, config

  digitcli runs compare wide narrow           # settings that differ, metrics side by side

  digitcli runs compare A B --markdown        # the same as a Markdown table, for a pull request

  digitcli runs rm 3fa9c1                     # asks first; --yes to skip the question

A RUN is a run directory, a run's name in the results folder, `latest`, or a unique part of a name
(such as its random suffix).
"""

LIST_HELP = """List the runs in a results folder, newest first: name, date, data, model, epochs,
test accuracy, wall time.

Examples:

  digitcli runs list

  digitcli runs list other-results/ --json
"""

SHOW_HELP = """Show one run: its card (data, model, engine, seed, epochs, origin), metrics and config.

Examples:

  digitcli runs show                 # the latest run

  digitcli runs show wide --json
"""

COMPARE_HELP = """Compare runs: the settings that differ and the metrics side by side, with the
difference to the first run.

Examples:

  digitcli runs compare wide narrow

  digitcli runs compare latest wide --markdown >> pr.md
"""

RM_HELP = """Delete runs (asks first; never the run `latest` names without --force).

Examples:

  digitcli runs rm 3fa9c1

  digitcli runs rm old-1 old-2 --yes
"""

RootOption = Annotated[
    Path,
    typer.Option(
        "--root",
        "-r",
        metavar="DIR",
        help="The results folder that run names refer to.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]

MISSING = "-"


def _text(value: Any) -> str:
    """A setting's value as one field: YAML-like scalars, `-` when absent."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _created(summary: RunSummary, plain: bool) -> str:
    if summary.created is None:
        return MISSING
    return summary.created.strftime("%Y-%m-%dT%H:%M:%S" if plain else "%Y-%m-%d %H:%M")


def _accuracy(value: float | None) -> str:
    return MISSING if value is None else f"{value:.4f}"


def _seconds(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f}"


def _list_rows(summaries: Sequence[RunSummary], plain: bool) -> list[list[str]]:
    return [
        [
            summary.name,
            _created(summary, plain),
            summary.data or MISSING,
            summary.model or MISSING,
            MISSING if summary.epochs is None else str(summary.epochs),
            _accuracy(summary.test_accuracy),
            _seconds(summary.wall_seconds),
            "latest" if summary.latest else "",
        ]
        for summary in summaries
    ]


LIST_COLUMNS = ["name", "created", "data", "model", "epochs", "test_acc", "wall_s", ""]


def aligned(rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def render_list_plain(summaries: Sequence[RunSummary]) -> str:
    return aligned([LIST_COLUMNS, *_list_rows(summaries, plain=True)])


def _render_list_rich(summaries: Sequence[RunSummary], root: Path) -> None:
    from rich.table import Table

    table = Table(title=f"Runs in {root} ({len(summaries)}, newest first)")
    for column, justify in zip(
        ["name", "created", "data", "model", "epochs", "test acc", "wall s", ""],
        ["left", "left", "left", "left", "right", "right", "right", "left"],
        strict=True,
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in _list_rows(summaries, plain=False):
        table.add_row(*row)
    stdout_console().print(table)


@handle_errors
def list_command(
    root: Annotated[
        Path,
        typer.Argument(metavar="[RESULTS]", help="Results folder (default: ./results)."),
    ] = Path("results"),
    as_json: JsonOption = False,
) -> None:
    from digitcli.run_catalog import list_summaries

    summaries = list_summaries(root)
    if as_json:
        print(json.dumps([summary.to_dict() for summary in summaries], indent=2))
        return
    if not summaries:
        info(f"no runs in {root} (train one: digitcli train)")
        return
    if stdout_is_terminal():
        _render_list_rich(summaries, root)
    else:
        print(render_list_plain(summaries))
    for summary in summaries:
        if summary.problems:
            print(f"warning: {summary.name}: {'; '.join(summary.problems)}", file=sys.stderr)


def card_rows(details: RunDetails) -> list[tuple[str, str]]:
    """The run's "card": what it is, how it was trained, where it came from."""
    summary, meta = details.summary, details.meta
    sizes = (meta.get("data") or {}).get("sizes") if isinstance(meta.get("data"), dict) else None
    data = summary.data or MISSING
    if isinstance(sizes, dict):
        data += " (" + ", ".join(f"{split} {count}" for split, count in sizes.items()) + ")"
    rows = [
        ("name", summary.name),
        ("path", str(summary.path)),
        ("created", _created(summary, plain=True)),
        ("latest", "yes" if summary.latest else "no"),
        ("data", data),
        ("model", summary.model or MISSING),
        ("engine", _text(meta.get("engine"))),
        ("seed", _text(meta.get("seed"))),
        ("epochs", MISSING if summary.epochs is None else str(summary.epochs)),
    ]
    best = details.to_dict()["best_epoch"]
    if best is not None:
        rows.append(
            ("best epoch", f"{int(best['epoch'])} (val_accuracy {best['val_accuracy']:.4f})")
        )
    stopping = meta.get("early_stopping")
    if isinstance(stopping, dict) and stopping.get("stopped_epoch"):
        kept = "best epoch's weights kept" if stopping.get("restored_best") else "last weights kept"
        rows.append(
            (
                "early stopping",
                f"at epoch {stopping['stopped_epoch']} on {stopping.get('monitor')} ({kept})",
            )
        )
    rows.append(("wall time", f"{_seconds(summary.wall_seconds)} s"))
    if meta.get("source_run"):
        rows.append(("trained from", f"the config of run {meta['source_run']}"))
    sweep = meta.get("sweep")
    if isinstance(sweep, dict):
        rows.append(("sweep", f"study {sweep.get('study')}, trial {sweep.get('trial')}"))
    if summary.problems:
        rows.append(("problems", "; ".join(summary.problems)))
    return rows


def _metric_rows(details: RunDetails) -> list[tuple[str, str, str, str]]:
    rows = []
    for split, values in (details.metrics or {}).items():
        if not isinstance(values, dict):
            continue
        rows.append(
            (
                split,
                _accuracy(values.get("loss")),
                _accuracy(values.get("accuracy")),
                f"{values.get('errors', MISSING)} errors out of {values.get('total', MISSING)}",
            )
        )
    return rows


def _config_yaml(details: RunDetails) -> str:
    import yaml

    if details.config is None:
        return "(config.yaml missing or unreadable)\n"
    return str(yaml.safe_dump(details.config, sort_keys=False))


def render_show_plain(details: RunDetails) -> str:
    lines = [f"{key}: {value}" for key, value in card_rows(details)]
    metrics = _metric_rows(details)
    if metrics:
        lines += ["", aligned([("split", "loss", "accuracy", "errors"), *metrics])]
    lines += ["", "config:"]
    lines += [f"  {line}" for line in _config_yaml(details).splitlines()]
    return "\n".join(lines)


def _render_show_rich(details: RunDetails) -> None:
    from rich.table import Table

    console = stdout_console()
    card = Table(title=f"Run {details.summary.name}", show_header=False)
    card.add_column("what")
    card.add_column("value")
    for key, value in card_rows(details):
        card.add_row(key, value)
    console.print(card)
    metrics = _metric_rows(details)
    if metrics:
        table = Table(title="Metrics")
        for column in ("split", "loss", "accuracy", "errors"):
            table.add_column(column, justify="left" if column in ("split", "errors") else "right")
        for row in metrics:
            table.add_row(*row)
        console.print(table)
    console.print("config.yaml:", markup=False)
    console.print(_config_yaml(details), markup=False, end="")


@handle_errors
def show_command(
    run: Annotated[
        str, typer.Argument(metavar="RUN", help="Run name, path or `latest`.")
    ] = "latest",
    root: RootOption = Path("results"),
    as_json: JsonOption = False,
) -> None:
    from digitcli.run_catalog import find_run, load_details

    details = load_details(find_run(root, run))
    if as_json:
        print(json.dumps(details.to_dict(), indent=2))
    elif stdout_is_terminal():
        _render_show_rich(details)
    else:
        print(render_show_plain(details))


_METRIC_DECIMALS = {"test.errors": 0, "epochs": 0, "best_epoch": 0, "wall_seconds": 1}


def _metric(key: str, value: Any, signed: bool = False) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return MISSING if value is None else _text(value)
    decimals = _METRIC_DECIMALS.get(key, 4)
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def _metric_table(comparison: Comparison) -> list[list[str]]:
    header = ["metric", comparison.runs[0]]
    for name in comparison.runs[1:]:
        header += [name, "diff"]
    rows = [header]
    for row in comparison.metrics:
        cells = [row.key, _metric(row.key, row.values[0])]
        for value, difference in zip(row.values[1:], (row.differences or [])[1:], strict=True):
            cells += [_metric(row.key, value), _metric(row.key, difference, signed=True)]
        rows.append(cells)
    return rows


def _settings_table(comparison: Comparison) -> list[list[str]]:
    return [
        ["setting", *comparison.runs],
        *([row.key, *(_text(value) for value in row.values)] for row in comparison.settings),
    ]


def _settings_title(comparison: Comparison) -> str:
    differ = len(comparison.settings)
    return (
        f"settings that differ: {differ} "
        f"({comparison.same_settings} other settings are the same in every run)"
    )


def render_compare_plain(comparison: Comparison) -> str:
    lines = [_settings_title(comparison)]
    if comparison.settings:
        lines.append(aligned(_settings_table(comparison)))
    lines += [
        "",
        "metrics (diff: the run to its left minus the first run)",
        aligned(_metric_table(comparison)),
    ]
    return "\n".join(lines)


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _markdown_table(rows: Sequence[Sequence[str]], numeric_from: int) -> list[str]:
    separator = ["---" if i < numeric_from else "---:" for i in range(len(rows[0]))]
    return [_markdown_row(rows[0]), _markdown_row(separator), *(_markdown_row(r) for r in rows[1:])]


def render_compare_markdown(comparison: Comparison) -> str:
    lines = [f"**Runs:** {', '.join(f'`{name}`' for name in comparison.runs)}", ""]
    lines.append(f"**{_settings_title(comparison).capitalize()}**")
    if comparison.settings:
        settings = _settings_table(comparison)
        settings[1:] = [[f"`{row[0]}`", *row[1:]] for row in settings[1:]]
        lines += ["", *_markdown_table(settings, numeric_from=len(settings[0]))]
    lines += ["", "**Metrics** (diff: the run to its left minus the first run)", ""]
    lines += _markdown_table(_metric_table(comparison), numeric_from=1)
    return "\n".join(lines)


def _render_compare_rich(comparison: Comparison) -> None:
    from rich.table import Table

    console = stdout_console()
    settings = _settings_table(comparison)
    table = Table(title=_settings_title(comparison).capitalize())
    for column in settings[0]:
        table.add_column(column)
    for row in settings[1:]:
        table.add_row(*row)
    console.print(table)
    metrics = _metric_table(comparison)
    table = Table(title="Metrics (diff: the run to its left minus the first run)")
    for index, column in enumerate(metrics[0]):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in metrics[1:]:
        table.add_row(*row)
    console.print(table)


@handle_errors
def compare_command(
    runs: Annotated[
        list[str], typer.Argument(metavar="RUN...", help="Two or more runs; the first is the base.")
    ],
    root: RootOption = Path("results"),
    as_json: JsonOption = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print Markdown tables (for a pull request).")
    ] = False,
) -> None:
    from digitcli.errors import UsageError
    from digitcli.run_catalog import compare, find_run

    if as_json and markdown:
        raise UsageError("choose one of --json and --markdown")
    comparison = compare([find_run(root, run) for run in runs])
    if as_json:
        print(json.dumps(comparison.to_dict(), indent=2))
    elif markdown:
        print(render_compare_markdown(comparison))
    elif stdout_is_terminal():
        _render_compare_rich(comparison)
    else:
        print(render_compare_plain(comparison))


def _confirm(question: str) -> bool:
    """Ask on stderr, read the answer from stdin; no answer at all (closed stdin) is an error."""
    from digitcli.errors import UsageError

    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print(file=sys.stderr)
        raise UsageError(
            "no answer on stdin; pass --yes to delete without asking (nothing deleted)"
        )
    return answer.strip().lower() in ("y", "yes")


@handle_errors
def rm_command(
    runs: Annotated[list[str], typer.Argument(metavar="RUN...", help="The runs to delete.")],
    root: RootOption = Path("results"),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also delete the run `latest` names.")
    ] = False,
) -> None:
    from digitcli.run_catalog import find_run, plan_removal, remove_runs

    targets = plan_removal([find_run(root, run) for run in runs], force=force)
    names = ", ".join(path.name for path in targets)
    count = f"{len(targets)} run{'s' if len(targets) > 1 else ''}"
    if not yes and not _confirm(f"delete {count} ({names})?"):
        info("nothing deleted")
        return
    removal = remove_runs(targets)
    for path in removal.removed:
        print(path)
    info(f"deleted {count}; latest is now {removal.latest or '(none)'}")


def register(app: typer.Typer) -> None:
    """Add `runs` and its subcommands to the app."""
    runs_app = typer.Typer(help=RUNS_HELP, no_args_is_help=True)
    for name, function, text in (
        ("list", list_command, LIST_HELP),
        ("show", show_command, SHOW_HELP),
        ("compare", compare_command, COMPARE_HELP),
        ("rm", rm_command, RM_HELP),
    ):
        runs_app.command(name, help=text)(function)
    app.add_typer(runs_app, name="runs")
