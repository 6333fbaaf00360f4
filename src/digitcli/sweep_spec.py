"""The sweep spec: which config to start from, which keys to search and how, what to optimise.

A YAML file validated as strictly as a config (unknown keys are errors), for example:

    study: reference                 # the study's name (default: the file's name)
    base: ../configs/default.yaml    # relative to this file
    set: [train.epochs=20]           # fixed overrides for every trial
    metric: validation.accuracy      # maximised (accuracy) or minimised (loss)
    trials: 12
    pruner: median                   # or none
    search:
      train.learning_rate: {float: [0.0003, 0.01], log: true}
      train.batch_size: {choices: [16, 32, 64]}
      model.layers.0.units: {int: [16, 64], step: 8}

Every searched key is checked against the base config when the spec is loaded (its lowest and
highest value, or each choice), so a typo fails before the first trial.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from digitcli.config import Config, _describe_validation_error, load_config, read_yaml_document
from digitcli.errors import ConfigError
from digitcli.vocabulary import Direction, Metric, PrunerKind

Scalar = bool | int | float | str | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrunerSpec(_Strict):
    kind: PrunerKind = Field(PrunerKind.median, description="median or none.")
    startup_trials: int = Field(
        3, ge=0, description="Trials that always run to the end before any is pruned."
    )
    warmup_epochs: int = Field(2, ge=0, description="Epochs every trial runs before pruning.")


class SearchParam(_Strict):
    """One searched key: `float: [low, high]`, `int: [low, high]` or `choices: [...]`."""

    float_range: tuple[float, float] | None = Field(None, alias="float")
    int_range: tuple[int, int] | None = Field(None, alias="int")
    choices: list[Scalar] | None = Field(None, min_length=1)
    log: bool = Field(False, description="Sample on a log scale (ranges only).")
    step: float | None = Field(None, gt=0, description="Grid step (ranges only).")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _one_kind(self) -> SearchParam:
        given = [self.float_range, self.int_range, self.choices]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of float: [low, high], int: [low, high], choices")
        bounds = self.float_range or self.int_range
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError(f"the range's low end must be below its high end (got {list(bounds)})")
        if self.choices is not None and (self.log or self.step is not None):
            raise ValueError("log and step apply to ranges, not choices")
        if self.log and bounds is not None and bounds[0] <= 0:
            raise ValueError("log: true needs a range with a positive low end")
        if self.log and self.step is not None:
            raise ValueError("choose log or step, not both")
        if self.int_range is not None and self.step is not None and self.step != int(self.step):
            raise ValueError("an int range's step must be a whole number")
        return self

    def extremes(self) -> list[Scalar]:
        """The values that must all make a valid config."""
        if self.choices is not None:
            return list(self.choices)
        bounds = self.float_range or self.int_range
        assert bounds is not None
        return [bounds[0], bounds[1]]


class SweepSpec(_Strict):
    study: str | None = Field(
        None,
        min_length=1,
        max_length=80,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="The study's name (default: the spec file's name).",
    )
    base: str | None = Field(
        None, description="The config every trial starts from, relative to the spec file."
    )
    set: list[str] = Field(
        default_factory=list, description="Fixed KEY=VALUE overrides applied to every trial."
    )
    metric: Metric = Field(Metric.validation_accuracy, description="What a trial scores.")
    direction: Direction | None = Field(
        None, description="maximize or minimize (default: maximize accuracy, minimize loss)."
    )
    trials: int = Field(gt=0, le=100_000, description="Trials in the whole study, all processes.")
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    seed: int = Field(0, ge=0, description="Seeds the sampler (worker i uses seed + i).")
    search: dict[str, SearchParam] = Field(min_length=1, description="Config key -> its values.")

    @field_validator("pruner", mode="before")
    @classmethod
    def _pruner_by_name(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @property
    def resolved_direction(self) -> Direction:
        if self.direction is not None:
            return self.direction
        return Direction.maximize if self.metric.score == "accuracy" else Direction.minimize


def override(key: str, value: Scalar) -> str:
    """`KEY=VALUE` with the value in JSON, which YAML (and so `--set`) reads back unchanged."""
    import json

    return f"{key}={json.dumps(value)}"


class LoadedSpec:
    """A validated spec with its file's location: the base config path resolved against it."""

    def __init__(self, spec: SweepSpec, path: Path) -> None:
        self.spec = spec
        self.path = path
        self.study = spec.study or path.stem
        self.base = (path.parent / spec.base) if spec.base is not None else None

    def trial_config(self, params: dict[str, Scalar], extra: list[str] | None = None) -> Config:
        overrides = [*self.spec.set, *(override(k, v) for k, v in params.items()), *(extra or [])]
        return load_config(self.base, overrides)


def load_spec(path: Path) -> LoadedSpec:
    """Read and check a sweep spec; every failure is one ConfigError line."""
    document = read_yaml_document(path)
    try:
        spec = SweepSpec.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, str(path))) from exc
    loaded = LoadedSpec(spec, path)
    base = loaded.trial_config({})
    for key, param in spec.search.items():
        for value in param.extremes():
            try:
                load_config(None, [override(key, value)], base=base)
            except ConfigError as exc:
                # Name the spec's key, not the override it was tried as.
                reason = re.sub(r"^(run config \(with --set\)|--set \S+): ", "", exc.message)
                raise ConfigError(f"{path}: search.{key}: {reason}") from exc
    return loaded
