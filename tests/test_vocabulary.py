"""The shared vocabulary stays the one home of digitcli's enums, and stays light.

The CLI imports `digitcli.vocabulary` at start-up to build its options, so it may import only the
standard library; and a second definition of a choice (a "mirror" enum) is what it replaced.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from enum import Enum
from pathlib import Path

from digitcli import vocabulary
from digitcli.config import ModelConfig

SOURCE = Path(vocabulary.__file__).resolve().parent
ENUM_BASES = {"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag"}
# Not a choice but the process's exit status; documented in errors.py beside the errors that set it.
ALLOWED = {("errors.py", "ExitCode")}


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):  # enum.Enum
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _enum_classes(path: Path, vocabulary_names: set[str]) -> list[str]:
    """Classes in `path` derived from an Enum, or from one of the vocabulary's enums."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            bases = {_base_name(base) for base in node.bases}
            if bases & (ENUM_BASES | vocabulary_names):
                found.append(node.name)
    return found


def test_no_enum_is_defined_outside_the_vocabulary() -> None:
    names = {
        name
        for name, value in vars(vocabulary).items()
        if isinstance(value, type) and issubclass(value, Enum)
    }
    assert {"DataSource", "PixelOrder", "InferenceEngine", "TrainingEngine"} <= names
    elsewhere = [
        f"{path.relative_to(SOURCE)}: {name}"
        for path in sorted(SOURCE.rglob("*.py"))
        if path.name != "vocabulary.py"
        for name in _enum_classes(path, names)
        if (str(path.relative_to(SOURCE)), name) not in ALLOWED
    ]
    assert elsewhere == [], "define choices in digitcli/vocabulary.py and import them from there"


def test_the_scan_finds_an_enum(tmp_path: Path) -> None:
    # The check above must be able to fail: it sees both spellings of a mirror.
    module = tmp_path / "mirror.py"
    module.write_text(
        "import enum\nfrom enum import Enum\n"
        "class A(str, Enum):\n    x = 'x'\n"
        "class B(enum.IntEnum):\n    y = 1\n"
        "class C:\n    pass\n",
        encoding="utf-8",
    )
    assert _enum_classes(module, set()) == ["A", "B"]


def test_vocabulary_imports_only_the_standard_library() -> None:
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import digitcli.vocabulary\n"
        "new = {name.split('.')[0] for name in set(sys.modules) - before}\n"
        "print(' '.join(sorted(new - set(sys.stdlib_module_names) - {'digitcli'})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == []
    tree = ast.parse(Path(vocabulary.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= set(sys.stdlib_module_names), imported


def test_sizes_agree() -> None:
    assert vocabulary.IMAGE_SHAPE == (vocabulary.IMAGE_SIDE, vocabulary.IMAGE_SIDE)
    assert vocabulary.INPUT_SIZE == vocabulary.IMAGE_SIDE**2
    # The config's input_size is a Literal type, which must spell the number out.
    annotation = ModelConfig.model_fields["input_size"].annotation
    assert typing.get_args(annotation) == (vocabulary.INPUT_SIZE,)
