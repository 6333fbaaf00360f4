"""Generate the config reference (every key, its type, default and meaning) from the config models.

The pydantic models in `digitcli.config` are the single source of truth: types, bounds and defaults
come from the fields, meanings from `Field(description=...)`, section introductions from the model
docstrings. `docs/config-reference.md` is this module's output, and a test fails when the two differ:

    python -m digitcli.config_reference > docs/config-reference.md
"""

from __future__ import annotations

import sys
import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from digitcli.config import Config, DataConfig, ModelConfig, SourceEntry

# Rules that involve several keys live in model validators, which cannot be introspected; they are
# stated here, next to the generator, so the reference still mentions them.
_CROSS_KEY_RULES: dict[type[BaseModel], str] = {
    DataConfig: "`validation_fraction + test_fraction` must stay below 0.9, leaving at least 10% "
    "of the images to train on. With `sources`, leave `source` and `path` unset; each source is "
    "split on its own as it would be alone (its own test split if it has one, else "
    "`test_fraction` of it), so its test images never reach training; the test split is the "
    "union of the sources' test splits, and metrics.json also reports each one as `test:<name>`.",
    SourceEntry: "Names must differ between sources (two files of the same name need a `name`).",
    ModelConfig: "Layers run in order on the 400 pixels of the canonical image. A spatial layer "
    "(`conv2d`, `max_pool`, `avg_pool`) reads them as a 20x20x1 image; `dense` needs a flat input, "
    "so after spatial layers put a `flatten` first (it is never implied). Shapes are checked when "
    "the config is loaded: a layer that does not fit the output of the one before it is an error "
    "naming the layer. The last layer is the output: `dense` with 10 units and `linear` activation "
    "(the loss is computed from logits).",
}

_INTRO = """\
# Config reference

<!-- Generated from src/digitcli/config.py by
     `python -m digitcli.config_reference > docs/config-reference.md` (or `digitcli config reference`).
     Do not edit by hand: tests/test_config_cmd.py fails when this file and the config models differ. -->

A config is a YAML file holding any of the keys below. Every key is optional: a missing key takes
its default (an empty file means every default), and unknown keys, a key given twice, `true` where
a number belongs and decimals where a whole number belongs are errors (so a typo cannot be silently
ignored). A layer list adding up to more than 20,000,000 parameters is refused. Use one with
`digitcli train --config FILE`, and change single values on the command line with
`--set KEY.PATH=VALUE` (for example `--set train.epochs=5` or `--set model.layers.0.units=64`),
which wins over the file.

- `digitcli config show [--config FILE] [--set ...]` prints every setting, resolved, as YAML: a
  starting point to redirect into a file and edit.
- `digitcli config validate FILE...` checks config files without training.

Types: *integer*, *number* (a decimal), *boolean* (`true`/`false`), *string*; `null` means "not
set". Intervals give the allowed range: `[0, 1)` includes 0 and excludes 1.
"""


@dataclass
class _Section:
    path: str  # dotted key prefix, "" for the top level
    intro: str
    title: str = ""  # the heading, when the path alone does not tell sections apart
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)


def _cell(text: str) -> str:
    """One Markdown table cell: single line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _model_class(annotation: Any) -> type[BaseModel] | None:
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def _list_item_models(annotation: Any) -> list[type[BaseModel]]:
    """The model(s) a list of mappings holds: one, or each member of a tagged union (layers)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in _UNIONS and type(None) in args:  # an optional list
        (annotation,) = [arg for arg in args if arg is not type(None)]
    if typing.get_origin(annotation) is not list:
        return []
    (item,) = typing.get_args(annotation)
    if typing.get_origin(item) is typing.Annotated:
        item = typing.get_args(item)[0]
    members = typing.get_args(item) if typing.get_origin(item) in _UNIONS else (item,)
    members = tuple(  # a tagged union's members are Annotated[Model, Tag(...)]
        typing.get_args(member)[0] if typing.get_origin(member) is typing.Annotated else member
        for member in members
    )
    return [model for model in map(_model_class, members) if model is not None]


_UNIONS = (typing.Union, types.UnionType)


def _bounds(info: FieldInfo) -> str:
    """`[0, 1)`-style interval, or `> 0`-style bound, from the field's constraint metadata."""
    # Pydantic keeps `Field(ge=0, lt=1)` as annotated-types objects (Ge, Lt, ...) in `metadata`.
    found: dict[str, Any] = {}
    for item in info.metadata:
        for name in ("ge", "gt", "le", "lt", "min_length"):
            if getattr(item, name, None) is not None:
                found[name] = getattr(item, name)
    low_open, high_open = "gt" in found, "lt" in found
    low = found.get("gt", found.get("ge"))
    high = found.get("lt", found.get("le"))
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    min_length = found.get("min_length")
    if min_length is not None:
        return "non-empty" if min_length == 1 else f"at least {min_length} long"
    return ""


def _type_name(annotation: Any, info: FieldInfo, key: str) -> str:
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in _UNIONS and type(None) in args:
        (inner,) = [arg for arg in args if arg is not type(None)]
        return f"{_type_name(inner, info, key)}, or null"
    if origin is typing.Literal:
        return "always " + ", ".join(f"`{value}`" for value in args)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    if _list_item_models(annotation):
        bounds = _bounds(info)
        size = " (at least 1)" if bounds == "non-empty" else ""
        return f"list of mappings, see `{key}.N`{size}"
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    name = names.get(annotation, getattr(annotation, "__name__", str(annotation)))
    bounds = _bounds(info)
    if bounds == "non-empty":
        return f"non-empty {name}"
    return f"{name} {bounds}".strip()


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.default_factory() if info.default is PydanticUndefined else info.default  # type: ignore[call-arg,misc]
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [
            item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in value
        ]
    elif isinstance(value, Enum):
        value = value.value
    # Flow-style YAML: exactly what a user would write in a config file.
    shown = yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip()
    return f"`{shown.removesuffix('...').strip()}`"


def _walk(model: type[BaseModel], path: str, sections: list[_Section], intro: str) -> None:
    rules = _CROSS_KEY_RULES.get(model, "")
    doc = " ".join((model.__doc__ or "").split()) if model.__doc__ else ""
    tagged = intro.startswith("An item of")  # one type of a tagged union: its docstring says more
    text = " ".join(part for part in (intro, doc if tagged else "", rules) if part) or doc
    section = _Section(path, text, title=f"`{path}`, `type: {_tag(model)}`" if tagged else "")
    sections.append(section)
    nested: list[tuple[type[BaseModel], str, str]] = []
    # A layer's `type` first: it decides what the other keys are.
    fields = sorted(model.model_fields.items(), key=lambda item: item[0] != "type")
    for name, info in fields:
        key = f"{path}.{name}" if path else name
        sub_model = _model_class(info.annotation)
        if sub_model is not None:
            nested.append((sub_model, key, info.description or ""))
            continue
        section.rows.append(
            (
                f"`{key}`",
                _type_name(info.annotation, info, key),
                _default_text(info),
                info.description or "",
            )
        )
        item_models = _list_item_models(info.annotation)
        if len(item_models) == 1:
            nested.append((item_models[0], f"{key}.N", f"Each item of `{key}` (N counts from 0)."))
        for item_model in item_models if len(item_models) > 1 else []:
            tag = _tag(item_model)
            nested.append((item_model, f"{key}.N", f"An item of `{key}` with `type: {tag}`."))
    for sub_model, key, sub_intro in nested:
        _walk(sub_model, key, sections, sub_intro)


def _tag(model: type[BaseModel]) -> str:
    """The `type` value that selects `model` in a tagged union."""
    return str(typing.get_args(model.model_fields["type"].annotation)[0])


def render_reference() -> str:
    """The Markdown reference for every config key, generated from `digitcli.config.Config`."""
    sections: list[_Section] = []
    _walk(Config, "", sections, "")
    parts = [_INTRO]
    for section in sections:
        if not section.rows:
            continue
        title = section.title or ("Top level" if not section.path else f"`{section.path}`")
        lines = [f"## {title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        lines += ["| Key | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in section.rows]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def main() -> None:
    sys.stdout.write(render_reference())


if __name__ == "__main__":
    main()
