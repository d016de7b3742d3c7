# Two entry points: `make up` (bring up the dev stack) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: up test lint deps dev-deps clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

deps: $(BIN)/python requirements.txt
	$(BIN)/pip install --quiet -r requirements.txt

dev-deps: $(BIN)/python requirements-dev.txt requirements.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt

## Bring up (or converge) the stack: installs the Pulumi CLI if missing, local state by default.
up: deps
	$(BIN)/python -m automation up --stack $(STACK)

## Lint, type-check and run the whole test suite (no cluster, no Pulumi CLI needed).
test: dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 -q

lint: dev-deps
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
