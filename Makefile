# Two commands for a new user: `make demo` and `make test`. Everything else is a building block.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP  := $(VENV)/.installed
# pytest-xdist workers for the tests other than e2e (each has its own AIRFLOW_HOME and SQLite). They
# mostly wait on the simulator; on 2 cores 3 or 4 workers were no faster than 2 (CPU-bound by then).
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist worksteal

.PHONY: help install system-deps lint types unit e2e docs test demo bench clean

help:
	@echo "make demo   - run the example DAG end to end against the bundled WapiFlow simulator"
	@echo "make test   - lint, types, docs and every test (browser, Celery and package e2e included;"
	@echo "              TEST_WORKERS=2 parallel workers, then the e2e tests one at a time);"
	@echo "              as root it apt-get installs chromium, postgresql and redis-server when missing"
	@echo "make e2e    - only the end-to-end tests (Airflow UI in headless Chromium, real scheduler)"
	@echo "make bench  - benchmarks against the simulator (writes benchmarks/results.json)"

# A pinned environment: every package comes from constraints.txt, so every machine gets the same set.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	$(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Debian packages the e2e tests drive: chromium, postgresql, redis-server (installed as root when missing).
system-deps:
	@tools/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not e2e"

e2e: $(STAMP) system-deps
	$(BIN)/pytest -m e2e

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# --durations: every run shows where the 10-minute budget of make test goes.
# The e2e tests run after the others, serially: each starts a whole Airflow deployment (or Chromium,
# PostgreSQL and Redis) and keeps a core busy: run next to other tests, each took two to seven times
# as long.
# Both runs always happen; make test fails if either failed.
test: system-deps lint types docs
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not e2e" --durations=12; unit=$$?; \
	$(BIN)/pytest -m e2e --durations=12; e2e=$$?; \
	test $$unit -eq 0 && test $$e2e -eq 0

demo: $(STAMP)
	$(BIN)/python tools/demo.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) docs/_build .mypy_cache .ruff_cache .pytest_cache
