"""Export a trained model as a TensorFlow SavedModel, a TFLite flatbuffer or an ONNX graph.

Each format is written with Keras's or TensorFlow's own exporter, then loaded back with the runtime
that will serve it (TensorFlow, the LiteRT/TFLite interpreter, onnxruntime) and checked against the
Keras model on 100 real digit images: the export counts only if every logit agrees to 1e-4. The
artifact is written under a temporary name and renamed into place only after it passed, so a failed
or interrupted export never leaves a half-written or unverified model at the output path.

TFLite and ONNX need optional packages: `pip install 'digitcli[export]'`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import secrets
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitcli.builtin import builtin_home
from digitcli.errors import DigitcliError, ExportError, ModelError, OutputError
from digitcli.output_files import is_replaceable, make_folder, stream_descriptor, write_bytes
from digitcli.runs import KERAS_FILE, resolve_model
from digitcli.vocabulary import ExportFormat

if TYPE_CHECKING:
    import keras
    import numpy as np

TOLERANCE = 1e-4  # largest accepted |exported logit - Keras logit|; float32 exports differ by ~1e-6
CHECK_IMAGES = 100
EXPORT_DIR = "export"
INSTALL_HINT = "pip install 'digitcli[export]'"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: ExportFormat
    max_abs_diff: float  # over all logits of the checked images
    n_checked: int  # images run through both the Keras model and the export
    runtime: str  # what loaded the export back for the check
    seconds: float  # conversion plus verification
    model: str = ""  # which model (runs.ModelFiles.label)


# Python modules each format needs beyond TensorFlow/Keras, as (module, pip package) pairs.
_REQUIRED: dict[ExportFormat, list[tuple[str, str]]] = {
    ExportFormat.savedmodel: [],
    ExportFormat.tflite: [],  # the converter is in TensorFlow; the interpreter is checked on use
    ExportFormat.onnx: [("tf2onnx", "tf2onnx"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime")],
}


def default_output(model_dir: Path, export_format: ExportFormat) -> Path:
    """`<run>/export/savedmodel/`, `<run>/export/model.tflite` or `<run>/export/model.onnx`."""
    if export_format is ExportFormat.savedmodel:
        return model_dir / EXPORT_DIR / "savedmodel"
    return model_dir / EXPORT_DIR / f"model.{export_format.value}"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_requirements(export_format: ExportFormat) -> None:
    """Fail fast, before loading TensorFlow, when a converter or runtime is not installed."""
    missing = [package for module, package in _REQUIRED[export_format] if not _installed(module)]
    if missing:
        raise ExportError(
            f"{export_format.value} export needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed; install with: {INSTALL_HINT}"
        )


def sample_images(count: int = CHECK_IMAGES) -> np.ndarray:
    """The first `count` of scikit-learn's bundled digits as canonical (count, 400) float32 rows.

    Real digits rather than noise, so the check exercises the activations the model meets in use;
    bundled, so it works offline for a run trained on any source.
    """
    import numpy as np
    from sklearn.datasets import load_digits

    from digitcli.data import to_canonical

    images = np.asarray(load_digits().images[:count], dtype=np.float32) / 16.0
    return to_canonical(images).astype(np.float32)


@contextlib.contextmanager
def _converter_quiet() -> Iterator[None]:
    """Hide the converters' chatter: C++ logs on fd 2, Python prints and deprecation warnings.

    Errors still surface as exceptions. DIGITCLI_TF_LOGS=1 shows everything, for debugging.
    """
    if os.environ.get("DIGITCLI_TF_LOGS") == "1":
        yield
        return
    from digitcli.tf_runtime import stderr_silenced

    with (
        stderr_silenced(),
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield


def _short(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 300 else text[:297] + "..."


# --- writers: produce the artifact at `target` (a path that does not exist yet) -----------------


def _write_savedmodel(model: keras.Model, target: Path) -> None:
    model.export(str(target), format="tf_saved_model", verbose=False)


def _write_tflite(model: keras.Model, target: Path) -> None:
    from digitcli.tf_runtime import load_tensorflow

    tf = load_tensorflow()
    converter_class = getattr(getattr(tf, "lite", None), "TFLiteConverter", None)
    if converter_class is None:
        raise ExportError(
            f"this TensorFlow ({tf.__version__}) has no tf.lite.TFLiteConverter; "
            f"install a TensorFlow that does, or: {INSTALL_HINT}"
        )
    # Convert from a SavedModel: `from_keras_model` exports one internally anyway, and prints it.
    with tempfile.TemporaryDirectory(prefix="digitcli-tflite-") as scratch:
        saved = Path(scratch) / "savedmodel"
        _write_savedmodel(model, saved)
        flatbuffer = converter_class.from_saved_model(str(saved)).convert()
    target.write_bytes(flatbuffer)


def _write_onnx(model: keras.Model, target: Path) -> None:
    model.export(str(target), format="onnx", verbose=False)


_WRITERS = {
    ExportFormat.savedmodel: _write_savedmodel,
    ExportFormat.tflite: _write_tflite,
    ExportFormat.onnx: _write_onnx,
}


# --- runners: load an artifact back with its own runtime and compute logits ---------------------


def _run_savedmodel(path: Path, images: np.ndarray) -> tuple[np.ndarray, str]:
    import numpy as np

    from digitcli.tf_runtime import load_tensorflow

    tf = load_tensorflow()
    loaded = tf.saved_model.load(str(path))
    # The serving signature is what TensorFlow Serving and other consumers call.
    signature = loaded.signatures["serving_default"]
    (input_name,) = signature.structured_input_signature[1]
    outputs = signature(**{input_name: tf.constant(images)})
    (logits,) = outputs.values()
    return np.asarray(logits), f"tensorflow {tf.__version__}"


def _tflite_interpreter() -> tuple[Any, str]:
    """LiteRT's interpreter (ai-edge-litert) if installed, else TensorFlow's deprecated copy."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:
        pass
    from digitcli.tf_runtime import load_tensorflow

    tf = load_tensorflow()
    interpreter = getattr(getattr(tf, "lite", None), "Interpreter", None)
    if interpreter is None:
        raise ExportError(
            f"checking a tflite export needs ai-edge-litert; install with: {INSTALL_HINT}"
        )
    return interpreter, "tf.lite"


def _run_tflite(path: Path, images: np.ndarray) -> tuple[np.ndarray, str]:
    import numpy as np

    interpreter_class, runtime = _tflite_interpreter()
    interpreter = interpreter_class(model_path=str(path))
    (source,) = interpreter.get_input_details()
    (sink,) = interpreter.get_output_details()
    # The model is converted with a dynamic batch size; size it for the whole check batch.
    interpreter.resize_tensor_input(source["index"], list(images.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(source["index"], images)
    interpreter.invoke()
    return np.array(interpreter.get_tensor(sink["index"])), runtime


def _run_onnx(path: Path, images: np.ndarray) -> tuple[np.ndarray, str]:
    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    (source,) = session.get_inputs()
    (logits,) = session.run(None, {source.name: images})
    return np.asarray(logits), f"onnxruntime {onnxruntime.__version__}"


_RUNNERS = {
    ExportFormat.savedmodel: _run_savedmodel,
    ExportFormat.tflite: _run_tflite,
    ExportFormat.onnx: _run_onnx,
}


def run_exported(
    path: Path, export_format: ExportFormat, images: np.ndarray
) -> tuple[np.ndarray, str]:
    """Logits of an exported model on `images`, computed by the format's own runtime."""
    with _converter_quiet():
        return _RUNNERS[export_format](path, images)


# --- the export itself ---------------------------------------------------------------------------


def _check_output(output: Path, export_format: ExportFormat) -> None:
    """Refuse outputs that replacing would destroy something that is not an earlier export."""
    if export_format is ExportFormat.savedmodel:
        special = output.exists() and not output.is_dir() and not output.is_file()
        if output.is_symlink() or special or stream_descriptor(output) is not None:
            raise OutputError(
                f"{output}: a SavedModel is a folder; give a folder path, not a link, device or "
                "stream"
            )
        if output.is_file():
            raise OutputError(f"{output}: is a file; a SavedModel is a folder")
        if output.is_dir() and any(output.iterdir()) and not (output / "saved_model.pb").is_file():
            raise OutputError(
                f"{output}: folder exists and is not a SavedModel; choose another --output"
            )
    elif output.is_dir():
        raise OutputError(
            f"{output}: is a folder; give a file path such as {output / f'model.{export_format.value}'}"
        )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _move_into_place(staged: Path, output: Path) -> None:
    """Rename the verified artifact onto `output`; an existing export there is replaced."""
    if not staged.is_dir():
        os.replace(staged, output)  # atomic for files
        return
    # A folder cannot be replaced in one step: move the old one aside, then swap, then delete.
    retired = output.with_name(f".{output.name}.{secrets.token_hex(3)}.old")
    had_old = output.exists()
    if had_old:
        os.rename(output, retired)
    try:
        os.rename(staged, output)
    except OSError:
        if had_old:
            os.rename(retired, output)
        raise
    if had_old:
        shutil.rmtree(retired, ignore_errors=True)


def export_model(
    source: Path | None,
    export_format: ExportFormat,
    output: Path | None = None,
    *,
    tolerance: float = TOLERANCE,
    n_images: int = CHECK_IMAGES,
    default_root: Path = Path("results"),
) -> ExportResult:
    """Export the Keras model of a run (`source`: run dir, results root, .keras; None: latest).

    Writes to `output` (default: `<run>/export/...`), verifies the artifact with its own runtime on
    `n_images` digits, and returns where it went and how closely it matches the Keras model.
    """
    export_format = ExportFormat(export_format)
    check_requirements(export_format)
    files = resolve_model(source, default_root)
    if files.keras is None and files.builtin is None:
        where = files.run_dir if files.run_dir is not None else source
        raise ModelError(f"{where}: holds no {KERAS_FILE}; export needs the Keras model")
    if files.builtin is not None:  # the package's folder is read-only: export beside the user
        home = builtin_home(files.builtin)
    else:
        assert files.keras is not None
        home = files.run_dir if files.run_dir is not None else files.keras.parent
    target = output if output is not None else default_output(home, export_format)
    _check_output(target, export_format)
    # Stdout, a device, a FIFO or a link is written through once verified; the artifact is staged
    # in a scratch folder instead of beside it (no temporary file in /dev, no rename onto it).
    in_place = export_format is not ExportFormat.savedmodel and not is_replaceable(target)
    if not in_place:
        make_folder(target.parent)
    scratch = tempfile.TemporaryDirectory(prefix="digitcli-export-") if in_place else None

    import numpy as np

    from digitcli.model import load_model_files

    started = time.perf_counter()
    model = load_model_files(files)  # the bundled model: built from weights.npz
    images = sample_images(n_images)
    # Calling the model also builds its traced signature, which Keras's ONNX exporter requires.
    expected = np.asarray(model(images, training=False))

    staged = (
        Path(scratch.name) / f"model.{export_format.value}"
        if scratch is not None
        else target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    )
    try:
        try:
            with _converter_quiet():
                _WRITERS[export_format](model, staged)
        except DigitcliError:
            raise
        except OSError as exc:
            raise OutputError(f"{target}: cannot write the export ({exc.strerror or exc})") from exc
        except Exception as exc:  # the converters raise anything from ValueError to ConverterError
            raise ExportError(
                f"{target}: {export_format.value} export failed: {_short(exc)}"
            ) from exc
        try:
            actual, runtime = run_exported(staged, export_format, images)
        except DigitcliError:
            raise
        except Exception as exc:
            raise ExportError(
                f"{target}: the {export_format.value} export cannot be loaded back: {_short(exc)}"
            ) from exc
        if actual.shape != expected.shape:
            raise ExportError(
                f"{target}: verification failed: the export returns shape {actual.shape}, "
                f"the Keras model {expected.shape}"
            )
        max_abs_diff = float(np.max(np.abs(actual.astype(np.float64) - expected)))
        if not max_abs_diff <= tolerance:  # also catches NaN
            raise ExportError(
                f"{target}: verification failed: {runtime} logits differ from the Keras model's by "
                f"up to {max_abs_diff:.3g} (limit {tolerance:g}) on {len(images)} images; "
                "nothing was written"
            )
        if scratch is not None:
            write_bytes(target, staged.read_bytes())
        else:
            try:
                _move_into_place(staged, target)
            except OSError as exc:
                raise OutputError(
                    f"{target}: cannot move the export into place ({exc.strerror})"
                ) from exc
    finally:
        if staged.exists():
            _remove(staged)
        if scratch is not None:
            scratch.cleanup()
    return ExportResult(
        path=target,
        format=export_format,
        max_abs_diff=max_abs_diff,
        n_checked=len(images),
        runtime=runtime,
        seconds=time.perf_counter() - started,
        model=files.label,
    )
