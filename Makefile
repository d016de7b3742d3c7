# Entry points: `make up` (bring up the dev stack), `make test` (the fast suite), `make e2e` (the real-engine suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: up test e2e e2e-toolchain lint deps dev-deps browser screenshots clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

deps: $(BIN)/python requirements.txt
	$(BIN)/pip install --quiet -r requirements.txt

dev-deps: $(BIN)/python requirements-dev.txt requirements.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt

## Bring up (or converge) the stack: installs the Pulumi CLI if missing, local state by default.
## No kube context at all: creates the `kommander` kind cluster first (tools/kind-up.sh).
up: deps
	tools/kind-up.sh $(STACK)
	$(BIN)/python -m automation up --stack $(STACK)

## Headless Chromium for the dashboard's browser tests: Debian's chromium package (apt-get when root).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x "$(CHROMIUM)" || command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "the dashboard's browser tests need Chromium: install Debian's chromium package (sudo apt-get install chromium) or set CHROMIUM=/path/to/chromium" >&2; exit 1; \
	  fi; }

## The README's dashboard screenshots (docs/images/dashboard-*.png), from the browser tests.
screenshots: dev-deps browser
	DASHBOARD_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q -p no:xdist tests/test_dashboard_browser.py

## Lint, type-check and run the whole test suite (no cluster, no Pulumi CLI needed; Chromium for the dashboard).
test: dev-deps browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 -q --ignore=tests/e2e

## The e2e toolchain (pulumi, language host, providers, kube-apiserver, etcd): release downloads, else Go builds.
e2e-toolchain:
	tools/e2e/install.sh >/dev/null

## The real-engine suite: the real pulumi engine and providers against a real kube-apiserver (tests/e2e).
e2e: dev-deps
	root="$$(tools/e2e/install.sh)" && KOMMANDER_E2E_ROOT="$$root" $(BIN)/python -m pytest tests/e2e -q -p no:xdist

lint: dev-deps
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
