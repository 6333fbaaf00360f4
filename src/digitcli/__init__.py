"""digitcli: train, evaluate, explain and use a small handwritten-digit classifier from the shell.

Importing this package is cheap on purpose: TensorFlow, Matplotlib and scikit-learn are imported only
inside the functions that need them, so `digitcli --help` and NumPy predictions start fast.
"""

__version__ = "0.1.0"  # the one version source: pyproject.toml reads it (dynamic version)
