"""Config loading: strict schema, one-line errors naming file and key, --set overrides, round trips."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitcli.config import Config, config_to_yaml, load_config, save_config
from digitcli.errors import ConfigError, ExitCode
from digitcli.layers import Dense
from digitcli.vocabulary import Activation

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_reference_recipe() -> None:
    config = load_config(None)
    assert config.model.layers == [
        Dense(units=25, activation=Activation.relu),
        Dense(units=15, activation=Activation.relu),
        Dense(units=10, activation=Activation.linear),
    ]
    assert config.model.input_size == 400
    assert (config.train.epochs, config.train.batch_size, config.train.learning_rate) == (
        40,
        32,
        0.001,
    )
    assert config.data.source.value == "digits"
    assert config.output.dir == "results"


def test_default_yaml_equals_builtin_defaults() -> None:
    assert load_config(REPO / "configs" / "default.yaml") == load_config(None)


@pytest.mark.parametrize("name", ["default.yaml", "mnist.yaml", "lab.yaml"])
def test_shipped_configs_validate(name: str) -> None:
    # Equal to the file's own mapping laid over the defaults: every key was read, none dropped.
    path = REPO / "configs" / name
    expected = Config.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert load_config(path) == expected


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_an_empty_config_means_every_default(text: str) -> None:
    assert load_config(write(Path("empty.yaml"), text)) == Config()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train:\n  epochs: 1e3\n", 1000),  # YAML reads 1e3 as a string
        ("train:\n  epochs: 7.0\n", 7),
    ],
)
def test_whole_numbers_written_as_decimals_are_accepted(text: str, expected: int) -> None:
    assert load_config(write(Path("c.yaml"), text)).train.epochs == expected


def test_learning_rate_in_exponent_notation_still_parses() -> None:
    config = load_config(write(Path("c.yaml"), "train:\n  learning_rate: 1e-3\n"))
    assert config.train.learning_rate == pytest.approx(0.001)


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(None, ["train.epochs=3", "model.layers.0.units=64", "seed=7"])
    save_config(config, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == config


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "train:\n  epochs: 9\n  batch_size: 16\n")
    config = load_config(path, ["train.epochs=5", "model.layers.0.units=64", "data.limit=100"])
    assert config.train.epochs == 5
    assert config.train.batch_size == 16  # untouched keys keep the file's value
    assert config.model.layers[0] == Dense(units=64, activation=Activation.relu)
    assert config.data.limit == 100


def test_override_values_are_yaml_scalars() -> None:
    config = load_config(None, ["train.learning_rate=1e-2", "data.augment.enabled=true"])
    assert config.train.learning_rate == pytest.approx(0.01)
    assert config.data.augment.enabled is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train:\n  epochz: 3\n", "c.yaml: unknown key train.epochz"),
        ("train:\n  epochs: -1\n", "c.yaml: train.epochs: Input should be greater than 0 (got -1)"),
        ("train:\n  epochs: 0\n", "c.yaml: train.epochs: Input should be greater than 0 (got 0)"),
        (
            "train:\n  batch_size: 0\n",
            "c.yaml: train.batch_size: Input should be greater than 0 (got 0)",
        ),
        (
            "train:\n  epochs: many\n",
            "c.yaml: train.epochs: expected a whole number, got 'many'",
        ),
        (
            "model:\n  layers:\n    - {units: 0}\n    - {units: 10, activation: linear}\n",
            "c.yaml: model.layers.0.units: Input should be greater than 0 (got 0)",
        ),
        (
            "model:\n  layers:\n    - {units: 25}\n    - {units: 9, activation: linear}\n",
            "c.yaml: model.layers.1 (dense): the last layer is the output and must have 10 "
            "units, not 9",
        ),
        ("model:\n  input_size: 784\n", "c.yaml: model.input_size: Input should be 400 (got 784)"),
        (
            "data:\n  source: kaggle\n",
            "c.yaml: data.source: Input should be 'digits', 'mnist', 'npz', 'npy' or 'folder' (got 'kaggle')",
        ),
        ("- 1\n- 2\n", "c.yaml: expected a YAML mapping of settings (key: value), got a list"),
        ("train: [epochs: 3\n", "c.yaml: YAML syntax error at line 2, column 1:"),
    ],
)
def test_bad_configs_give_one_line_naming_file_and_key(text: str, expected: str) -> None:
    path = write(Path("c.yaml"), text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message.startswith(expected)
    assert "\n" not in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.epoch=3", "--set train.epoch=3: unknown key train.epoch"),
        ("nope=1", "--set nope=1: unknown key nope"),
        ("model.layers.7.units=3", "--set model.layers.7.units=3: model.layers.7 is not an index"),
        ("train.epochs", "--set 'train.epochs': expected KEY.PATH=VALUE"),
        ("train.epochs=-2", "config (with --set): train.epochs: Input should be greater than 0"),
    ],
)
def test_bad_overrides_are_rejected_like_bad_keys(override: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert caught.value.message.startswith(expected)


def test_missing_file_and_directory() -> None:
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_config(Path("missing.yaml"))
    Path("folder").mkdir()
    with pytest.raises(ConfigError, match="folder: is a directory"):
        load_config(Path("folder"))


yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 100), st.floats(allow_nan=True), st.text(max_size=8)
)
yaml_documents = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                ["seed", "data", "model", "train", "output", "epochs", "layers", "units", "x"]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=yaml_documents)
def test_random_yaml_documents_only_raise_config_errors(document: object, tmp_path: Path) -> None:
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    try:
        config = load_config(path)
    except ConfigError as error:
        assert "\n" not in error.message
    else:
        assert (
            load_config(None, None).model_validate(yaml.safe_load(config_to_yaml(config))) == config
        )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=60))
def test_random_yaml_text_only_raises_config_errors(text: str, tmp_path: Path) -> None:
    path = tmp_path / "random.yaml"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(ConfigError):
        load_config(path)
