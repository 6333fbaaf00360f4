"""Run every benchmark, print a summary table, and write bench/output/results.{json,md}.

    .venv/bin/python bench/run_all.py            # the full set (`make bench`), several minutes
    .venv/bin/python bench/run_all.py --quick    # a smoke run: small sizes, one repeat
    .venv/bin/python bench/run_all.py --skip quality

The benchmarks (each also runs on its own, see its docstring):

- train:   the reference recipe, plain `model.fit` against the default engine (train_reference.py)
- quality: final accuracy of both over 5 seeds (engine_quality.py)
- mnist:   full MNIST through `digitcli.trainer.train`; its run is the model the others use
- startup: `digitcli --help`, `--version`, `predict one.png` (NumPy and TF engines) (startup.py)
- predict: `digitcli predict DIR --format csv` over 10,000 PNG files (predict_batch.py)
- eval:    scoring MNIST's 10,000 test images after loading (evaluate_speed.py)
- serve:   `digitcli serve` under 4 and 32 clients posting canvas PNGs (serve_load.py)

Baselines and digitcli's path run in the same invocation, one after the other, so their ratio is
meaningful even on a busy machine; absolute figures are not, so the load average is recorded.
results.md is the table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import engine_quality
import evaluate_speed
import predict_batch
import serve_load
import startup
import train_mnist
import train_reference

BENCHMARKS = ("train", "quality", "mnist", "startup", "predict", "eval", "serve")


def _quality_child(quick: bool) -> dict[str, Any]:
    """engine_quality in its own process, so TensorFlow never loads into this one."""
    command = [sys.executable, str(_common.BENCH / "engine_quality.py"), "--json"]
    if quick:
        command.append("--quick")
    result: dict[str, Any] = _common.run_child(command).json()
    return result


def _attempt(results: dict[str, Any], name: str, action: Callable[[], Any]) -> Any:
    """Run one benchmark; a failure is recorded (and printed) and the others still run."""
    with _common.step(name):
        try:
            results[name] = action()
        except Exception as exc:
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results[name]


def _ok(result: Any) -> bool:
    return isinstance(result, dict) and "error" not in result


def _fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def summary_rows(results: dict[str, Any]) -> list[list[str]]:
    """[metric, measured, target, met] for the table in docs/performance.md."""
    rows: list[list[str]] = []
    # A --quick run trains 5 epochs: too few for the training targets, which are about 40.
    full = not results.get("quick")

    def add(metric: str, measured: str, target: str = "", met: bool | None = None) -> None:
        rows.append([metric, measured, target, "" if met is None else ("yes" if met else "no")])

    def failed(metric: str, result: Any) -> None:
        add(metric, f"failed: {result.get('error', '?') if isinstance(result, dict) else result}")

    train = results.get("train")
    if _ok(train):
        epochs = train["recipe"]["epochs"]
        base, fast = train[train_reference.BASELINE], train[train_reference.FAST]
        recipe = f"{train['recipe']['train_images']:,} images x {epochs} epochs"
        add(
            f"Train {recipe}: plain model.fit",
            f"{_fmt(base['seconds'])} s ({base['images_per_second']:,} images/s)",
        )
        if train_reference.KERAS_ENGINE in train:
            keras_engine = train[train_reference.KERAS_ENGINE]
            add(
                f"Train {recipe}: train.engine=keras",
                f"{_fmt(keras_engine['seconds'])} s ({keras_engine['images_per_second']:,} images/s)",
            )
        add(
            f"Train {recipe}: default engine (fast)",
            f"{_fmt(fast['seconds'])} s ({fast['images_per_second']:,} images/s)",
        )
        add(
            "Speed-up of the default engine over model.fit",
            f"{train['speedup']}x (CPU time: {train['speedup_cpu']}x)",
            ">= 10x (stretch 20x)" if full else "(full run only)",
            train["speedup"] >= 10 if full else None,
        )
        add(
            "Final validation accuracy, model.fit / fast (one seed)",
            f"{base['val_accuracy']:.4f} / {fast['val_accuracy']:.4f}",
        )
    elif train is not None:
        failed("Train reference recipe", train)

    quality = results.get("quality")
    if _ok(quality):
        means = quality["mean_val_accuracy"]
        add(
            f"Mean final val accuracy over {len(quality['seeds'])} seeds, model.fit / fast",
            f"{means['model.fit']:.4f} / {means['fast']:.4f} "
            f"({quality['difference_pp']:+.2f} pp, s.e. {quality['difference_standard_error_pp']:.2f})",
            f"within {quality['tolerance_pp']} pp" if full else "(full run only)",
            quality["within_tolerance"] if full else None,
        )
    elif quality is not None:
        failed("Engine quality", quality)

    mnist = results.get("mnist")
    if _ok(mnist):
        later = mnist["epoch_seconds"][1:] or mnist["epoch_seconds"]
        add(
            f"Train full MNIST ({mnist['sizes']['train']:,} images), default engine",
            f"{mnist['steady_images_per_second']:,} images/s "
            f"({_fmt(_common.median(later))} s per epoch after the first)",
        )
        add(
            f"Full MNIST training process ({mnist['epochs']} epochs, with imports, data, saving)",
            f"{_fmt(mnist['process_seconds'], 1)} s, of which epochs "
            f"{_fmt(mnist['train_seconds'], 1)} s",
        )
    elif mnist is not None:
        failed("Train full MNIST", mnist)

    start = results.get("startup")
    if _ok(start):
        for key, label, limit in (
            ("help", "digitcli --help", 0.3),
            ("version", "digitcli --version", None),
            ("predict_numpy", "digitcli predict one.png (fresh process)", 0.5),
            ("predict_tf", "digitcli predict one.png --engine tf", None),
        ):
            figures = start[key]
            measured = (
                f"{figures['seconds']:.2f} s (best {figures['best_seconds']:.2f} s, "
                f"CPU {figures['cpu_seconds']:.2f} s)"
                if figures["ok"]
                else "failed"
            )
            target = f"< {limit} s" if limit else ""
            add(label, measured, target, figures["seconds"] < limit if limit else None)
    elif start is not None:
        failed("Start-up", start)

    predict = results.get("predict")
    if _ok(predict):
        add(
            f"Batch prediction, {predict['images']:,} PNG files end to end",
            f"{predict['images_per_second']:,} images/s ({_fmt(predict['seconds'])} s; "
            f"best run {predict['best_images_per_second']:,} images/s; "
            f"CPU {predict['cpu_ms_per_image']:.2f} ms per image)",
            ">= 3,000 images/s",
            predict["images_per_second"] >= 3000,
        )
    elif predict is not None:
        failed("Batch prediction", predict)

    evaluation = results.get("eval")
    if _ok(evaluation):
        add(
            f"Evaluate {evaluation['images']:,} test images, after loading",
            f"{evaluation['seconds']:.3f} s (first pass {evaluation['cold_seconds']:.3f} s)",
            "< 1 s",
            evaluation["seconds"] < 1,
        )
        if "cli" in evaluation:
            add(
                "digitcli evaluate on MNIST, end to end",
                f"{_fmt(evaluation['cli']['seconds'], 1)} s",
            )
    elif evaluation is not None:
        failed("Evaluation", evaluation)

    serve = results.get("serve")
    if _ok(serve):
        for measured in serve["runs"]:
            four = measured["clients"] == 4
            add(
                f"digitcli serve, {measured['clients']} clients posting 280x280 canvas PNGs",
                f"{measured['requests_per_second']:,.0f} requests/s, p50 {measured['p50_ms']:.1f} ms, "
                f"p99 {measured['p99_ms']:.1f} ms",
                f">= {serve_load.TARGET_RPS}/s, p99 < {serve_load.TARGET_P99_MS:.0f} ms"
                if four
                else "",
                measured["requests_per_second"] >= serve_load.TARGET_RPS
                and measured["p99_ms"] < serve_load.TARGET_P99_MS
                if four
                else None,
            )
    elif serve is not None:
        failed("digitcli serve under load", serve)

    memory = []
    if _ok(mnist):
        memory.append(("Peak RSS, training full MNIST", mnist["max_rss_mb"]))
    if _ok(train):
        memory.append(
            ("Peak RSS, training reference recipe", train[train_reference.FAST]["max_rss_mb"])
        )
    if _ok(predict):
        memory.append((f"Peak RSS, predicting {predict['images']:,} PNGs", predict["max_rss_mb"]))
    if _ok(start) and start["predict_numpy"]["ok"]:
        memory.append(("Peak RSS, predict one.png", start["predict_numpy"]["max_rss_mb"]))
    if _ok(serve):
        memory.append(("Peak RSS, digitcli serve under load", serve["server_peak_rss_mb"]))
    for label, megabytes in memory:
        add(label, f"{megabytes:,.0f} MB")
    return rows


def machine_line(machine: dict[str, Any]) -> str:
    load = machine.get("load_average_at_start", [])
    end = machine.get("load_average_at_end", [])
    return (
        f"{machine['nproc']} CPUs ({machine['cpu']}), {machine['os']}, Python {machine['python']}, "
        f"TensorFlow {machine['tensorflow']}, Keras {machine['keras']}, NumPy {machine['numpy']}; "
        f"load average (1/5/15 min) {load} at start, {end} at the end"
    )


def markdown(results: dict[str, Any], rows: list[list[str]], quick: bool) -> str:
    lines = [
        f"Measured with `.venv/bin/python bench/run_all.py{' --quick' if quick else ''}`"
        f"{'' if quick else ' (`make bench`)'} on {results['finished']}:",
        "",
        f"Machine: {machine_line(results['machine'])}.",
        "",
        _common.markdown_table(["Measurement", "Result", "Target", "Met"], rows),
        "",
    ]
    train = results.get("train")
    if _ok(train):
        lines.append(
            "Training times cover the training call only (tracing included; importing TensorFlow "
            "and loading data not), each in a fresh process, median of "
            f"{train['repeats']}. Start-up times are wall time of a fresh process, median of several."
        )
    start = results.get("startup")
    if _ok(start):
        for key, label in (("imports_help", "--help"), ("imports_predict", "predict one.png")):
            profile = start[key]
            packages = ", ".join(f"{n} {ms:.0f} ms" for n, ms in profile["top_packages_ms"].items())
            lines.append(
                f"\nImports behind `digitcli {label}` (`-X importtime`, self time): {packages}."
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, one repeat")
    parser.add_argument(
        "--skip", nargs="+", choices=BENCHMARKS, default=[], help="benchmarks to skip"
    )
    args = parser.parse_args()
    quick, skip = args.quick, set(args.skip)

    started = time.perf_counter()
    results: dict[str, Any] = {"quick": quick, "machine": _common.machine()}
    with tempfile.TemporaryDirectory(prefix="digitcli-bench-") as scratch:
        if "train" not in skip:
            _attempt(results, "train", lambda: train_reference.run(quick))
        if "quality" not in skip:
            _attempt(results, "quality", lambda: _quality_child(quick))
        # The other benchmarks need a trained model: full MNIST's run (a small one when skipped).
        mnist = _attempt(
            results,
            "mnist",
            lambda: train_mnist.run(Path(scratch), quick=quick or "mnist" in skip),
        )
        if "mnist" in skip:
            results.pop("mnist")
        model = Path(mnist["run_dir"]) if _ok(mnist) else None
        for name, action in (
            ("startup", lambda m: startup.run(m, quick)),
            ("predict", lambda m: predict_batch.run(m, quick)),
            ("eval", lambda m: evaluate_speed.run(m, quick, cli=not quick)),
            ("serve", lambda m: serve_load.run(m, quick=quick)),
        ):
            if name in skip:
                continue
            if model is None:
                results[name] = {"error": "no trained model (the MNIST training failed)"}
                continue
            _attempt(results, name, functools.partial(action, model))
    results["machine"]["load_average_at_end"] = _common.load_average()
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=_common.REPO, capture_output=True, text=True
    )
    results["commit"] = commit.stdout.strip() if commit.returncode == 0 else None

    sections = [
        ("train", train_reference.report),
        ("quality", engine_quality.report),
        ("mnist", train_mnist.report),
        ("startup", startup.report),
        ("predict", predict_batch.report),
        ("eval", evaluate_speed.report),
        ("serve", serve_load.report),
    ]
    print(f"Machine: {machine_line(results['machine'])}\n")
    for name, render in sections:
        if _ok(results.get(name)):
            print(render(results[name]) + "\n")
    rows = summary_rows(results)
    print(_common.table(["measurement", "result", "target", "met"], rows))

    _common.OUTPUT.mkdir(parents=True, exist_ok=True)
    (_common.OUTPUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (_common.OUTPUT / "results.md").write_text(markdown(results, rows, quick))
    print(f"\nwrote {_common.OUTPUT / 'results.json'} and results.md ({results['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
