# The common commands. Each target sets up its own virtual environment first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit serve bench js clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $@

## demo: set up a demo project in ./growthos-data and serve it on http://127.0.0.1:8000
demo: $(BIN)/.installed
	$(BIN)/growthos demo

## test: lint, type-check and run the whole test suite (needs PostgreSQL and Redis on loopback)
test: lint typecheck unit

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed
	$(BIN)/pytest

serve: $(BIN)/.installed
	$(BIN)/growthos serve

## bench: the ingest benchmark (wrk against growthos serve and a bare ASGI app), compaction, and the query benchmark (Polars vs DuckDB on 10M events), see bench/RESULTS.md
bench: $(BIN)/.installed
	VENV=$(VENV) bench/ingest/run.sh $(BENCH_ARGS)
	VENV=$(VENV) bench/compaction/run.sh
	VENV=$(VENV) bench/query/run.sh $(QUERY_BENCH_ARGS)

## js: rebuild the browser SDK and the web components into api/static (needs node and npm; docs/sdk.md)
js:
	cd js && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
