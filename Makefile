# nrep: `make help` lists the targets.
# The first `make run` or `make test` creates .venv and installs nrep into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch build to install first. The default is the CPU build this project is
# tested with; for a GPU, e.g.:  make install TORCH_INDEX=https://download.pytorch.org/whl/cu126
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
FULL ?=
BENCH_ARGS ?=

.PHONY: help install run test test-all bench-loop clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip setuptools wheel
	$(BIN)/pip install "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## create .venv: torch first (TORCH_SPEC, TORCH_INDEX), then nrep with its dev extra

run: $(STAMP) ## the main job: `nrep loop` with its defaults (about a minute on 2 cores)
	$(BIN)/nrep loop

test: $(STAMP) ## the fast test suite (a few minutes on 2 cores)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP) ## every test, the slow ones included
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench-loop: $(STAMP) ## loop benchmark: methods x optimisers, 5 seeds (FULL=1: n=1000); ~25 min
	$(BIN)/python benchmarks/loop_bench.py $(if $(FULL),--sizes 1000 --budget-s 120) $(BENCH_ARGS)

clean: ## remove the virtual environment, caches and build files (results/ is kept)
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
