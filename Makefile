# Two commands on a fresh machine: `make run` (the main job) and `make test`.
# Both create .venv if it is missing and install the pinned dependencies.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 4200
UI_PORT ?= 5000

# Offline and quiet: no telemetry from MLflow or Prefect.
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install run test lint server ui notebook bench lock clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,bench]'
	touch $(STAMP)

run: install
	$(BIN)/aiops run

lint: install
	$(BIN)/ruff check src tests pipelines benchmarks
	$(BIN)/ruff format --check src tests pipelines benchmarks
	$(BIN)/mypy src

test: lint
	$(BIN)/pytest

server: install
	$(BIN)/aiops server --port $(PORT)

ui: install
	$(BIN)/aiops ui --port $(UI_PORT)

notebook: install
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser notebooks/

bench: install
	$(BIN)/python -m benchmarks

# Re-resolve the pinned set from pyproject.toml into requirements.lock.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade "pip>=24"
	.lock-venv/bin/python -m pip install --quiet torch==2.13.0 -e '.[dev,bench]'
	.lock-venv/bin/python -m pip freeze --exclude-editable \
		| sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/' > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache reports
