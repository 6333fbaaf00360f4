"""`report.html`: one self-contained page with a run's config, metrics and every figure.

The figures are embedded as base64 data URIs, so the file can be mailed, attached to a CI job or
opened from anywhere without the images beside it. No JavaScript, no external stylesheet. Everything
arrives as plain data (the evaluation as its JSON document, the figures as bytes), so this module
knows nothing of plotting or evaluating.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitcli.output_files import write_text

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .6rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th { background: #f4f4f4; }
td.label, th.label { text-align: left; }
pre { background: #f7f7f7; padding: .8rem; overflow-x: auto; font-size: .85rem; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; margin-top: .3rem; }
.muted { color: #666; }
nav a { margin-right: 1rem; }
"""


@dataclass(frozen=True)
class FigureFile:
    key: str  # file stem, e.g. "learning_curves"
    title: str
    caption: str
    path: Path
    mime: str  # of `data`, the copy embedded in report.html
    data: bytes = field(repr=False)


@dataclass
class ReportContent:
    run_dir: Path
    run_info: dict[str, Any]
    config_yaml: str
    metrics: dict[str, Any]  # metrics.json: split -> loss, accuracy, errors, total
    evaluation: dict[str, Any]  # Evaluation.to_dict(): docs/evaluation-schema.md
    figures: Sequence[FigureFile]
    comparison: list[dict[str, Any]] = field(default_factory=list)


def _escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _escape(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], label_columns: int = 1) -> str:
    head = "".join(
        f'<th class="label">{_escape(h)}</th>' if i < label_columns else f"<th>{_escape(h)}</th>"
        for i, h in enumerate(header)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="label">{_escape(c)}</td>'
            if i < label_columns
            else f"<td>{_number(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def render_report(content: ReportContent) -> str:
    """The whole page as a string."""
    info = content.run_info
    data = info.get("data") or {}
    evaluation = content.evaluation
    source, split = evaluation["data"]["source"], evaluation["split"]
    name = info.get("name") or content.run_dir.name

    summary_rows = [
        ("run", name),
        ("folder", str(content.run_dir.resolve())),
        ("created", info.get("created", "")),
        ("data", f"{data.get('source', '')} (fingerprint {data.get('fingerprint', '?')})"),
        ("sizes", ", ".join(f"{k} {v}" for k, v in (data.get("sizes") or {}).items())),
        ("epochs", info.get("epochs", "")),
        ("engine", info.get("engine", "")),
        ("seed", info.get("seed", "")),
        ("training time", f"{info.get('wall_seconds', '?')} s"),
    ]
    metrics_rows = [
        (
            split,
            values.get("loss"),
            values.get("accuracy"),
            f"{values.get('errors', '?')} errors out of {values.get('total', '?')}",
        )
        for split, values in content.metrics.items()
        if isinstance(values, dict)
    ]
    per_class_rows = [
        (str(entry["digit"]), entry["precision"], entry["recall"], entry["f1"], entry["support"])
        for entry in evaluation["per_class"]
    ]
    macro = evaluation["macro_avg"]
    per_class_rows.append(
        ("macro", macro["precision"], macro["recall"], macro["f1"], int(macro["support"]))
    )

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>digitcli report: {_escape(name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>digitcli report: {_escape(name)}</h1>",
        f'<p class="muted">Test accuracy <strong>{evaluation["accuracy"]:.4f}</strong>, loss '
        f"{evaluation['loss']:.4f}: {evaluation['errors']} errors out of "
        f"{evaluation['n_images']} images ({_escape(source)} {_escape(split)} split).</p>",
        "<nav>"
        + "".join(f'<a href="#{_escape(f.key)}">{_escape(f.title)}</a>' for f in content.figures)
        + "</nav>",
        "<h2>Run</h2>",
        _table(["item", "value"], summary_rows, label_columns=2),
        "<h2>Metrics</h2>",
        _table(["split", "loss", "accuracy", "errors"], metrics_rows, label_columns=1),
        f"<h2>Per digit ({_escape(split)} split)</h2>",
        _table(["digit", "precision", "recall", "f1", "support"], per_class_rows),
    ]
    if content.comparison:
        parts += [
            "<h2>All runs</h2>",
            _table(
                ["run", "epochs", "train accuracy", "validation accuracy", "test accuracy"],
                [
                    (row["run"], row["epochs"], row["train"], row["validation"], row["test"])
                    for row in content.comparison
                ],
            ),
        ]
    for figure in content.figures:
        parts += [
            f'<h2 id="{_escape(figure.key)}">{_escape(figure.title)}</h2>',
            "<figure>",
            f'<img src="{data_uri(figure.mime, figure.data)}" alt="{_escape(figure.title)}">',
            f"<figcaption>{_escape(figure.caption)} File: {_escape(figure.path.name)}</figcaption>",
            "</figure>",
        ]
    parts += [
        "<h2>Config</h2>",
        f"<pre>{_escape(content.config_yaml)}</pre>",
        "</body></html>",
        "",
    ]
    return "\n".join(parts)


def write_report(path: Path, content: ReportContent) -> Path:
    """Write report.html atomically; returns its path."""
    write_text(path, render_report(content))
    return path
