# Two commands do all the set-up on a fresh machine with only Python 3.11+:
#   make run    create .venv, install, migrate the embedded SQLite DB, serve on :3000
#   make test   create .venv, install, lint, type-check and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Let Python cache what it compiles (devflow, the tests' assertion rewriting) even where the
# environment turns that off: every server, CLI and notebook process of the suite imports devflow.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test lint typecheck pytest clean constraints

# constraints.txt pins every package to the versions CI was proven with (`make constraints` refreshes it).
# uv installs the pinned set in a fraction of the time pip takes; the system's pip only puts uv into
# the venv (a Python without pip gets pip in the venv first). Bytecode is compiled when first imported
# and cached (see unexport above), not at install: compiling all of site-packages costs more than the
# modules the suite imports.
$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(BIN)/python install -q -c constraints.txt uv \
	  || { $(BIN)/python -m ensurepip >/dev/null && $(BIN)/python -m pip install -q -c constraints.txt uv; }
	$(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/devflow serve

lint: $(BIN)/.installed
	$(BIN)/ruff check devflow tests bench
	$(BIN)/ruff format --check devflow tests bench

typecheck: $(BIN)/.installed
	$(BIN)/mypy

# One collection first compiles and caches what every worker imports (site-packages, the tests'
# rewritten assertions); the three workers would otherwise each compile the same modules at once.
pytest: $(BIN)/.installed
	$(BIN)/pytest --collect-only -q >/dev/null
	$(BIN)/pytest -n 3 --dist worksteal

# The type check runs beside the suite, which leaves part of the two cores idle while its tests wait.
test: lint
	$(MAKE) --no-print-directory -j2 --output-sync=target typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

constraints: $(BIN)/.installed
	$(BIN)/uv pip freeze --python $(BIN)/python --exclude-editable | grep -v '^devflow' > constraints.txt
