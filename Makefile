# Two commands on a fresh machine: `make demo` and `make test`. Both create the virtual
# environment and install everything first; nothing else needs to be running.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit unit-external bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/brain demo

lint: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

# The same suite against a throwaway server set up like a managed Postgres: TCP with passwords,
# a non-superuser owner role, pgvector pre-installed by the operator (see tests/external_pg.py).
unit-external: install
	$(BIN)/python tests/external_pg.py $(BIN)/pytest -q

test: lint typecheck unit unit-external

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
