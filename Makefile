# The two set-up commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run test lint bench ranker clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "blendbot needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-train: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[train]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/blendbot run

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: $(VENV)/.installed
	$(BIN)/blendbot bench blend-overhead --json

# Optional: rebuild the shipped ranker (engines/ranker/data/) from the preference pairs in
# PAIRS, less a held-out part (HOLDOUT, by a hash of each line), whose accuracy it reports.
# Needs the train extra (torch==2.13.0 takes a CPU build); about 2 minutes on 2 cores.
PAIRS ?= ../shared/data/preferences/hh-rlhf-harmless-dev.jsonl
HOLDOUT ?= 0.2
ranker: $(VENV)/.installed-train
	$(BIN)/blendbot ranker train --pairs $(PAIRS) --holdout $(HOLDOUT) --no-feedback \
		--out engines/ranker/data
	$(BIN)/blendbot ranker eval --pairs $(PAIRS) --holdout $(HOLDOUT) \
		--model engines/ranker/data/ranker.onnx

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
