"""The models that ship inside the package (`src/digitcli/bundled/<name>/`), named `builtin`.

A bundled model's folder is a complete run (run.json, config.yaml, weights.npz, metrics.json,
calibration.json, history.csv) plus MODEL_CARD.md, without model.keras: the Keras model is rebuilt
from the weights when TensorFlow needs it (`model.load_model_files`). It is read-only: commands that
write beside a run (evaluate's record, plot, export) write elsewhere for it. `make model` retrains
it from its recipe (`configs/<name>.yaml`, `bench/make_model.py`).
Standard library only: `runs.resolve_model` imports it on every command.
"""

from __future__ import annotations

from pathlib import Path

BUILTIN = "builtin"  # what --model takes
DEFAULT_BUILTIN = "real-pictures"  # `builtin` alone names this one
MODEL_CARD = "MODEL_CARD.md"
BUNDLED_ROOT = Path(__file__).resolve().parent / "bundled"


def builtin_name(text: str) -> str | None:
    """The bundled model a --model value names (`builtin`, `builtin:<name>`), else None."""
    if text == BUILTIN:
        return DEFAULT_BUILTIN
    prefix = f"{BUILTIN}:"
    return text.removeprefix(prefix) if text.startswith(prefix) else None


def builtin_names() -> list[str]:
    if not BUNDLED_ROOT.is_dir():
        return []
    return sorted(child.name for child in BUNDLED_ROOT.iterdir() if (child / "run.json").is_file())


def bundled_dir(name: str = DEFAULT_BUILTIN) -> Path:
    return BUNDLED_ROOT / name


def builtin_label(name: str) -> str:
    """How commands name a bundled model to the user (stderr line, `model` fields)."""
    return f"{BUILTIN} {name} (bundled)"


def builtin_home(name: str) -> Path:
    """Where commands write what they would write into a run's folder (export/, plots/) for a
    bundled model, whose folder inside the package stays untouched: `./builtin-<name>/`."""
    return Path(f"{BUILTIN}-{name}")
