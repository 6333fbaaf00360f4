"""The layer table: every type's NumPy forward pass matches its Keras layer, shapes are checked
when a config loads, and a flat 400-pixel input reaches spatial layers as the 20x20 image."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from digitcli.config import ModelConfig, load_config
from digitcli.errors import ConfigError
from digitcli.export import sample_images
from digitcli.inference import NumpyModel
from digitcli.layers import LAYER_TYPES, Conv2D, Dense, plan
from digitcli.softmax import my_softmax
from digitcli.weights import save_keras_weights

OUTPUT = {"units": 10, "activation": "linear"}

# A small network around each layer type, using its options. A new type needs an entry here: the
# agreement test below runs over the table itself, so a missing entry fails rather than skips.
EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "dense": [{"units": 16, "activation": "sigmoid"}, {"units": 12, "activation": "tanh"}, OUTPUT],
    "conv2d": [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "strides": 2},
        {"type": "conv2d", "filters": 5, "kernel_size": 4, "activation": "tanh"},
        {"type": "flatten"},
        OUTPUT,
    ],
    "max_pool": [
        {"type": "conv2d", "filters": 3, "kernel_size": 5, "activation": "linear"},
        {"type": "max_pool", "pool_size": 3, "strides": 2},
        {"type": "max_pool"},
        {"type": "flatten"},
        OUTPUT,
    ],
    "avg_pool": [
        {"type": "avg_pool", "pool_size": 2},
        {"type": "conv2d", "filters": 6, "kernel_size": 3, "activation": "sigmoid"},
        {"type": "avg_pool", "pool_size": 3, "strides": 1},
        {"type": "flatten"},
        OUTPUT,
    ],
    "flatten": [{"type": "flatten"}, {"units": 8}, {"type": "flatten"}, OUTPUT],
    "batch_norm": [
        {"type": "conv2d", "filters": 3, "kernel_size": 3, "activation": "linear"},
        {"type": "batch_norm"},
        {"type": "max_pool"},
        {"type": "flatten"},
        {"units": 12, "activation": "linear"},
        {"type": "batch_norm", "epsilon": 0.01},
        OUTPUT,
    ],
    "dropout": [
        {"type": "dropout", "rate": 0.3},
        {"type": "conv2d", "filters": 2, "kernel_size": 3},
        {"type": "dropout", "rate": 0.5},
        {"type": "flatten"},
        {"units": 16},
        {"type": "dropout"},
        OUTPUT,
    ],
}


@pytest.mark.parametrize("layer_type", sorted(LAYER_TYPES))
def test_numpy_forward_pass_matches_keras_for_every_layer_type(
    layer_type: str, tmp_path: Path
) -> None:
    import keras

    from digitcli.model import build_model

    model_config = ModelConfig.model_validate({"layers": EXAMPLES[layer_type]})
    assert layer_type in {layer.type_name for layer in model_config.layers}
    keras.utils.set_random_seed(1)
    model = build_model(model_config)
    # Random weights everywhere, biases included (Keras starts them at zero); variances positive.
    rng = np.random.default_rng(2)
    for variable in model.weights:
        value = rng.normal(0, 0.5, variable.shape).astype(np.float32)
        variable.assign(np.abs(value) + 0.1 if "variance" in variable.path else value)
    save_keras_weights(model, model_config.layers, tmp_path / "weights.npz")
    numpy_model = NumpyModel.load(tmp_path / "weights.npz")

    x = sample_images(64)  # real digits, canonical 400-pixel rows
    expected = np.asarray(model(x, training=False))
    np.testing.assert_allclose(
        my_softmax(numpy_model.logits(x)), my_softmax(expected), atol=1e-5, rtol=0
    )
    np.testing.assert_allclose(numpy_model.logits(x), expected, atol=1e-4, rtol=0)
    # Chunked or not, the same numbers (up to BLAS's blocking, which depends on the row count).
    np.testing.assert_allclose(
        numpy_model.logits(x, batch_size=7), numpy_model.logits(x), atol=1e-5, rtol=0
    )
    assert numpy_model.logits(x).dtype == np.float32


def test_every_example_network_is_valid_and_every_type_has_one() -> None:
    assert set(EXAMPLES) == set(LAYER_TYPES)


def test_each_table_entry_is_tagged_with_its_type() -> None:
    for tag, kind in LAYER_TYPES.items():
        assert typing.get_args(kind.model_fields["type"].annotation) == (tag,)


def test_spatial_layers_see_the_canonical_image_upright() -> None:
    """The flat input is `data.to_canonical`'s row-major 20x20 image: a horizontal bar stays one."""
    import keras

    from digitcli.data import to_canonical
    from digitcli.model import build_model

    picture = np.zeros((1, 28, 28), np.float32)
    picture[0, 12:16, 4:24] = 1.0
    flat = to_canonical(picture)
    rows, cols = np.nonzero(flat.reshape(20, 20) > 0.5)
    assert np.ptp(cols) > 2 * np.ptp(rows)
    model = build_model(ModelConfig.model_validate({"layers": EXAMPLES["conv2d"]}))
    seen = keras.Model(model.input, model.get_layer("image").output)(flat)
    np.testing.assert_array_equal(np.asarray(seen)[0, :, :, 0], flat.reshape(20, 20))


def test_layers_without_a_type_are_dense() -> None:
    config = ModelConfig.model_validate({"layers": [{"units": 7}, OUTPUT]})
    assert all(isinstance(layer, Dense) for layer in config.layers)
    first = config.layers[0]
    assert isinstance(first, Dense) and first.units == 7


def test_shapes_flow_through_the_layers() -> None:
    config = ModelConfig.model_validate(
        {
            "layers": [
                {"type": "conv2d", "filters": 8, "kernel_size": 5},
                {"type": "max_pool"},
                {"type": "conv2d", "filters": 16, "kernel_size": 3, "padding": "same"},
                {"type": "avg_pool", "pool_size": 3, "strides": 2},
                {"type": "flatten"},
                OUTPUT,
            ]
        }
    )
    shapes = [(p.input_shape, p.output_shape) for p in plan(config.layers)]
    assert shapes == [
        ((20, 20, 1), (16, 16, 8)),
        ((16, 16, 8), (8, 8, 8)),
        ((8, 8, 8), (8, 8, 16)),
        ((8, 8, 16), (3, 3, 16)),
        ((3, 3, 16), (144,)),
        ((144,), (10,)),
    ]
    assert [p.name for p in plan(config.layers)][-2:] == ["flatten_5", "logits"]


CONV = "{type: conv2d, filters: 16, kernel_size: 3}"


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        (
            [
                CONV,
                "{type: max_pool, pool_size: 6}",
                CONV,
                "{type: conv2d, filters: 4, kernel_size: 5}",
            ],
            "model.layers.3 (conv2d): kernel 5x5 does not fit its 1x1x16 input",
        ),
        (
            [CONV, "{type: max_pool, pool_size: 20}"],
            "model.layers.1 (max_pool): pool 20x20 does not fit its 18x18x16 input",
        ),
        (
            [CONV, "{units: 10, activation: linear}"],
            "model.layers.1 (dense): needs a flat input, not the 18x18x16 output before it: "
            "put a flatten layer first",
        ),
        (
            ["{units: 25}", CONV],
            "model.layers.1 (conv2d): needs an image input, not the 25 values before it",
        ),
        (
            [CONV, "{type: flatten}"],
            "model.layers.1 (flatten): the last layer is the output and must be dense",
        ),
        (
            ["{type: conv2d, filters: 1, kernel_size: 21, padding: same}", "{type: flatten}"],
            "model.layers.1 (flatten): the last layer is the output",  # same padding always fits
        ),
        (
            ["{units: 10, activation: relu}"],
            "model.layers.0 (dense): the last layer must be linear",
        ),
        (
            ["{type: conv3d, filters: 1}"],
            "model.layers.0: unknown type 'conv3d' (known: 'dense', 'conv2d'",
        ),
        (
            ["{type: conv2d, filters: 8, kernel: 3}"],
            "unknown key model.layers.0.kernel",
        ),
        (
            ["{type: dropout, rate: 1.0}"],
            "model.layers.0.rate: Input should be less than 1",
        ),
    ],
)
def test_layers_that_do_not_fit_are_one_config_error_naming_the_layer(
    layers: list[str], expected: str
) -> None:
    text = "model:\n  layers:\n" + "".join(f"    - {layer}\n" for layer in layers)
    Path("c.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config("c.yaml")
    assert caught.value.message.startswith(f"c.yaml: {expected}")
    assert "\n" not in caught.value.message


def test_overrides_reach_the_keys_of_each_layer_type() -> None:
    Path("c.yaml").write_text(
        "model:\n  layers:\n"
        f"    - {CONV}\n    - {{type: flatten}}\n    - {{units: 10, activation: linear}}\n"
    )
    config = load_config("c.yaml", ["model.layers.0.filters=4", "model.layers.0.padding=same"])
    first = config.model.layers[0]
    assert isinstance(first, Conv2D) and (first.filters, first.padding.value) == (4, "same")
    with pytest.raises(ConfigError, match=r"unknown key model.layers.0.units \(known keys: act"):
        load_config("c.yaml", ["model.layers.0.units=4"])
