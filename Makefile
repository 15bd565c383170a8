# The two commands: `make run` (the product on localhost) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint docs install clean screenshots

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/cornerstone up

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

docs: $(STAMP)
	$(BIN)/cornerstone docs

# The README's screenshots, taken by the browser tests on the demo data (never edited by hand).
screenshots: $(STAMP)
	CORNERSTONE_SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest tests/e2e -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
