"""Start-up: how long a fresh `digitcli` process takes for --help, --version and one prediction.

Each command runs as a new process, as from a shell (median of several runs; wall time from spawn
to exit, so Python's own start-up is included; `python -c pass` is shown as the floor). The
prediction is of one 28x28 PNG with the NumPy engine (the default, no TensorFlow) and with
`--engine tf`. `python -X importtime` then says where the time goes, as import time per top-level
package (self time, summed).

    .venv/bin/python bench/startup.py --model RUN_DIR [--quick]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import _common
import numpy as np

_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)$")


def one_png() -> Path:
    """MNIST's first test image (a 7) as a 28x28 black-on-white PNG."""
    from PIL import Image

    path = _common.CACHE / "one.png"
    if not path.is_file():
        _common.CACHE.mkdir(parents=True, exist_ok=True)
        with np.load(_common.require_mnist()) as archive:
            Image.fromarray(255 - archive["x_test"][0]).save(path)
    return path


def time_command(command: list[str], repeats: int) -> dict[str, Any]:
    """Median wall time and peak RSS of `repeats` fresh runs of `command`."""
    runs = [_common.run_child(command) for _ in range(repeats)]
    failed = [run for run in runs if run.returncode != 0]
    result: dict[str, Any] = {
        "command": " ".join(command),
        "runs": [round(run.seconds, 3) for run in runs],
        "seconds": round(_common.median([run.seconds for run in runs]), 3),
        "best_seconds": round(min(run.seconds for run in runs), 3),
        "cpu_seconds": round(_common.median([run.cpu_seconds for run in runs]), 3),
        "max_rss_mb": round(max(run.max_rss_mb for run in runs), 1),
        "ok": not failed,
    }
    if failed:
        result["error"] = failed[0].stderr.strip().splitlines()[-1:] or [
            f"exit {failed[0].returncode}"
        ]
    return result


def import_profile(arguments: list[str], top: int = 10) -> dict[str, Any]:
    """Import time of `python -m digitcli ARGS`, grouped by top-level package (self time, ms)."""
    child = _common.run_child([sys.executable, "-X", "importtime", "-m", "digitcli", *arguments])
    by_package: dict[str, float] = defaultdict(float)
    total = 0.0
    for line in child.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = match.groups()
        by_package[name.split(".")[0]] += int(self_us) / 1000
        if len(indent) == 1:  # a module the program imported itself: its cumulative time counts
            total += int(cumulative_us) / 1000
    ranked = sorted(by_package.items(), key=lambda item: -item[1])[:top]
    return {
        "arguments": arguments,
        "total_import_ms": round(total, 1),
        "top_packages_ms": {name: round(ms, 1) for name, ms in ranked},
        "heavy_modules_loaded": sorted(
            {
                name
                for name in by_package
                if name in {"tensorflow", "keras", "matplotlib", "sklearn"}
            }
        ),
    }


def run(model: Path, quick: bool = False) -> dict[str, Any]:
    repeats = 3 if quick else 7
    digitcli = _common.digitcli_command()
    image = str(one_png())
    predict = [*digitcli, "predict", image, "--model", str(model), "--format", "plain"]
    return {
        "python_floor": time_command([sys.executable, "-c", "pass"], repeats),
        "help": time_command([*digitcli, "--help"], repeats),
        "version": time_command([*digitcli, "--version"], repeats),
        "predict_numpy": time_command(predict, repeats),
        "predict_tf": time_command([*predict, "--engine", "tf"], max(2, repeats // 2)),
        "imports_help": import_profile(["--help"]),
        "imports_predict": import_profile(
            ["predict", image, "--model", str(model), "--format", "plain"]
        ),
    }


def report(result: dict[str, Any]) -> str:
    rows = []
    for key, label in (
        ("python_floor", "python -c pass (floor)"),
        ("help", "digitcli --help"),
        ("version", "digitcli --version"),
        ("predict_numpy", "digitcli predict one.png"),
        ("predict_tf", "digitcli predict one.png --engine tf"),
    ):
        figures = result[key]
        status = "ok" if figures["ok"] else f"FAILED: {' '.join(figures['error'])}"
        rows.append(
            [
                label,
                f"{figures['seconds']:.3f}",
                f"{figures['best_seconds']:.3f}",
                f"{figures['cpu_seconds']:.3f}",
                f"{figures['max_rss_mb']:.0f}",
                status,
            ]
        )
    lines = [
        "Start-up (fresh process)",
        _common.table(["command", "median s", "best s", "CPU s", "RSS MB", "status"], rows),
    ]
    for key in ("imports_help", "imports_predict"):
        profile = result[key]
        packages = ", ".join(f"{name} {ms:.0f}" for name, ms in profile["top_packages_ms"].items())
        lines.append(
            f"imports for `{' '.join(profile['arguments'][:1])}`: {profile['total_import_ms']:.0f} ms "
            f"(-X importtime); by package, ms: {packages}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a run directory")
    parser.add_argument("--quick", action="store_true", help="3 runs each instead of 7")
    args = parser.parse_args()
    print(report(run(args.model, args.quick)))


if __name__ == "__main__":
    main()
