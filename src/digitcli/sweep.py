"""`sweep`: search config settings with Optuna; every trial is a normal run in the results folder.

One study lives in an Optuna storage (by default a SQLite file in the results folder), so any number
of processes, on one machine or several, work on it together: each worker asks the storage for a
trial, trains it and tells the result. What keeps them to the requested number of trials is the
trial numbers the storage hands out in order: a trial runs only while fewer than `trials` trials
numbered below it are running or finished (complete or pruned); otherwise it is marked failed with
the user attribute `surplus` and hidden. Failed and interrupted trials do not count, so calling
`sweep` again continues the study toward its total.

Pruned trials (their epochs' validation values worse than the median of earlier trials') stop at
once and leave no run folder: a run folder is always a complete run. Interrupted trials (Ctrl-C)
are failed and their folder deleted; finished trials are never touched.

Workers are processes, not threads: TensorFlow is neither faster nor safe with several training
loops in one process. `--jobs N` starts N worker processes (each in its own session, so Ctrl-C
reaches the coordinator, which passes it on once); each stops when its parent goes away.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from digitcli import signals
from digitcli.errors import DigitcliError, OutputError, TrainingInterrupted, UsageError
from digitcli.output_files import make_folder, write_text
from digitcli.runs import check_run_name, is_run_dir, point_latest
from digitcli.sweep_spec import LoadedSpec, Scalar, SearchParam, load_spec

if TYPE_CHECKING:
    pass

SWEEPS_DIR = "sweeps"  # <results>/sweeps/<study>/: the default storage, best config, figures
STORAGE_FILE = "study.db"
HEARTBEAT_SECONDS = 10  # a worker records that its trial is alive this often
GRACE_SECONDS = 30  # a running trial silent this long (its process killed) is failed
SQLITE_TIMEOUT_SECONDS = 60  # how long a worker waits for another's write to the SQLite file
OPEN_ATTEMPTS = 5

Report = Callable[[str], None]


class TrialPrunedSignal(DigitcliError):
    """Raised from the epoch callback to stop a hopeless trial (the trainer then deletes its folder)."""


class _Surplus(Exception):
    """This trial would exceed the study's total; it is failed and hidden, never run."""


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # complete, pruned, running, failed, waiting
    value: float | None  # the metric; for a pruned trial its last epoch value
    params: dict[str, Any]
    run: str | None  # the run folder
    epochs: int | None  # epochs reported (pruned: where it stopped)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "value": self.value,
            "params": self.params,
            "run": self.run,
            "epochs": self.epochs,
        }


@dataclass
class SweepResult:
    study: str
    storage: str
    metric: str
    direction: str
    trials_wanted: int
    parameters: list[str]  # the searched keys, in the spec's order
    rows: list[TrialRow]  # best first
    best: TrialRow | None
    best_config: Path | None
    figures: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "storage": self.storage,
            "metric": self.metric,
            "direction": self.direction,
            "trials_wanted": self.trials_wanted,
            "parameters": self.parameters,
            "counts": self.counts(),
            "best": self.best.to_dict() if self.best else None,
            "best_config": str(self.best_config) if self.best_config else None,
            "trials": [row.to_dict() for row in self.rows],
            "figures": [str(path) for path in self.figures],
            "interrupted": self.interrupted,
        }


def _quiet_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise DigitcliError(
            "sweep needs Optuna, an optional extra: pip install 'digitcli[sweep]'"
        ) from exc

    # Our own one-line reports replace Optuna's log (whose failures print tracebacks).
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def results_root(spec: LoadedSpec) -> Path:
    return Path(spec.trial_config({}).output.dir)


def sweep_dir(spec: LoadedSpec) -> Path:
    return results_root(spec) / SWEEPS_DIR / spec.study


def default_storage(spec: LoadedSpec) -> str:
    return f"sqlite:///{sweep_dir(spec) / STORAGE_FILE}"


def open_storage(url: str) -> Any:
    """An RDB storage with heartbeats, so a trial whose process died is failed and replaced."""
    optuna = _quiet_optuna()
    engine_kwargs = (
        {"connect_args": {"timeout": SQLITE_TIMEOUT_SECONDS}} if url.startswith("sqlite") else {}
    )
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
            )
        except ImportError as exc:  # a database driver is missing (psycopg2, PyMySQL, ...)
            raise UsageError(f"--storage {url}: {exc}") from exc
        except Exception as exc:  # sqlalchemy: bad URL, unreachable server, refused login
            # Processes that open a new database at once race to create its tables; the loser
            # finds them made on its next try.
            if attempt == OPEN_ATTEMPTS or not _is_database_error(exc):
                message = str(exc).splitlines()[0]
                raise OutputError(
                    f"--storage {url}: cannot open the study storage ({message})"
                ) from exc
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def _is_database_error(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError)


def _sampler(spec: LoadedSpec, worker: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=spec.spec.seed + worker)


def _pruner(spec: LoadedSpec) -> Any:
    import optuna

    pruner = spec.spec.pruner
    if pruner.kind.value == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=pruner.startup_trials, n_warmup_steps=pruner.warmup_epochs
    )


def open_study(spec: LoadedSpec, storage: Any, worker: int = 0, create: bool = False) -> Any:
    optuna = _quiet_optuna()
    direction = spec.spec.resolved_direction.value
    if create:
        study = optuna.create_study(
            study_name=spec.study,
            storage=storage,
            direction=direction,
            sampler=_sampler(spec, worker),
            pruner=_pruner(spec),
            load_if_exists=True,
        )
    else:
        study = optuna.load_study(
            study_name=spec.study,
            storage=storage,
            sampler=_sampler(spec, worker),
            pruner=_pruner(spec),
        )
    if study.direction.name.lower() != direction:
        raise UsageError(
            f"study {spec.study} in this storage {study.direction.name.lower()}s its metric; "
            f"the spec asks to {direction} (use another study name)"
        )
    return study


def _suggest(trial: Any, key: str, param: SearchParam) -> Scalar:
    if param.choices is not None:
        value: Scalar = trial.suggest_categorical(key, param.choices)
        return value
    if param.int_range is not None:
        low, high = param.int_range
        return int(trial.suggest_int(key, low, high, step=int(param.step or 1), log=param.log))
    assert param.float_range is not None
    low_f, high_f = param.float_range
    return float(trial.suggest_float(key, low_f, high_f, step=param.step, log=param.log))


def _shown(value: Scalar) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _alive_count(study: Any, below: int | None = None) -> int:
    """Trials (numbered below `below`) that count toward the total: running or finished. (Trials
    enqueued by hand, WAITING, count once a worker takes them.)"""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    trials = study.get_trials(deepcopy=False, states=states)
    return sum(1 for trial in trials if below is None or trial.number < below)


def _run_name(spec: LoadedSpec, root: Path, number: int) -> str | None:
    """`<study>-<trial number>`, or None (a unique automatic name) when that is taken."""
    name = f"{spec.study}-{number:03d}"
    try:
        check_run_name(root, name)
    except DigitcliError:
        return None
    return name


class _Stop:
    """Set by the first SIGINT/SIGTERM (or when the parent process is gone)."""

    def __init__(self, parent: int | None = None) -> None:
        self.requested = False
        self.parent = parent

    def __call__(self) -> bool:
        if self.parent is not None and os.getppid() != self.parent:
            self.requested = True  # orphaned: the coordinator was killed
        return self.requested


@contextmanager
def _stop_on_signals(stop: _Stop) -> Iterator[None]:
    """First SIGINT/SIGTERM: finish nothing new, stop the trial after its epoch; second: abort."""

    def handle(signum: int, frame: FrameType | None) -> None:
        signals.note(signum)  # the exit code says which: 130 or 143
        if stop.requested:
            raise signals.Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        stop.requested = True

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _objective(spec: LoadedSpec, study: Any, stop: _Stop, report: Report) -> Callable[[Any], float]:
    from digitcli.trainer import TrainCallbacks, train

    root = results_root(spec)
    metric = spec.spec.metric

    def objective(trial: Any) -> float:
        if _alive_count(study, below=trial.number) >= spec.spec.trials:
            trial.set_user_attr("surplus", True)
            raise _Surplus
        params = {key: _suggest(trial, key, param) for key, param in spec.spec.search.items()}
        trial.set_user_attr("host", socket.gethostname())
        shown = ", ".join(f"{key}={_shown(value)}" for key, value in params.items())
        # Printed before the trial's work starts (tests wait for it before interrupting).
        report(f"trial {trial.number} started: {shown}")
        config = spec.trial_config(params)

        def on_epoch(log: Any) -> None:
            trial.report(getattr(log, metric.epoch_key), log.epoch)
            # Never at the last epoch: the run is complete by then, nothing is saved by stopping.
            if log.epoch < config.train.epochs and trial.should_prune():
                raise TrialPrunedSignal(f"pruned after epoch {log.epoch}")

        try:
            result = train(
                config,
                label=f"{spec.study}-{trial.number}",
                name=_run_name(spec, root, trial.number),
                metadata={"sweep": {"study": spec.study, "trial": trial.number}},
                keep_interrupted=False,
                handle_signals=False,  # the worker's own handler sets `stop`
                callbacks=TrainCallbacks(on_epoch=on_epoch, should_stop=stop),
            )
        except TrialPrunedSignal as exc:
            report(f"trial {trial.number} {exc}")
            import optuna

            raise optuna.TrialPruned(str(exc)) from exc
        except TrainingInterrupted:
            stop.requested = True
            report(f"trial {trial.number} interrupted (its run folder deleted)")
            raise
        except DigitcliError as exc:
            report(f"trial {trial.number} failed: {exc.message}")
            raise
        trial.set_user_attr("run", str(result.run_dir))
        value = float(result.metrics[metric.split_name][metric.score])
        report(f"trial {trial.number} finished: {metric.value}={value:.4f} ({result.run_dir})")
        return value

    return objective


def run_worker(
    spec: LoadedSpec, storage_url: str, worker: int, report: Report, stop: _Stop
) -> bool:
    """Run trials until the study has its total or a stop is asked; True when it was stopped."""
    storage = open_storage(storage_url)
    study = open_study(spec, storage, worker)
    objective = _objective(spec, study, stop, report)
    while not stop():
        if _alive_count(study) >= spec.spec.trials:
            return False
        study.optimize(objective, n_trials=1, catch=(_Surplus,), gc_after_trial=False)
    return True


def _state(trial: Any) -> str:
    return {
        "COMPLETE": "complete",
        "PRUNED": "pruned",
        "RUNNING": "running",
        "FAIL": "failed",
        "WAITING": "waiting",
    }[trial.state.name]


def trial_rows(study: Any) -> list[TrialRow]:
    """Every trial but the hidden surplus ones: complete best first, then pruned, running, failed."""
    maximize = study.direction.name == "MAXIMIZE"
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("surplus"):
            continue
        steps = trial.intermediate_values
        value = trial.value if trial.value is not None else (steps[max(steps)] if steps else None)
        rows.append(
            TrialRow(
                number=trial.number,
                state=_state(trial),
                value=value,
                params=dict(trial.params),
                run=trial.user_attrs.get("run"),
                epochs=max(steps) if steps else None,
            )
        )
    order = {"complete": 0, "pruned": 1, "running": 2, "waiting": 3, "failed": 4}

    def key(row: TrialRow) -> tuple[int, float, int]:
        value = row.value if row.value is not None and not math.isnan(row.value) else math.inf
        if value != math.inf and maximize:
            value = -value
        return (order[row.state], value, row.number)

    return sorted(rows, key=key)


def write_best_config(spec: LoadedSpec, best: TrialRow, folder: Path) -> Path:
    """The best trial's resolved config, ready for `digitcli train --config`."""
    from digitcli.config import config_to_yaml

    config = spec.trial_config(best.params)
    path = folder / f"{spec.study}-best.yaml"
    header = (
        f"# The best trial of sweep study {spec.study}: trial {best.number}, "
        f"{spec.spec.metric.value} {best.value:.4f}.\n"
        f"# Train it again: digitcli train --config {path}\n"
    )
    write_text(path, header + config_to_yaml(config))
    return path


def write_figures(study: Any, folder: Path, metric: str) -> tuple[list[Path], list[str]]:
    """Optimisation history, parameter importances, parallel coordinates (Matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    figures: list[tuple[str, Callable[..., Any]]] = [
        ("optimization_history", optuna_plots.plot_optimization_history),
        ("param_importances", optuna_plots.plot_param_importances),
        ("parallel_coordinate", optuna_plots.plot_parallel_coordinate),
    ]
    written, problems = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, draw in figures:
            path = folder / f"{name}.png"
            try:
                axes = draw(study, target_name=metric)
                figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
                figure.set_size_inches(9, 5)
                # Through a temporary file: processes sharing a study may draw at the same time.
                temporary = path.with_name(f".{path.stem}.{os.getpid()}.png")
                figure.savefig(temporary, dpi=100, bbox_inches="tight")
                os.replace(temporary, path)
                plt.close(figure)
                written.append(path)
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                problems.append(f"{name}: not drawn ({exc})")
                plt.close("all")
    return written, problems


def summarize(spec: LoadedSpec, storage_url: str, interrupted: bool) -> SweepResult:
    """The study's trials, its best config and figures, written beside the runs."""
    study = open_study(spec, open_storage(storage_url))
    rows = trial_rows(study)
    complete = [row for row in rows if row.state == "complete" and row.value is not None]
    best = complete[0] if complete else None
    folder = make_folder(sweep_dir(spec), "sweep folder")
    result = SweepResult(
        study=spec.study,
        storage=storage_url,
        metric=spec.spec.metric.value,
        direction=spec.spec.resolved_direction.value,
        trials_wanted=spec.spec.trials,
        parameters=list(spec.spec.search),
        rows=rows,
        best=best,
        best_config=None,
        interrupted=interrupted,
    )
    if best is None:
        return result
    result.best_config = write_best_config(spec, best, folder)
    if len(complete) >= 2:
        result.figures, result.warnings = write_figures(study, folder, spec.spec.metric.value)
    # `latest` names the best trial's run, when it is in this results folder (it may be on
    # another machine), so `digitcli evaluate` and `plot` pick it up.
    if best.run is not None and is_run_dir(Path(best.run)):
        point_latest(Path(best.run))
    return result


def _worker_command(spec_path: Path, storage_url: str, worker: int) -> list[str]:
    return [sys.executable, "-m", "digitcli.sweep", str(spec_path), storage_url, str(worker)]


def run_sweep(
    spec_path: Path,
    storage_url: str | None = None,
    jobs: int = 1,
    report: Report = lambda message: None,
) -> SweepResult:
    """Run (or continue) the study of `spec_path` until it has its trials, then summarise it."""
    spec = load_spec(spec_path)
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: give at least 1")
    url = storage_url or default_storage(spec)
    if storage_url is None:
        make_folder(sweep_dir(spec), "sweep folder")
    storage = open_storage(url)
    study = open_study(spec, storage, create=True)
    done = _alive_count(study)
    report(
        f"study {spec.study}: {done} of {spec.spec.trials} trials done or running; storage {url}"
    )
    stop = _Stop()
    if jobs == 1:
        with _stop_on_signals(stop):
            try:
                interrupted = run_worker(spec, url, 0, report, stop)
            except (TrainingInterrupted, KeyboardInterrupt):
                interrupted = True
    else:
        interrupted = _run_processes(spec_path, url, jobs, report)
    return summarize(spec, url, interrupted)


def _run_processes(spec_path: Path, url: str, jobs: int, report: Report) -> bool:
    """`jobs` worker processes on the same storage; Ctrl-C is passed on to them once."""
    workers = [
        subprocess.Popen(_worker_command(spec_path, url, index), start_new_session=True)
        for index in range(jobs)
    ]
    interrupts = 0

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupts
        interrupts += 1
        signals.note(signum)
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGINT)

    previous = {
        signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        codes = [worker.wait() for worker in workers]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for worker in workers:  # only if we are leaving by an exception
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    if interrupts or any(code == 130 for code in codes):
        return True
    failed = [code for code in codes if code != 0]
    if failed:
        raise DigitcliError(f"{len(failed)} of {jobs} sweep workers failed (exit codes {failed})")
    return False


def _worker_main(argv: list[str]) -> int:
    """A worker process: `python -m digitcli.sweep SPEC STORAGE_URL WORKER_INDEX`."""
    spec_path, url, index = Path(argv[0]), argv[1], int(argv[2])

    def report(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    stop = _Stop(parent=os.getppid())
    with _stop_on_signals(stop):
        try:
            stopped = run_worker(load_spec(spec_path), url, index, report, stop)
        except (TrainingInterrupted, KeyboardInterrupt):
            return 130
        except DigitcliError as exc:
            print(f"error: {exc.message}", file=sys.stderr, flush=True)
            return int(exc.exit_code)
    return 130 if stopped else 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
