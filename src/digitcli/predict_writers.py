"""How `predict` writes its records: one writer per output format, looked up in `WRITERS`.

A writer turns records into text as they come: `start()` once, `record(r)` for each record,
`finish()` once at the end; `write_chunk` sends a chunk's text to the stream in one write and one
flush, so piped output streams. Every format carries each record's doubt: its status ("ok",
"unsure", "no_digit", "error"), and in csv/json/jsonl also `unsure` and the reason. A new format is a `vocabulary.PredictFormat` member, one
`RecordWriter` subclass and one `WRITERS` entry.
Only the standard library and the vocabulary are imported here (Rich inside the table writer), so the CLI may import it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from digitcli.vocabulary import PredictFormat

if TYPE_CHECKING:
    from digitcli.predict import PredictionRecord

CSV_HEADER = (
    *("path", "digit", "confidence", "top3", "error", "unsure", "status", "reason"),
    *("number", "boxes", "model"),
)


class RecordWriter:
    """Text for the start, for each record and for the end of the output; no text by default."""

    def __init__(self, out: TextIO, *, color: bool = True, model: str | None = None) -> None:
        self.out = out
        self.color = color
        self.model = model  # which model answered (runs.ModelFiles.label): csv/json/jsonl say it

    def start(self) -> str:
        return ""

    def record(self, record: PredictionRecord) -> str:
        return ""

    def finish(self) -> str:
        return ""


def _round(value: float) -> float:
    return round(value, 6)


def json_record(record: PredictionRecord) -> dict[str, object]:
    """The record as the json and jsonl formats (and the server's API) write it: probabilities
    rounded to 6 decimals."""
    document = record.to_dict()
    document["digits"] = [
        {**reading.to_dict(), "confidence": _round(reading.confidence)} for reading in record.digits
    ]
    if record.confidence is not None:
        document["confidence"] = _round(record.confidence)
    if record.probabilities is not None:
        document["confidence"] = _round(record.confidence or 0.0)
        document["probabilities"] = [_round(p) for p in record.probabilities]
        document["top3"] = [[digit, _round(p)] for digit, p in record.top3]
    return document


def _json_document(record: PredictionRecord, model: str | None) -> str:
    return json.dumps({**json_record(record), "model": model})


def answer(record: PredictionRecord) -> str:
    """What the picture reads as: its digit, or its number when it holds several."""
    return str(record.digit) if record.digit is not None else record.number or ""


def boxes_text(record: PredictionRecord) -> str:
    """Each digit's box as x0 y0 x1 y1, separated by semicolons."""
    return ";".join(" ".join(map(str, reading.box)) for reading in record.digits)


_PLAIN_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def plain_path(path: str) -> str:
    """A path as one plain field: backslash, tab, newline and carriage return written as \\\\,
    \\t, \\n and \\r, so a name holding them cannot break the line into more fields or lines."""
    return path.translate(_PLAIN_ESCAPES)


class PlainWriter(RecordWriter):
    """path<TAB>answer<TAB>confidence<TAB>status; answer and confidence empty for a failed input.

    The answer is the digit, or the number when the picture holds several digits. The path is
    escaped (`plain_path`).
    """

    def record(self, record: PredictionRecord) -> str:
        path = plain_path(record.path)
        if record.error is not None:
            return f"{path}\t\t\t{record.status}\n"
        return f"{path}\t{answer(record)}\t{record.confidence:.4f}\t{record.status}\n"


class CsvWriter(RecordWriter):
    """A header, then one row per record (quoted as the csv module does)."""

    @staticmethod
    def _row(values: Sequence[object]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        return buffer.getvalue()

    def start(self) -> str:
        return self._row(CSV_HEADER)

    def record(self, record: PredictionRecord) -> str:
        doubt = ["true" if record.unsure else "false", record.status, record.reason or ""]
        if record.error is not None:
            return self._row([record.path, "", "", "", record.error, *doubt, "", "", self.model])
        top3 = " ".join(f"{digit}:{probability:.6f}" for digit, probability in record.top3)
        digit = "" if record.digit is None else record.digit
        return self._row(
            [
                *(record.path, digit, f"{record.confidence:.6f}", top3, "", *doubt),
                *(record.number or "", boxes_text(record), self.model),
            ]
        )


class JsonlWriter(RecordWriter):
    """One JSON object per line."""

    def record(self, record: PredictionRecord) -> str:
        return _json_document(record, self.model) + "\n"


class JsonWriter(RecordWriter):
    """One JSON array, streamed one element per line."""

    def __init__(self, out: TextIO, *, color: bool = True, model: str | None = None) -> None:
        super().__init__(out, color=color, model=model)
        self.written = 0

    def record(self, record: PredictionRecord) -> str:
        self.written += 1
        return ("[\n" if self.written == 1 else ",\n") + _json_document(record, self.model)

    def finish(self) -> str:
        return "\n]\n" if self.written else "[]\n"


class TableWriter(RecordWriter):
    """A Rich table for people at a terminal, printed once every record is in."""

    def __init__(self, out: TextIO, *, color: bool = True, model: str | None = None) -> None:
        super().__init__(out, color=color, model=model)
        self.records: list[PredictionRecord] = []

    def record(self, record: PredictionRecord) -> str:
        self.records.append(record)
        return ""

    def finish(self) -> str:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(show_edge=True, header_style="bold")
        table.add_column("file", overflow="fold")
        table.add_column("digit", justify="right")  # the number, when there are several
        table.add_column("confidence", justify="right")
        table.add_column("top-3", overflow="fold")
        for r in self.records:
            # Text(), not markup strings: names such as X.npy[3] contain square brackets.
            if r.error is None:
                # Several digits: each digit's own confidence instead of the runners-up.
                top3 = "  ".join(
                    f"{digit} {probability:.1%}"
                    for digit, probability in (
                        r.top3 or [(reading.digit, reading.confidence) for reading in r.digits]
                    )
                )
                # An unsure answer must not look like a sure one, with or without colour.
                confidence = f"{r.confidence:.1%} unsure" if r.unsure else f"{r.confidence:.1%}"
                table.add_row(
                    Text(r.path),
                    Text(answer(r), style="bold yellow" if r.unsure else "bold"),
                    Text(confidence, style="yellow" if r.unsure else ""),
                    Text(top3, style="dim"),
                )
            elif r.status == "no_digit":
                table.add_row(Text(r.path), Text("-"), Text("-"), Text(r.error, style="yellow"))
            else:
                table.add_row(Text(r.path), Text("-"), Text("-"), Text(r.error, style="red"))
        console = Console(file=self.out, no_color=not self.color, highlight=False, soft_wrap=False)
        console.print(table)
        return ""


@dataclass(frozen=True)
class OutputFormatEntry:
    writer: type[RecordWriter]
    description: str  # for `predict --help`


WRITERS: dict[PredictFormat, OutputFormatEntry] = {
    PredictFormat.table: OutputFormatEntry(
        TableWriter,
        "a table for people (file, digit or number, confidence or 'unsure', top 3)",
    ),
    PredictFormat.plain: OutputFormatEntry(
        PlainWriter,
        "path<TAB>digit (the number, when the picture holds several digits)<TAB>confidence"
        "<TAB>status (digit and confidence empty for a failed input; a backslash, tab or newline "
        "in the path written as \\\\, \\t, \\n)",
    ),
    PredictFormat.csv: OutputFormatEntry(
        CsvWriter,
        "the header "
        + ",".join(CSV_HEADER)
        + ", then one row per input (digit empty when the picture holds several; boxes: "
        "x0 y0 x1 y1 per digit, ';' between)",
    ),
    PredictFormat.json: OutputFormatEntry(JsonWriter, "one array of objects"),
    PredictFormat.jsonl: OutputFormatEntry(
        JsonlWriter,
        "one object per line (path, digit, confidence, probabilities, top3, error, unsure, "
        "status, reason, number, digits: each with its digit, confidence and box)",
    ),
}


def open_writer(
    fmt: PredictFormat | str, out: TextIO, *, color: bool = True, model: str | None = None
) -> RecordWriter:
    """The writer for `fmt`, its start already written to `out`; `model` names the model."""
    writer = WRITERS[PredictFormat(fmt)].writer(out, color=color, model=model)
    _emit(out, writer.start())
    return writer


def write_chunk(writer: RecordWriter, records: Sequence[PredictionRecord]) -> None:
    """A chunk of records in one write and one flush (nothing for an empty chunk)."""
    _emit(writer.out, "".join(writer.record(r) for r in records))


def close_writer(writer: RecordWriter) -> None:
    writer.out.write(writer.finish())
    writer.out.flush()


def _emit(out: TextIO, text: str) -> None:
    if text:
        out.write(text)
        out.flush()
