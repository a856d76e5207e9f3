# Two commands do all the set-up on a fresh machine with only Python 3.11+:
#   make run    create .venv, install, migrate the embedded SQLite DB, serve on :3000
#   make test   create .venv, install, lint, type-check and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest clean constraints

# constraints.txt pins every package to the versions CI was proven with (`make constraints` refreshes it).
$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/devflow serve

lint: $(BIN)/.installed
	$(BIN)/ruff check devflow tests bench
	$(BIN)/ruff format --check devflow tests bench

typecheck: $(BIN)/.installed
	$(BIN)/mypy

pytest: $(BIN)/.installed
	$(BIN)/pytest -n 3

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

constraints: $(BIN)/.installed
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^devflow' > constraints.txt
