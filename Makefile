# Two commands on a fresh machine: `make demo` and `make test`. Both create the virtual
# environment and install everything first; nothing else needs to be running.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test lint typecheck unit unit-external bench clean

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

# Debian's chromium + chromium-driver for the inspector page's browser test (never a downloaded
# browser). Installed with apt-get (sudo when not root) only when missing; without apt-get it says
# so, and fails in CI, where tests/test_inspector_page.py would fail anyway.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	else \
	  echo "make browser: no apt-get; install chromium and chromedriver for tests/test_inspector_page.py" >&2; \
	  [ -z "$$CI" ]; \
	fi

unit: install browser
	$(BIN)/pytest -q

# The same suite against a throwaway server set up like a managed Postgres: TCP with passwords,
# a non-superuser owner role, pgvector pre-installed by the operator (see tests/external_pg.py).
unit-external: install browser
	$(BIN)/python tests/external_pg.py $(BIN)/pytest -q

test: lint typecheck unit unit-external

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
