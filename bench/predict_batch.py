"""Batch prediction end to end: `digitcli predict DIR --format csv` over 10,000 PNG files.

The files are MNIST's 10,000 test images as 28x28 black-on-white PNGs (cached in
bench/output/cache/). Each run is a fresh process that reads, canonicalizes, classifies and prints
every image (NumPy engine, the default); the output is checked, and scored against the labels in the
file names, so a fast wrong answer does not count.

    .venv/bin/python bench/predict_batch.py --model RUN_DIR [--quick]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path
from typing import Any

import _common


def _score(csv_path: Path) -> tuple[int, int, int]:
    """(records, failed inputs, correct predictions) in predict's CSV output."""
    records = failed = correct = 0
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            records += 1
            if row.get("error"):
                failed += 1
                continue
            label = Path(row["path"]).stem.rsplit("_", 1)[-1]
            correct += row["digit"] == label
    return records, failed, correct


def run(model: Path, quick: bool = False) -> dict[str, Any]:
    count = 1_000 if quick else 10_000
    repeats = 1 if quick else 3
    folder = _common.mnist_pngs(count)
    command = [*_common.digitcli_command(), "predict", str(folder), "--model", str(model)]
    command += ["--format", "csv"]
    runs = []
    with tempfile.TemporaryDirectory(prefix="digitcli-bench-") as scratch:
        output = Path(scratch) / "predictions.csv"
        for _ in range(repeats):
            child = _common.run_child(command, stdout_path=output)
            if child.returncode not in (0, 3):
                raise RuntimeError(
                    f"predict failed (exit {child.returncode}): {child.stderr[-2000:]}"
                )
            records, failed, correct = _score(output)
            runs.append(
                {
                    "seconds": round(child.seconds, 3),
                    "cpu_seconds": round(child.cpu_seconds, 3),
                    "max_rss_mb": round(child.max_rss_mb, 1),
                    "records": records,
                    "failed": failed,
                    "accuracy": correct / max(records, 1),
                }
            )
    seconds = _common.median([run["seconds"] for run in runs])
    return {
        "command": " ".join(command) + " > predictions.csv",
        "images": count,
        "runs": runs,
        "seconds": round(seconds, 3),
        "images_per_second": round(count / seconds),
        "best_images_per_second": round(count / min(run["seconds"] for run in runs)),
        # CPU time per image, all processes: what the work costs regardless of the machine's load.
        "cpu_ms_per_image": round(
            1000 * _common.median([r["cpu_seconds"] for r in runs]) / count, 3
        ),
        "max_rss_mb": max(run["max_rss_mb"] for run in runs),
        "accuracy": runs[-1]["accuracy"],
        "failed": runs[-1]["failed"],
        "complete": all(run["records"] == count for run in runs),
    }


def report(result: dict[str, Any]) -> str:
    rows = [
        ["images", f"{result['images']:,}"],
        ["seconds (median)", f"{result['seconds']:.2f}"],
        ["images/s (median)", f"{result['images_per_second']:,}"],
        ["images/s (best run)", f"{result['best_images_per_second']:,}"],
        ["CPU ms per image (all processes)", f"{result['cpu_ms_per_image']:.3f}"],
        ["peak RSS (MB)", f"{result['max_rss_mb']:.0f}"],
        ["accuracy on these files", f"{result['accuracy']:.4f}"],
        ["failed inputs", result["failed"]],
        ["one record per image", "yes" if result["complete"] else "NO"],
    ]
    return "Batch prediction from PNG files, end to end\n" + _common.table(
        ["measure", "value"], rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a run directory")
    parser.add_argument("--quick", action="store_true", help="1,000 images, one run")
    args = parser.parse_args()
    print(report(run(args.model, args.quick)))


if __name__ == "__main__":
    main()
