"""Import TensorFlow and Keras quietly, once, only when a command needs them.

TensorFlow's C++ runtime writes start-up lines (absl, oneDNN, CUDA probing) straight to file
descriptor 2 while it loads, and no environment variable silences all of them in TF 2.21. So we point
fd 2 at /dev/null for the duration of the import only, then restore it: later warnings and digitcli's
own errors still reach the user. Set DIGITCLI_TF_LOGS=1 to see TensorFlow's messages.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import cast


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. some test runners): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_tensorflow() -> ModuleType:
    """Import and return `tensorflow` with its start-up noise silenced."""
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return sys.modules["tensorflow"]
    verbose = os.environ.get("DIGITCLI_TF_LOGS") == "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    context = contextlib.nullcontext() if verbose else stderr_silenced()
    with context:
        import keras  # noqa: F401  (imports TensorFlow; both are then cached in sys.modules)
        import tensorflow as tf

        # Build one tiny op so the runtime's lazy initialisation messages are printed now.
        tf.constant(0.0) + 1.0
    if not verbose:
        tf.get_logger().setLevel("ERROR")
    return cast(ModuleType, tf)  # TensorFlow ships no types: to mypy it is Any
