"""The server's work, free of HTTP: load the model once, then turn image bytes into the record
`predict --format json` prints, plus on request the 20x20 image the model saw and the hidden layers'
activations. Everything here is synchronous and CPU-bound; the app runs it in worker threads or
processes (`workers`).

The NumPy engine only: the same probabilities as the Keras model without importing TensorFlow, which
takes seconds (`predict --engine tf` starts in ~4 s against ~0.3 s, docs/performance.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from digitcli.errors import ModelError
from digitcli.imaging import decode_image
from digitcli.inference import NumpyModel
from digitcli.layers import Dense, Dropout, parameter_count
from digitcli.predict import Classifier, load_classifier, predict_arrays
from digitcli.predict_writers import json_record
from digitcli.preprocess import warm_up
from digitcli.runs import METRICS_FILE, RUN_FILE, ModelFiles, read_json
from digitcli.vocabulary import (
    IMAGE_SHAPE,
    IMAGE_SIDE,
    InferenceEngine,
    Invert,
)

# Activations are shown for dense networks whose hidden layers all have at most this many units:
# beyond that a learner sees noise, and the response grows for nothing. A convolution's feature
# maps would need a picture of their own.
MAX_SHOWN_UNITS = 128
IMAGE_DIGITS = 3


class Predictor:
    """A loaded model and what the API says about it. Safe to call from several threads."""

    def __init__(self, files: ModelFiles, min_confidence: float | None = None) -> None:
        """`min_confidence`: None for the run's own (calibration.json)."""
        if files.weights is None:
            raise ModelError(
                f"{files.keras}: serve runs the NumPy engine and needs the run's weights.npz"
            )
        self.files = files
        self.classifier: Classifier = load_classifier(files, InferenceEngine.numpy)
        self.min_confidence = (
            self.classifier.min_confidence if min_confidence is None else min_confidence
        )
        self.network = NumpyModel.load(files.weights)
        self.name = files.run_dir.name if files.run_dir is not None else files.weights.name
        layers = [placed.layer for placed in self.network.layers]
        # Which layers' outputs the page shows: the dense layers before the output layer.
        self.shown = [index for index, layer in enumerate(layers[:-1]) if isinstance(layer, Dense)]
        hidden = [layer for layer in layers[:-1] if isinstance(layer, Dense)]
        self.shows_activations = (
            bool(hidden)
            and all(isinstance(layer, Dense | Dropout) for layer in layers)
            and all(layer.units <= MAX_SHOWN_UNITS for layer in hidden)
        )
        warm_up()  # the first request should not pay for SciPy's import

    def predict(
        self,
        data: bytes,
        name: str = "upload",
        *,
        invert: Invert = Invert.auto,
        max_pixels: int,
        with_image: bool = False,
        with_activations: bool = False,
    ) -> dict[str, Any]:
        """The JSON record for one image file's bytes. Raises ImageError (ImageTooLargeError for
        too many pixels) when the bytes are not a readable image; an image without a digit is an
        answer, not an error: its record has digit null and the reason in `error`."""
        gray = decode_image(data, name, max_pixels)
        (record,), pixels = predict_arrays(
            [(name, gray)], self.classifier, invert, self.min_confidence
        )
        document = json_record(record)
        document["model"] = self.name
        if with_image:
            document["image"] = (
                np.round(pixels[0].reshape(IMAGE_SHAPE).astype(np.float64), IMAGE_DIGITS).tolist()
                if record.ok
                else None
            )
        if with_activations:
            document["activations"] = self._activations(pixels[0]) if record.ok else None
        return document

    def _activations(self, pixels: np.ndarray) -> list[dict[str, Any]] | None:
        if not self.shows_activations:
            return None
        outputs = self.network.layer_outputs(pixels.reshape(1, -1).astype(np.float32))
        shown = []
        for number, index in enumerate(self.shown, start=1):
            layer = self.network.layers[index].layer
            assert isinstance(layer, Dense)
            values = outputs[index][0].astype(np.float64)
            shown.append(
                {
                    "layer": number,
                    "units": layer.units,
                    "activation": layer.activation.value,
                    "values": np.round(values, 4).tolist(),
                }
            )
        return shown

    def card(self) -> dict[str, Any]:
        """What the model is: its layers, the data it was trained on, its scores."""
        network = self.network
        card: dict[str, Any] = {
            "name": self.name,
            "engine": InferenceEngine.numpy.value,
            "input": {"width": IMAGE_SIDE, "height": IMAGE_SIDE, "values": "0 background to 1 ink"},
            "layers": [placed.layer.model_dump(mode="json") for placed in network.layers],
            "parameters": parameter_count(
                [placed.layer for placed in network.layers], network.input_size
            ),
            "classes": list(range(network.num_classes)),
            "shows_activations": self.shows_activations,
            "min_confidence": self.min_confidence,
        }
        run_dir = self.files.run_dir
        if run_dir is not None:
            run = _optional_json(run_dir / RUN_FILE)
            if isinstance(run, dict):
                data = run.get("data") or {}
                card["created"] = run.get("created")
                card["seed"] = run.get("seed")
                card["data"] = {"source": data.get("source"), "sizes": data.get("sizes")}
            metrics = _optional_json(run_dir / METRICS_FILE)
            if isinstance(metrics, dict):
                card["metrics"] = metrics
        return card


def _optional_json(path: Path) -> Any:
    try:
        return read_json(path)
    except ModelError:
        return None
