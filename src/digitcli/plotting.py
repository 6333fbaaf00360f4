"""Figures of a trained run, written headless (Agg) as PNG, SVG or PDF, plus a one-page HTML report.

Every figure is built by a small function that takes plain arrays and returns a Matplotlib `Figure`
(no pyplot, so no global state and no display is needed). `FIGURES` lists what `plot` draws, one
entry per figure: file stem, title, summary (the `plot --help` text is made from them), caption, the
function drawing it from the run's plain data (`RunPlotData`) and when it applies. `plot_run` reads
the run once, draws every entry that applies, writes each one atomically (temporary name, then
`os.replace`) and finally writes `report.html`. A new figure is one function and one entry.

Matplotlib and NumPy are imported only inside functions: the CLI reads `FIGURES` at start-up.

Colours are fixed across figures: training is always blue, validation always orange, test green, and
mistakes red. Digits are drawn upright: images are row-major 20x20, shown with `cmap="gray"`.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitcli.errors import ModelError
from digitcli.vocabulary import IMAGE_SHAPE, IMAGE_SIDE, PlotFormat

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

    from digitcli.engines import EpochLog
    from digitcli.evaluation import Evaluation
    from digitcli.report import FigureFile

TRAIN_COLOR = "#1f77b4"  # blue: training, in every figure
VALIDATION_COLOR = "#ff7f0e"  # orange: validation, in every figure
TEST_COLOR = "#2ca02c"  # green: test split / the true digit
MISTAKE_COLOR = "#d62728"  # red: a wrong prediction
NEUTRAL_COLOR = "#9e9e9e"
PLOTS_DIR = "plots"
REPORT_FILE = "report.html"
DPI = 100


_MIME = {PlotFormat.png: "image/png", PlotFormat.svg: "image/svg+xml", PlotFormat.pdf: "image/png"}


def _new_figure(width: float, height: float) -> Figure:
    """A figure on the headless Agg canvas (works without a display, in CI and over SSH)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _digit(ax: Any, image: np.ndarray) -> None:
    """Show one canonical image upright: white ink on black, no ticks."""
    ax.imshow(image.reshape(IMAGE_SHAPE), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _frame(ax: Any, color: str | None) -> None:
    """A coloured frame around an image (mistakes), or none."""
    for spine in ax.spines.values():
        spine.set_visible(color is not None)
        if color is not None:
            spine.set_color(color)
            spine.set_linewidth(2.5)


def _grid(count: int, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(max_cols, count))
    return math.ceil(count / cols), cols


# --- figures ---------------------------------------------------------------------------------


def learning_curves_figure(history: Sequence[EpochLog], title: str) -> Figure:
    """Loss and accuracy per epoch, training (blue) against validation (orange)."""
    from matplotlib.ticker import MaxNLocator

    fig = _new_figure(11, 4.2)
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = [log.epoch for log in history]
    marker = "o" if len(epochs) <= 40 else None
    for ax, train_key, val_key, label in (
        (loss_ax, "loss", "val_loss", "cross-entropy loss"),
        (acc_ax, "accuracy", "val_accuracy", "accuracy"),
    ):
        train = [getattr(log, train_key) for log in history]
        validation = [getattr(log, val_key) for log in history]
        ax.plot(epochs, train, color=TRAIN_COLOR, marker=marker, markersize=3, label="training")
        ax.plot(
            epochs,
            validation,
            color=VALIDATION_COLOR,
            marker=marker,
            markersize=3,
            label="validation",
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label.capitalize())
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"Learning curves: {title}")
    return fig


def confusion_figure(matrix: np.ndarray, title: str) -> Figure:
    """The confusion matrix twice: counts, and each row divided by its total (recall per digit)."""
    import numpy as np

    counts = np.asarray(matrix, dtype=np.int64)
    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    fig = _new_figure(13, 5.8)
    axes = fig.subplots(1, 2)
    digits = np.arange(counts.shape[0])
    panels = (
        (axes[0], counts, "Counts", "images", lambda v: str(int(v))),
        (
            axes[1],
            normalised,
            "Row-normalised (share of each true digit)",
            "share",
            "{:.2f}".format,
        ),
    )
    for ax, values, panel_title, bar_label, fmt in panels:
        image = ax.imshow(values, cmap="Blues", vmin=0)
        peak = float(values.max()) or 1.0
        for (row, col), value in np.ndenumerate(values):
            if value == 0:
                continue  # blank zeros keep the few confusions easy to spot
            ax.text(
                col,
                row,
                fmt(value),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > peak / 2 else "black",
            )
        ax.set_xticks(digits)
        ax.set_yticks(digits)
        ax.set_xlabel("predicted digit")
        ax.set_ylabel("true digit")
        ax.set_title(panel_title)
        fig.colorbar(image, ax=ax, shrink=0.85, label=bar_label)
    fig.suptitle(f"Confusion matrix: {title} ({int(counts.sum())} images)")
    return fig


def samples_figure(
    images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, seed: int, count: int = 32
) -> Figure:
    """A seeded random grid of images with true and predicted digits; mistakes framed in red."""
    import numpy as np

    count = min(count, len(labels))
    chosen = np.sort(np.random.default_rng(seed).choice(len(labels), size=count, replace=False))
    rows, cols = _grid(count, 8)
    fig = _new_figure(1.45 * cols + 0.4, 1.7 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    mistakes = 0
    for ax, index in zip(axes, chosen, strict=False):
        wrong = bool(predicted[index] != labels[index])
        mistakes += wrong
        _digit(ax, images[index])
        _frame(ax, MISTAKE_COLOR if wrong else None)
        ax.set_title(
            f"true {labels[index]}  pred {predicted[index]}",
            fontsize=9,
            color=MISTAKE_COLOR if wrong else "black",
            fontweight="bold" if wrong else "normal",
        )
    for ax in axes[count:]:
        ax.set_visible(False)
    fig.suptitle(f"{count} random test images (seed {seed}): {mistakes} mistakes, in red")
    return fig


def misclassified_figure(
    images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, limit: int = 24
) -> Figure:
    """The mistakes, most confident first, each with its three most probable digits."""
    import numpy as np

    predicted = np.argmax(probabilities, axis=1)
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:limit]
    if len(order) == 0:
        fig = _new_figure(6, 2)
        fig.text(0.5, 0.5, f"No misclassified images: all {len(labels)} correct", ha="center")
        fig.suptitle("Misclassified test images")
        return fig
    rows, cols = _grid(len(order), 6)
    fig = _new_figure(1.9 * cols + 0.4, 2.25 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, index in zip(axes, order, strict=False):
        top = np.argsort(-probabilities[index], kind="stable")[:3]
        _digit(ax, images[index])
        _frame(ax, MISTAKE_COLOR)
        ranked = "  ".join(f"{digit}:{probabilities[index, digit]:.0%}" for digit in top)
        ax.set_title(
            f"true {labels[index]}  pred {predicted[index]}", fontsize=9, color=MISTAKE_COLOR
        )
        ax.set_xlabel(ranked, fontsize=8)
    for ax in axes[len(order) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"Misclassified test images: {len(order)} of {len(wrong)} errors, most confident first "
        "(below: top 3 digit:probability)"
    )
    return fig


def pick_examples(
    labels: np.ndarray, predicted: np.ndarray, seed: int, count: int = 6
) -> np.ndarray:
    """Seeded examples for the probability bars: half right, half wrong where there are mistakes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    right = np.flatnonzero(predicted == labels)
    wrong = np.flatnonzero(predicted != labels)
    n_wrong = min(len(wrong), count // 2)
    n_right = min(len(right), count - n_wrong)
    chosen = np.concatenate(
        [
            rng.choice(right, size=n_right, replace=False),
            rng.choice(wrong, size=n_wrong, replace=False),
        ]
    ).astype(np.int64)
    return chosen


def probabilities_figure(
    images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, examples: np.ndarray
) -> Figure:
    """For each example: the image and its ten softmax probabilities as bars."""
    import numpy as np
    from matplotlib.patches import Patch

    per_row = 2
    rows = max(1, math.ceil(len(examples) / per_row))
    fig = _new_figure(13, 2.6 * rows + 0.8)
    grid = fig.add_gridspec(rows, 2 * per_row, width_ratios=[1, 2.4] * per_row)
    digits = np.arange(probabilities.shape[1])
    for slot, index in enumerate(examples):
        row, col = divmod(slot, per_row)
        image_ax = fig.add_subplot(grid[row, 2 * col])
        bars_ax = fig.add_subplot(grid[row, 2 * col + 1])
        truth, guess = int(labels[index]), int(np.argmax(probabilities[index]))
        wrong = truth != guess
        _digit(image_ax, images[index])
        _frame(image_ax, MISTAKE_COLOR if wrong else None)
        image_ax.set_title(
            f"true {truth}, pred {guess}", fontsize=10, color=MISTAKE_COLOR if wrong else "black"
        )
        colors = [NEUTRAL_COLOR] * len(digits)
        colors[truth] = TEST_COLOR
        if wrong:
            colors[guess] = MISTAKE_COLOR
        bars_ax.bar(digits, probabilities[index], color=colors)
        bars_ax.set_ylim(0, 1.05)
        bars_ax.set_xticks(digits)
        bars_ax.set_xlabel("digit")
        bars_ax.set_ylabel("probability")
        bars_ax.grid(axis="y", alpha=0.3)
        bars_ax.text(
            guess,
            min(1.0, float(probabilities[index, guess])) + 0.02,
            f"{probabilities[index, guess]:.0%}",
            ha="center",
            fontsize=8,
        )
    fig.legend(
        handles=[
            Patch(color=TEST_COLOR, label="true digit"),
            Patch(color=MISTAKE_COLOR, label="wrong prediction"),
            Patch(color=NEUTRAL_COLOR, label="other digits"),
        ],
        loc="outside lower center",
        ncols=3,
    )
    fig.suptitle("Predicted probabilities (softmax of the logits) for example test images")
    return fig


def reliability_figure(
    raw_probabilities: np.ndarray,
    probabilities: np.ndarray,
    labels: np.ndarray,
    temperature: float,
    title: str,
) -> Figure:
    """Reliability diagram: accuracy against confidence per bin, before and after calibration,
    with how many answers fall in each bin underneath."""
    import numpy as np

    from digitcli.calibration import reliability_bins

    before = reliability_bins(raw_probabilities, labels)
    after = reliability_bins(probabilities, labels)
    fig = _new_figure(7.5, 7.5)
    curve_ax, count_ax = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    centres = (before.edges[:-1] + before.edges[1:]) / 2
    width = before.edges[1] - before.edges[0]
    curve_ax.plot([0, 1], [0, 1], color=NEUTRAL_COLOR, linestyle="--", label="perfect calibration")
    for bins, color, label in (
        (before, MISTAKE_COLOR, f"network softmax (ECE {before.ece:.3f})"),
        (after, TEST_COLOR, f"calibrated, T = {temperature:.2f} (ECE {after.ece:.3f})"),
    ):
        filled = bins.counts > 0
        curve_ax.plot(
            bins.confidence[filled], bins.accuracy[filled], color=color, marker="o", label=label
        )
        count_ax.bar(centres, bins.counts, width=width * 0.9, color=color, alpha=0.45, label=label)
    curve_ax.set_xlim(0, 1)
    curve_ax.set_ylim(0, 1.02)
    curve_ax.set_ylabel("accuracy of the answers in the bin")
    curve_ax.grid(alpha=0.3)
    curve_ax.legend(loc="upper left")
    count_ax.set_yscale("log" if np.max(before.counts, initial=0) > 50 else "linear")
    count_ax.set_xlabel("confidence (top probability)")
    count_ax.set_ylabel("answers")
    count_ax.grid(alpha=0.3)
    fig.suptitle(f"Reliability: {title}")
    return fig


def first_layer_weights_figure(
    kernel: np.ndarray, side: int = IMAGE_SIDE, limit: int = 100
) -> Figure:
    """Each first-layer unit's input weights, (side * side, units), as a side x side image: the
    pattern the unit (a dense unit, or a convolution filter) responds to."""
    import numpy as np

    units = min(kernel.shape[1], limit)
    rows, cols = _grid(units, math.ceil(math.sqrt(units)))
    fig = _new_figure(1.5 * cols + 1.6, 1.55 * rows + 0.8)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    # One symmetric scale for all units, so their strengths compare; 0 is white.
    scale = float(np.max(np.abs(kernel[:, :units]))) or 1.0
    image = None
    for unit, ax in enumerate(axes[:units]):
        image = ax.imshow(
            kernel[:, unit].reshape(side, side), cmap="RdBu_r", vmin=-scale, vmax=scale
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"unit {unit + 1}", fontsize=9)
    for ax in axes[units:]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=list(axes[:units]), shrink=0.7, label="weight")
    shown = f"{units} of {kernel.shape[1]}" if units < kernel.shape[1] else str(units)
    fig.suptitle(f"First layer: the input weights of {shown} hidden units (red +, blue -)")
    return fig


def _short(name: str) -> str:
    return name if len(name) <= 32 else name[:29] + "..."


def compare_curves_figure(runs: Sequence[tuple[str, Sequence[EpochLog]]]) -> Figure:
    """Every run's learning curves overlaid: one colour per run, validation solid, training dashed."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    fig = _new_figure(13, 5)
    loss_ax, acc_ax = fig.subplots(1, 2)
    palette = [f"C{i}" for i in range(10)]
    for position, (name, history) in enumerate(runs):
        color = palette[position % len(palette)]
        epochs = [log.epoch for log in history]
        loss_ax.plot(epochs, [log.val_loss for log in history], color=color, label=_short(name))
        loss_ax.plot(epochs, [log.loss for log in history], color=color, linestyle="--", alpha=0.7)
        acc_ax.plot(epochs, [log.val_accuracy for log in history], color=color)
        acc_ax.plot(
            epochs, [log.accuracy for log in history], color=color, linestyle="--", alpha=0.7
        )
    for ax, label in ((loss_ax, "cross-entropy loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label.capitalize())
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    acc_ax.legend(
        handles=[
            Line2D([], [], color="black", label="validation"),
            Line2D([], [], color="black", linestyle="--", label="training"),
        ],
        loc="lower right",
    )
    fig.legend(loc="outside right center", title="run", fontsize=8)
    fig.suptitle(f"Learning curves of {len(runs)} runs")
    return fig


def compare_accuracy_figure(runs: Sequence[tuple[str, dict[str, Any]]]) -> Figure:
    """Final training, validation and test accuracy of every run, side by side."""
    import numpy as np

    fig = _new_figure(max(8.0, 1.3 * len(runs) + 3), 5.5)
    ax = fig.subplots()
    positions = np.arange(len(runs))
    width = 0.26
    for offset, (split, label, color) in enumerate(
        (
            ("train", "training", TRAIN_COLOR),
            ("validation", "validation", VALIDATION_COLOR),
            ("test", "test", TEST_COLOR),
        )
    ):
        values = [float((metrics.get(split) or {}).get("accuracy", np.nan)) for _, metrics in runs]
        bars = ax.bar(positions + (offset - 1) * width, values, width, color=color, label=label)
        if split == "test":
            ax.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
    ax.set_xticks(positions)
    ax.set_xticklabels([_short(name) for name, _ in runs], rotation=25, ha="right", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("accuracy")
    ax.set_xlabel("run")
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside upper center", ncols=3)
    fig.suptitle(f"Final accuracy of {len(runs)} runs")
    return fig


# --- writing ---------------------------------------------------------------------------------


def save_figure(fig: Figure, path: Path, fmt: PlotFormat) -> bytes:
    """Render the figure in memory, then write it as output_files does (a new or regular file is
    renamed into place, so an interrupted plot leaves no half file); returns the bytes."""
    import matplotlib

    from digitcli.output_files import write_bytes

    # No dates in SVG/PDF metadata and fixed SVG ids: the same run gives the same files.
    metadata: dict[str, Any] = {
        PlotFormat.svg: {"Date": None},
        PlotFormat.pdf: {"CreationDate": None},
        PlotFormat.png: {},
    }[fmt]
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "digitcli"}):
        fig.savefig(buffer, format=fmt.value, dpi=DPI, metadata=metadata)
    data = buffer.getvalue()
    write_bytes(path, data)
    return data


def _write(
    fig: Figure, out_dir: Path, key: str, title: str, caption: str, fmt: PlotFormat
) -> FigureFile:
    from digitcli.report import FigureFile

    path = out_dir / f"{key}.{fmt.value}"
    data = save_figure(fig, path, fmt)  # not read back: the path may be a FIFO or a device
    if fmt is PlotFormat.pdf:
        # Browsers do not show PDF in <img>: the report embeds a PNG rendering of the same figure.
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI)
        data = buffer.getvalue()
    return FigureFile(key, title, caption, path, _MIME[fmt], data)


# --- the figures of a run: one registry entry each ------------------------------------------


@dataclass(frozen=True)
class ComparedRun:
    name: str
    history: Sequence[EpochLog]
    metrics: dict[str, Any]  # metrics.json


@dataclass(frozen=True)
class RunPlotData:
    """Everything the figures are drawn from: a run's plain data, read once by `plot_run`."""

    name: str  # the run's folder name
    test_name: str  # where the test images come from, e.g. "digits test split"
    seed: int
    history: Sequence[EpochLog]
    images: np.ndarray  # (N, 400) test images, row-major 20x20
    labels: np.ndarray  # (N,) true digits
    probabilities: np.ndarray  # (N, 10) the model's calibrated softmax (what predict reports)
    confusion: np.ndarray  # (10, 10) rows: true digit, columns: predicted digit
    # The first layer's weights as (pixels, units) and the side of their square, when that layer
    # weighs the image directly (dense, or a one-channel conv2d); None otherwise.
    first_filters: tuple[np.ndarray, int] | None
    compared: Sequence[ComparedRun] = ()  # with --all: every run of the results folder
    raw_probabilities: np.ndarray | None = None  # (N, 10) before calibration (None: as above)
    temperature: float = 1.0

    @property
    def predicted(self) -> np.ndarray:
        import numpy as np

        result: np.ndarray = np.argmax(self.probabilities, axis=1)
        return result


def _always(data: RunPlotData) -> bool:
    return True


def _with_compared_runs(data: RunPlotData) -> bool:
    return bool(data.compared)


@dataclass(frozen=True)
class FigureKind:
    """One figure `plot` draws: its file, its words, how to draw it and when."""

    stem: str  # file name without the format's suffix; also its anchor in report.html
    title: str
    summary: str  # what it shows, in `digitcli plot --help`
    caption: str  # under it in report.html; "{seed}" becomes the run's seed
    draw: Callable[[RunPlotData], Figure]
    applies: Callable[[RunPlotData], bool] = _always
    when: str = ""  # when `applies` can hold, in words for --help ("": always)


FIGURES: tuple[FigureKind, ...] = (
    FigureKind(
        "learning_curves",
        "Learning curves",
        "loss and accuracy per epoch",
        "Loss and accuracy after each epoch on the training data (blue) and the validation "
        "data (orange). Validation loss rising while training loss falls means overfitting.",
        lambda data: learning_curves_figure(data.history, data.name),
    ),
    FigureKind(
        "confusion_matrix",
        "Confusion matrix",
        "counts and row-normalised",
        "Rows are the true digit, columns the predicted one: the diagonal holds the correct "
        "answers. Right: each row divided by its total, so the diagonal is each digit's recall.",
        lambda data: confusion_figure(data.confusion, data.test_name),
    ),
    FigureKind(
        "test_samples",
        "Random test images",
        "random test images, mistakes in red",
        "A random sample of test images (seed {seed}) with the true and predicted digit; "
        "mistakes are framed and labelled in red.",
        lambda data: samples_figure(data.images, data.labels, data.predicted, data.seed),
    ),
    FigureKind(
        "misclassified",
        "Misclassified images",
        "the most confident mistakes",
        "Test images the model got wrong, the most confident mistakes first, with the three "
        "most probable digits under each.",
        lambda data: misclassified_figure(data.images, data.labels, data.probabilities),
    ),
    FigureKind(
        "probabilities",
        "Predicted probabilities",
        "the ten probabilities of a few test images",
        "The softmax of the model's ten logits for a few test images, right and wrong: green "
        "is the true digit, red a wrong prediction.",
        lambda data: probabilities_figure(
            data.images,
            data.labels,
            data.probabilities,
            pick_examples(data.labels, data.predicted, data.seed),
        ),
    ),
    FigureKind(
        "reliability",
        "Reliability diagram",
        "confidence against accuracy, before and after calibration",
        "Test answers grouped by their confidence: a calibrated model's answers at 80% are right "
        "80% of the time (the dashed diagonal). Red: the network's own softmax; green: after "
        "temperature scaling fitted on the validation split. ECE is the expected calibration "
        "error (the bins' mean gap, weighted by how many answers each holds); below, the "
        "answers per bin.",
        lambda data: reliability_figure(
            data.probabilities if data.raw_probabilities is None else data.raw_probabilities,
            data.probabilities,
            data.labels,
            data.temperature,
            data.test_name,
        ),
    ),
    FigureKind(
        "first_layer_weights",
        "First-layer weights",
        "each first-layer unit's weights as an image",
        "Each unit (or filter) of the first layer weighs the pixels it sees; shown as an image, "
        "red pixels excite the unit and blue ones inhibit it.",
        lambda data: first_layer_weights_figure(*data.first_filters),  # type: ignore[misc]
        applies=lambda data: data.first_filters is not None,
        when="if the first layer reads the pixels (dense, or conv2d on the image)",
    ),
    FigureKind(
        "compare_learning_curves",
        "All runs: learning curves",
        "every run's learning curves overlaid",
        "Every run's curves overlaid, one colour per run: validation solid, training dashed.",
        lambda data: compare_curves_figure([(run.name, run.history) for run in data.compared]),
        applies=_with_compared_runs,
        when="with --all",
    ),
    FigureKind(
        "compare_accuracy",
        "All runs: final accuracy",
        "every run's final accuracy",
        "Accuracy of each run's final model on its training (blue), validation (orange) "
        "and test (green) data.",
        lambda data: compare_accuracy_figure([(run.name, run.metrics) for run in data.compared]),
        applies=_with_compared_runs,
        when="with --all",
    ),
)


@dataclass
class PlotResult:
    run_dir: Path
    out_dir: Path
    figures: list[FigureFile]
    report: Path
    evaluation: Evaluation
    warnings: list[str]
    seconds: float

    @property
    def files(self) -> list[Path]:
        return [figure.path for figure in self.figures] + [self.report]

    @property
    def model(self) -> str:
        """Which model (runs.ModelFiles.label)."""
        return self.evaluation.model_name


def _runs_to_compare(root: Path, warnings: list[str]) -> list[ComparedRun]:
    from digitcli.run_files import read_history, read_metrics
    from digitcli.runs import list_runs

    compared = []
    for run in list_runs(root):
        try:
            compared.append(ComparedRun(run.name, read_history(run), read_metrics(run)))
        except ModelError as exc:
            warnings.append(f"skipped in the comparison: {exc.message}")
    return compared


def _comparison_rows(compared: Sequence[ComparedRun]) -> list[dict[str, Any]]:
    """The report's table of all runs: epochs and final accuracy per split."""
    return [
        {
            "run": run.name,
            "epochs": len(run.history),
            **{
                split: (run.metrics.get(split) or {}).get("accuracy")
                for split in ("train", "validation", "test")
            },
        }
        for run in compared
    ]


def read_plot_data(
    run_dir: Path, *, all_runs: bool = False
) -> tuple[RunPlotData, Evaluation, list[str]]:
    """A run's plain data for the figures, its test-split evaluation, and warnings."""
    import numpy as np

    from digitcli.evaluation import evaluate_predictions, predict_split, resolve_target
    from digitcli.inference import NumpyModel
    from digitcli.run_files import read_history
    from digitcli.runs import WEIGHTS_FILE

    history = read_history(run_dir)
    weights = NumpyModel.load(run_dir / WEIGHTS_FILE)
    target = resolve_target(run_dir)
    predictions, model_file = predict_split(target, "test", "numpy")
    evaluation = evaluate_predictions(target, predictions, model_file, "numpy")
    warnings = list(predictions.warnings)
    data = RunPlotData(
        name=run_dir.name,
        test_name=f"{evaluation.source} test split",
        seed=target.config.seed,
        history=history,
        images=predictions.x,
        labels=predictions.y,
        probabilities=predictions.probabilities,
        confusion=np.asarray(evaluation.scores.confusion_matrix),
        first_filters=weights.first_layer_filters(),
        compared=_runs_to_compare(run_dir.parent, warnings) if all_runs else (),
        raw_probabilities=predictions.raw_probabilities,
        temperature=predictions.temperature,
    )
    return data, evaluation, warnings


def plot_run(
    path: Path | None = None,
    *,
    out_dir: Path | None = None,
    fmt: PlotFormat | str = PlotFormat.png,
    all_runs: bool = False,
    default_root: Path = Path("results"),
) -> PlotResult:
    """Write every figure of FIGURES that applies to a run (with `all_runs`, also comparing every
    run of its results root) plus report.html."""
    from digitcli.builtin import builtin_home, builtin_name
    from digitcli.output_files import make_folder
    from digitcli.report import ReportContent, write_report
    from digitcli.run_files import read_metrics, read_run_info
    from digitcli.runs import CONFIG_FILE, resolve_model, resolve_run

    started = time.perf_counter()
    fmt = PlotFormat(fmt)
    builtin = builtin_name(str(path)) if path is not None else None
    # The bundled model's folder is a run, inside the package: its plots go to ./builtin-<name>/.
    run_dir = resolve_model(path).run_dir if builtin is not None else None
    run_dir = run_dir or resolve_run(path, default_root)
    data, evaluation, warnings = read_plot_data(run_dir, all_runs=all_runs)
    home = builtin_home(builtin) if builtin is not None else run_dir
    destination = out_dir if out_dir is not None else home / PLOTS_DIR
    make_folder(destination, "plots folder")
    figures = [
        _write(
            kind.draw(data),
            destination,
            kind.stem,
            kind.title,
            kind.caption.format(seed=data.seed),
            fmt,
        )
        for kind in FIGURES
        if kind.applies(data)
    ]
    report = write_report(
        destination / REPORT_FILE,
        ReportContent(
            run_dir=run_dir,
            run_info=read_run_info(run_dir),
            config_yaml=(run_dir / CONFIG_FILE).read_text(encoding="utf-8"),
            metrics=read_metrics(run_dir, missing_ok=True),
            evaluation=evaluation.to_dict(),
            figures=figures,
            comparison=_comparison_rows(data.compared),
        ),
    )
    return PlotResult(
        run_dir=run_dir,
        out_dir=destination,
        figures=figures,
        report=report,
        evaluation=evaluation,
        warnings=warnings,
        seconds=time.perf_counter() - started,
    )
