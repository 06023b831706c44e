# tule: `make run` starts the server, `make test` runs the whole suite. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./.tule
PYTEST_ARGS ?=

.PHONY: install run test demo bench bench-algorithms bench-training bench-hosting bench-streams bench-lake lint coverage clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/tule serve --host 127.0.0.1 --port 4566 --data-dir $(DATA_DIR)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/python demo/quickstart.py
	$(BIN)/python demo/ml_tour.py
	$(BIN)/python demo/data_tour.py

bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/s3.py

bench-algorithms: install
	$(BIN)/python benchmarks/algorithms_xgboost.py
	$(BIN)/python benchmarks/algorithms_linear_learner.py
	$(BIN)/python benchmarks/algorithms_unsupervised.py

# The endpoint benchmark drives load with wrk (Debian); installed here when missing and possible.
bench-hosting: install
	@command -v wrk >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null) || echo "wrk not installed: throughput is skipped"
	cd benchmarks && ../$(BIN)/python endpoints.py
	cd benchmarks && ../$(BIN)/python transform.py

bench-training: install
	$(BIN)/python benchmarks/executor_start.py
	$(BIN)/python benchmarks/training.py

bench-streams: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/streams.py
	$(BIN)/python benchmarks/streams_firehose.py

bench-lake: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/athena.py
	$(BIN)/python benchmarks/athena_tpch.py

lint: install
	$(BIN)/ruff check src tests benchmarks demo
	$(BIN)/ruff format --check src tests benchmarks demo
	$(BIN)/lint-imports

coverage: install
	$(BIN)/tule coverage --write docs/coverage.md --readme README.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
