"""The strict pydantic base of every config model: unknown keys and loose scalars are errors.

Pydantic's lax mode reads `true` as 1 and truncates nothing but refuses "1e3"; these models accept
whole numbers however YAML spells them and refuse booleans where numbers belong. Config sections
(`digitcli.config`) and layer types (`digitcli.layers`) both derive from `StrictModel`.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def _scalar_type(annotation: Any) -> Any:
    """`int` for `int` and `int | None`; the annotation itself otherwise."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return inner[0] if len(inner) == 1 else annotation
    return annotation


def _whole_number(value: Any) -> Any:
    """Pydantic's lax mode reads `true` as 1 and cannot parse "1e308": be strict and say why."""
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got a boolean ({str(value).lower()})")
    number = value
    if isinstance(value, str):  # YAML reads 1e3 (no dot) as a string
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"expected a whole number, got {value!r}") from None
    if isinstance(number, float):
        if not math.isfinite(number) or number != int(number):
            raise ValueError(f"expected a whole number, got {value!r}")
        return int(number)
    return value


def _check_scalar(expected: Any, value: Any) -> Any:
    if expected is int:
        return _whole_number(value)
    if expected is float and isinstance(value, bool):
        raise ValueError(f"expected a number, got a boolean ({str(value).lower()})")
    if expected is bool and not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or info.field_name is None:
            return value
        return _check_scalar(_scalar_type(cls.model_fields[info.field_name].annotation), value)
