# Everything runs inside a local .venv that `make` creates on first use (and refreshes when
# pyproject.toml changes), so `make run` and `make test` work on a machine that has only Python 3.10+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint format bench model accuracy clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,export,sweep,serve,heif]'
	touch $(STAMP)

install: $(STAMP)

# The main job: train the reference recipe on the built-in digits (no download).
run: $(STAMP)
	$(BIN)/digitcli train --config configs/default.yaml

# Lint, type-check, then the test suite: what CI runs.
test: $(STAMP)
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest

# The same checks without the slow tests (subprocess TensorFlow, longer training): for quick iteration.
test-fast: $(STAMP)
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# Retrain the bundled model (`--model builtin`) from configs/real-pictures.yaml into
# src/digitcli/bundled/real-pictures/ (needs ../shared/data; ~5 min on 2 cores). Same seed, same model.
model: $(STAMP)
	$(BIN)/python -m digitcli.bundling

# The accuracy table of the README: the bundled model and the reference network (configs/mnist.yaml,
# trained once into bench/output/accuracy-runs/) on MNIST and each set in ../shared/data/real.
accuracy: $(STAMP)
	$(BIN)/python bench/accuracy.py

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
