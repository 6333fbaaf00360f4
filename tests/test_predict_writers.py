"""Every predict output format in `predict_writers.WRITERS` round-trips its records, in any chunking.

A new format is covered by adding its reader to READERS (the test fails until it is there).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Sequence

import pytest

from digitcli.predict import PredictionRecord
from digitcli.predict_writers import WRITERS, close_writer, open_writer, write_chunk
from digitcli.vocabulary import PredictFormat

GOOD = PredictionRecord(
    path='imgs/a seven, "quoted"\t.png',
    digit=7,
    confidence=0.91234567,
    probabilities=tuple([0.01] * 7 + [0.91234567] + [0.01] * 2),
    top3=((7, 0.91234567), (1, 0.01), (0, 0.01)),
)
FAILED = PredictionRecord(
    path="X.npy[3]", digit=None, confidence=None, probabilities=None, top3=(), error="no ink"
)
UNSURE = PredictionRecord(
    path="u.png",
    digit=4,
    confidence=0.36,
    probabilities=(0.0, 0.3, 0.0, 0.0, 0.36, 0.0, 0.0, 0.34, 0.0, 0.0),
    top3=((4, 0.36), (7, 0.34), (1, 0.3)),
    status="unsure",
    reason="confidence 36.0% < 50%; or 7 (34%), 1 (30%)",
)

# What a reader recovers from each format: (path, digit or None, status) per record.
Row = tuple[str, int | None, str | None]


_PLAIN_UNESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}


def _plain(text: str) -> list[Row]:
    # Four tab-separated fields per line: a tab or newline in a path is escaped.
    rows: list[Row] = []
    for line in text.splitlines():
        path, digit, _, status = line.split("\t")
        path = re.sub(r"\\(.)", lambda match: _PLAIN_UNESCAPES[match.group(1)], path)
        rows.append((path, int(digit) if digit else None, status))
    return rows


def _csv(text: str) -> list[Row]:
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == [
        *("path", "digit", "confidence", "top3", "error"),
        *("unsure", "status", "reason", "number", "boxes", "model"),
    ]
    for row in rows:
        assert row[5] == ("true" if row[6] == "unsure" else "false")
    return [(row[0], int(row[1]) if row[1] else None, row[6]) for row in rows]


def _json(text: str) -> list[Row]:
    return [(doc["path"], doc["digit"], doc["status"]) for doc in json.loads(text)]


def _jsonl(text: str) -> list[Row]:
    documents = [json.loads(line) for line in text.splitlines()]
    return [(doc["path"], doc["digit"], doc["status"]) for doc in documents]


def _table(text: str) -> list[Row]:
    # Rows of the Rich table: file | digit | confidence | top-3 ("-" for a failed input); an
    # unsure answer's confidence reads "36.0% unsure". Failures are not told apart here.
    rows: list[Row] = []
    for line in text.splitlines():
        if line.startswith("│"):
            path, digit, confidence, *_ = (cell.strip() for cell in line.strip("│").split("│"))
            if digit == "-":
                rows.append((path, None, "error"))
            else:
                rows.append((path, int(digit), "unsure" if "unsure" in confidence else "ok"))
    return rows


READERS: dict[PredictFormat, Callable[[str], list[Row]]] = {
    PredictFormat.table: _table,
    PredictFormat.plain: _plain,
    PredictFormat.csv: _csv,
    PredictFormat.json: _json,
    PredictFormat.jsonl: _jsonl,
}


def written(fmt: PredictFormat, chunks: Sequence[Sequence[PredictionRecord]]) -> str:
    out = io.StringIO()
    writer = open_writer(fmt, out, color=False)
    for chunk in chunks:
        write_chunk(writer, chunk)
    close_writer(writer)
    return out.getvalue()


def test_the_cli_offers_exactly_the_registered_formats() -> None:
    assert list(WRITERS) == list(PredictFormat)
    assert set(READERS) == set(WRITERS), "add a reader for the new format to READERS"


@pytest.mark.parametrize("fmt", list(WRITERS), ids=lambda fmt: fmt.value)
def test_every_format_round_trips_its_records(fmt: PredictFormat) -> None:
    read = READERS[fmt]
    short = PredictionRecord("b.png", 3, 0.5, tuple([0.05] * 10), ((3, 0.5),))
    # The table folds long cells over lines: it gets short paths only.
    records = (
        [short, FAILED, UNSURE] if fmt is PredictFormat.table else [GOOD, FAILED, short, UNSURE]
    )
    whole = written(fmt, [records])
    assert read(whole) == [(r.path, r.digit, r.status) for r in records]
    # Chunks (including empty ones) change nothing: each writer keeps its own state.
    assert written(fmt, [[], records[:1], [], records[1:]]) == whole
    assert written(fmt, [[r] for r in records]) == whole


@pytest.mark.parametrize("fmt", list(WRITERS), ids=lambda fmt: fmt.value)
def test_every_format_writes_a_valid_empty_output(fmt: PredictFormat) -> None:
    assert READERS[fmt](written(fmt, [])) == []
    assert written(fmt, [[]]) == written(fmt, [])


def test_predict_help_describes_every_format(runner) -> None:  # type: ignore[no-untyped-def]
    from digitcli.cli import app

    result = runner.invoke(app, ["predict", "--help"], env={"COLUMNS": "1000"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for fmt, entry in WRITERS.items():
        assert f"{fmt.value}: {entry.description}" in text


@pytest.mark.parametrize("fmt", [PredictFormat.csv, PredictFormat.json, PredictFormat.jsonl])
def test_machine_formats_name_the_model_in_every_record(fmt: PredictFormat) -> None:
    out = io.StringIO()
    writer = open_writer(fmt, out, color=False, model="builtin real-pictures (bundled)")
    write_chunk(writer, [GOOD, FAILED])
    close_writer(writer)
    text = out.getvalue()
    if fmt is PredictFormat.csv:
        models = [row["model"] for row in csv.DictReader(io.StringIO(text))]
    elif fmt is PredictFormat.json:
        models = [document["model"] for document in json.loads(text)]
    else:
        models = [json.loads(line)["model"] for line in text.splitlines()]
    assert models == ["builtin real-pictures (bundled)"] * 2
