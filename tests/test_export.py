"""`digitcli export`: real SavedModel, TFLite and ONNX exports, loaded back by their own runtimes."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from digitcli.cli import app
from digitcli.errors import ExportError, ModelError, OutputError
from digitcli.export import (
    CHECK_IMAGES,
    default_output,
    export_model,
    sample_images,
)
from digitcli.inference import NumpyModel
from digitcli.vocabulary import ExportFormat


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in modules)


needs_onnx = pytest.mark.skipif(
    not _installed("tf2onnx", "onnx", "onnxruntime"),
    reason="ONNX export needs the optional converters: pip install 'digitcli[export]'",
)
FORMATS = [
    ExportFormat.savedmodel,
    ExportFormat.tflite,
    pytest.param(ExportFormat.onnx, marks=needs_onnx),
]


@pytest.fixture
def run_dir(trained_run: Path, tmp_path: Path) -> Path:
    """A writable copy of the session's trained run, as the latest run under ./results."""
    copy = tmp_path / "results" / trained_run.name
    shutil.copytree(trained_run, copy)
    (copy.parent / "latest").write_text(copy.name + "\n")
    return copy


def _logits_from_runtime(path: Path, export_format: ExportFormat, x: np.ndarray) -> np.ndarray:
    """Load an export the way a user of that format would, independently of digitcli.export."""
    if export_format is ExportFormat.savedmodel:
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return np.asarray(loaded.signatures["serving_default"](pixels=tf.constant(x))["output_0"])
    if export_format is ExportFormat.tflite:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
        interpreter = Interpreter(model_path=str(path))
        interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(x.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"pixels": x})[0])


@pytest.mark.parametrize("export_format", FORMATS)
def test_each_format_exports_and_matches_the_model(
    run_dir: Path, export_format: ExportFormat
) -> None:
    result = export_model(run_dir, export_format)

    assert result.path == default_output(run_dir, export_format)
    assert result.format is export_format
    assert result.n_checked == CHECK_IMAGES == 100
    assert 0.0 <= result.max_abs_diff <= 1e-4
    # Only the finished artifact is left: no temporary names beside it.
    assert [p.name for p in (run_dir / "export").iterdir()] == [result.path.name]
    if export_format is ExportFormat.savedmodel:
        assert (result.path / "saved_model.pb").is_file()
    else:
        assert result.path.is_file() and result.path.suffix == f".{export_format.value}"

    # An independent check: the runtime's logits against the NumPy forward pass of weights.npz.
    x = sample_images(20)
    expected = NumpyModel.load(run_dir / "weights.npz").logits(x)
    actual = _logits_from_runtime(result.path, export_format, x)
    assert actual.shape == (20, 10)
    assert np.max(np.abs(actual - expected)) <= 1e-4


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of a small convolutional network (every layer type), 2 epochs on 600 digits."""
    from digitcli.config import load_config
    from digitcli.trainer import train

    config_file = tmp_path_factory.mktemp("conv") / "conv.yaml"
    config_file.write_text(
        "model:\n  layers:\n"
        "    - {type: conv2d, filters: 4, kernel_size: 3, padding: same}\n"
        "    - {type: batch_norm}\n"
        "    - {type: max_pool}\n"
        "    - {type: conv2d, filters: 6, kernel_size: 3, strides: 2}\n"
        "    - {type: avg_pool, pool_size: 2, strides: 1}\n"
        "    - {type: flatten}\n"
        "    - {type: dropout, rate: 0.2}\n"
        "    - {units: 10, activation: linear}\n"
    )
    root = tmp_path_factory.mktemp("conv-results")
    overrides = [f"output.dir={root}", "train.epochs=2", "data.limit=600"]
    return train(load_config(config_file, overrides), label="conv").run_dir


@pytest.mark.parametrize("export_format", FORMATS)
def test_a_conv_model_exports_in_each_format(conv_run: Path, export_format: ExportFormat) -> None:
    result = export_model(conv_run, export_format, output=Path("out") / export_format.value)
    assert 0.0 <= result.max_abs_diff <= 1e-4
    x = sample_images(20)
    expected = NumpyModel.load(conv_run / "weights.npz").logits(x)
    actual = _logits_from_runtime(result.path, export_format, x)
    assert np.max(np.abs(actual - expected)) <= 1e-4


def test_sample_images_are_real_canonical_digits() -> None:
    x = sample_images(100)
    assert x.shape == (100, 400) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert np.all(x.max(axis=1) > 0.5)  # every image has ink


def test_cli_exports_the_latest_run_and_prints_the_path(runner: CliRunner, run_dir: Path) -> None:
    result = runner.invoke(app, ["export", "--format", "tflite"])
    assert result.exit_code == 0, result.stderr
    expected = Path("results") / run_dir.name / "export" / "model.tflite"
    assert result.stdout == f"{expected}\n"
    assert expected.is_file()
    assert "on 100 images: max abs diff" in result.stderr


def test_cli_json_output(runner: CliRunner, run_dir: Path) -> None:
    result = runner.invoke(
        app, ["--quiet", "export", str(run_dir), "--output", "out/a/sm", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["path"] == str(Path("out/a/sm"))
    assert document["format"] == "savedmodel"
    assert document["n_checked"] == 100
    assert document["max_abs_diff"] <= 1e-4
    assert document["runtime"].startswith("tensorflow ")
    assert Path("out/a/sm/saved_model.pb").is_file()
    assert result.stderr == ""  # --quiet: no diagnostics


def test_export_again_replaces_the_previous_export(run_dir: Path) -> None:
    first = export_model(run_dir, ExportFormat.savedmodel)
    marker = first.path / "stale.txt"
    marker.write_text("from the first export")
    second = export_model(run_dir, ExportFormat.savedmodel)
    assert second.path == first.path
    assert not marker.exists()
    assert sorted(p.name for p in (run_dir / "export").iterdir()) == ["savedmodel"]


def test_accepts_a_keras_file_and_writes_beside_it(run_dir: Path, tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(run_dir / "model.keras", loose / "model.keras")
    result = export_model(loose / "model.keras", ExportFormat.tflite)
    assert result.path == loose / "export" / "model.tflite"
    assert result.path.is_file()


def test_failed_verification_writes_nothing(
    runner: CliRunner,
    run_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import digitcli.export as export_module

    real = export_module.run_exported

    def off_by_a_little(path: Path, export_format: Any, images: np.ndarray) -> tuple[Any, str]:
        logits, runtime = real(path, export_format, images)
        return logits + 0.5, runtime

    monkeypatch.setattr(export_module, "run_exported", off_by_a_little)
    result = runner.invoke(app, ["export", str(run_dir), "-f", "tflite", "-o", "digits.tflite"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: digits.tflite: verification failed: ")
    assert "differ from the Keras model's by up to 0.5 (limit 0.0001) on 100 images" in (
        result.stderr
    )
    assert result.stderr.endswith("nothing was written\n")
    assert result.stdout == ""
    assert list(Path.cwd().iterdir()) == [Path.cwd() / "results"]  # no file, no temporary


def test_missing_converter_says_how_to_install(
    runner: CliRunner,
    run_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # find_spec() then reports it missing
    result = runner.invoke(app, ["export", "--format", "onnx"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: onnx export needs tf2onnx, which is not installed; "
        "install with: pip install 'digitcli[export]'\n"
    )
    assert not (run_dir / "export").exists()


def test_missing_converters_are_all_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ExportError, match=r"^onnx export needs onnx, onnxruntime, which are not"):
        export_model(Path("anything"), ExportFormat.onnx)


def test_tflite_falls_back_to_tensorflows_interpreter(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digitcli.tf_runtime import load_tensorflow

    if not hasattr(load_tensorflow().lite, "Interpreter"):
        pytest.skip("this TensorFlow has no tf.lite.Interpreter")
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    result = export_model(run_dir, ExportFormat.tflite)
    assert result.runtime == "tf.lite"
    assert result.max_abs_diff <= 1e-4


def test_refuses_to_replace_a_folder_that_is_not_a_savedmodel(run_dir: Path) -> None:
    precious = Path("precious")
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match=r"^precious: folder exists and is not a SavedModel"):
        export_model(run_dir, ExportFormat.savedmodel, precious)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_file_formats_refuse_a_folder_as_output(runner: CliRunner, run_dir: Path) -> None:
    Path("somewhere").mkdir()
    result = runner.invoke(app, ["export", "-f", "tflite", "-o", "somewhere"])
    assert result.exit_code == 1
    expected = Path("somewhere") / "model.tflite"
    assert result.stderr == (
        f"error: somewhere: is a folder; give a file path such as {expected}\n"
    )


def test_tflite_to_stdout_and_through_links(runner: CliRunner, run_dir: Path) -> None:
    piped = runner.invoke(app, ["export", "-f", "tflite", "-o", "-"])
    assert piped.exit_code == 0, piped.stderr
    assert piped.stdout_bytes[4:8] == b"TFL3"  # the flatbuffer itself, no path printed after it
    Path("real.tflite").write_bytes(b"")
    Path("link.tflite").symlink_to("real.tflite")
    Path("null.tflite").symlink_to("/dev/null")
    for name in ("link.tflite", "null.tflite"):
        result = runner.invoke(app, ["export", "-f", "tflite", "-o", name])
        assert result.exit_code == 0, result.stderr
        assert Path(name).is_symlink()
    assert Path("real.tflite").read_bytes() == piped.stdout_bytes
    assert not [path for path in Path(".").iterdir() if path.name.endswith(".tmp")]
    both = runner.invoke(app, ["export", "-f", "tflite", "-o", "-", "--json"])
    assert both.exit_code == 2 and both.stderr.startswith("error: --output - writes the model")


def test_run_without_keras_model(runner: CliRunner, run_dir: Path) -> None:
    (run_dir / "model.keras").unlink()
    with pytest.raises(ModelError, match=r"holds no model\.keras; export needs the Keras model$"):
        export_model(run_dir, ExportFormat.savedmodel)


def test_no_run_found(runner: CliRunner) -> None:
    result = runner.invoke(app, ["export", "no-such-run"])
    assert result.exit_code == 1
    assert result.stderr == "error: no-such-run: run directory not found\n"
    result = runner.invoke(app, ["export"])
    assert result.exit_code == 1
    assert result.stderr.endswith(
        "error: results: results folder not found (train one first: digitcli train)\n"
    )


def test_unknown_format_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["export", "--format", "pickle"])
    assert result.exit_code == 2
    assert "'pickle' is not one of 'savedmodel', 'tflite', 'onnx'" in result.stderr


def test_help_names_the_extra(runner: CliRunner) -> None:
    result = runner.invoke(app, ["export", "--help"])
    assert result.exit_code == 0
    assert "pip install 'digitcli[export]'" in result.stdout
