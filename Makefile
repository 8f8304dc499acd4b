# chengyun — the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
DATA   ?= .demo-data

.PHONY: demo test check lint typecheck bench serve clean lock

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "chengyun needs Python 3.11 or newer / 需要 Python 3.11 及以上版本")'
	$(PYTHON) -m venv $(VENV)

# uv (itself pinned by hash in requirements/tools.lock) installs the locked packages:
# the same pins as pip would, several times faster.
$(BIN)/uv: requirements/tools.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/tools.lock

$(VENV)/.installed-main: requirements/main.lock pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements/main.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: requirements/dev.lock pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements/dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@ $(VENV)/.installed-main

## demo: build a fresh demo sub-district on SQLite and serve it on http://127.0.0.1:$(PORT)
demo: $(VENV)/.installed-main
	$(BIN)/chengyun demo --port $(PORT) --data-dir $(DATA)

## test: the whole suite (SQLite always; PostgreSQL when reachable, required when CI=true)
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## check: lint, type-check and test
check: lint typecheck test

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

## bench: run the benchmarks under bench/ and append their figures to bench/RESULTS.md
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench $(BENCH)

serve: $(VENV)/.installed-main
	$(BIN)/chengyun serve

## lock: re-resolve the pinned dependencies (needs network)
lock: | $(BIN)/uv
	$(BIN)/uv pip compile requirements/tools.in -o requirements/tools.lock --generate-hashes --python-version 3.11 -q
	$(BIN)/uv pip compile pyproject.toml -o requirements/main.lock --generate-hashes --python-version 3.11 -q
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements/dev.lock --generate-hashes --python-version 3.11 -q

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .mypy_cache .ruff_cache
