"""Share of numbers read exactly by `predict`, per length and source; and single-digit accuracy.

    python bench/numbers/measure.py RUN_DIR [--set DIR] [--singles-only]

RUN_DIR is a trained run. `--set` is a folder made by make_set.py (default bench/output/numbers);
each picture goes through `predict_inputs`, exactly as `digitcli predict` reads a file, and counts
when its number is the label, digit for digit. The single-digit part reads the photos and
drawn_28px pictures of `../shared/data/real` (one digit each) the same way and counts the answers
that are exactly the label: a picture wrongly split into several digits, or rejected, counts as
wrong. It works on older checkouts too (records without `number` answer with `digit`), so the same
run can be compared before and after a change.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from digitcli.predict import InputItem, PredictionRecord, predict_inputs
from digitcli.runs import resolve_model

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
DEFAULT_SET = REPO / "bench" / "output" / "numbers"


def answer(record: PredictionRecord) -> str:
    number = getattr(record, "number", None)
    if number is not None:
        return str(number)
    return "" if record.digit is None else str(record.digit)


def read(paths: Sequence[Path], run: Path) -> list[str]:
    items = [InputItem(path, str(path)) for path in paths]
    return [answer(record) for record in predict_inputs(items, resolve_model(run))]


def numbers(folder: Path, run: Path) -> str:
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise SystemExit(f"{labels} not found: run bench/numbers/make_set.py {folder} first")
    with labels.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    answers = read([folder / row["path"] for row in rows], run)
    exact: dict[tuple[str, str], list[bool]] = defaultdict(list)
    counted: dict[str, list[bool]] = defaultdict(list)
    for row, got in zip(rows, answers, strict=True):
        exact[(row["source"], row["length"])].append(got == row["number"])
        exact[("all", row["length"])].append(got == row["number"])
        counted[row["source"]].append(len(got) == len(row["number"]))
        counted["all"].append(len(got) == len(row["number"]))
    lengths = sorted({row["length"] for row in rows}, key=int)
    sources = [*dict.fromkeys(row["source"] for row in rows), "all"]
    lines = [
        "| source | " + " | ".join(f"{n} digits" for n in lengths) + " | all | digit count right |",
        "| --- " * (len(lengths) + 3) + "|",
    ]
    for source in sources:
        cells = [exact[(source, n)] for n in lengths]
        every = [hit for cell in cells for hit in cell]
        lines.append(
            f"| {source} | "
            + " | ".join(f"{sum(cell) / len(cell):.0%}" for cell in cells)
            + f" | {sum(every) / len(every):.1%} ({sum(every)}/{len(every)})"
            + f" | {sum(counted[source]) / len(counted[source]):.0%} |"
        )
    return "\n".join(lines)


def singles(run: Path) -> str:
    lines = ["| set | read exactly (one digit, the right one) |", "| --- | --- |"]
    for name in ("photos", "drawn_28px"):
        paths = sorted((REAL / name).glob("*/*.png"))
        answers = read(paths, run)
        right = sum(got == path.parent.name for path, got in zip(paths, answers, strict=True))
        lines.append(f"| {name} | {right / len(paths):.1%} ({right}/{len(paths)}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--singles-only", action="store_true")
    args = parser.parse_args()
    if not args.singles_only:
        print(numbers(args.set, args.run), end="\n\n")
    print(singles(args.run))


if __name__ == "__main__":
    main()
