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
# the script that starts a one-node SLURM for make test-slurm
SLURM_START ?= ../shared/slurm/start-single-node.sh
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
FULL ?=
BENCH_ARGS ?=
# reproduce-*: QUICK=1 for the small versions; LAUNCHER=slurm_cpu (or any hydra/launcher)
# and LAUNCH_ARGS="hydra.launcher.partition=..." to run the full ones on a cluster.
QUICK ?=
LAUNCHER ?= joblib
LAUNCH_ARGS ?=
REPRODUCE_ROOT ?= results/reproduce

.PHONY: help install run test test-slurm test-all lint bench bench-loop bench-proteins fixed-seeds gpu-check gpu-wheels gpu-install clean reproduce-all \
	reproduce-fig2 reproduce-fig3 reproduce-fig4 reproduce-fig5 reproduce-fig6 reproduce-fig8

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip setuptools wheel
	$(BIN)/pip install "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -e ".[dev]"
	$(BIN)/python -m nrep.core.report.viewer_js || echo "note: 3Dmol.js not cached; nrep report --html fetches it when online"
	touch $(STAMP)

install: $(STAMP) ## create .venv: torch first (TORCH_SPEC, TORCH_INDEX), then nrep with its dev extra

run: $(STAMP) ## the main job: `nrep loop` with its defaults (about a minute on 2 cores)
	$(BIN)/nrep loop

test: $(STAMP) ## the fast test suite (a few minutes on 2 cores)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff over the code, the tests and the benchmarks (rules in pyproject.toml)
	$(BIN)/ruff check .

test-slurm: $(STAMP) ## the tests against a real SLURM (starts a one-node one here as root; minutes)
	bash $(SLURM_START)
	$(BIN)/python -m pytest -m slurm $(PYTEST_ARGS)

test-all: $(STAMP) ## every test, the slow ones included
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP) ## energies vs OpenMM CPU, slow-mode share, time to target (~8 min alone; needs NREP_PDB_DIR; FULL=1 adds n=10000)
	$(BIN)/python benchmarks/bench.py $(if $(FULL),--full) $(BENCH_ARGS)

# make gpu-check runs where it is called: with this checkout's .venv when there is one, else
# the machine's python3 (a GPU machine given the wheels of make gpu-wheels and make gpu-install)
GPU_ARGS ?=
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
GPU_WHEELS ?= .gpu-wheels
# what a machine with Python 3.12 and torch (but no network) lacks to run nrep, pinned to what
# hydra-core 1.3 takes; OpenMM's CUDA plugin loads only where CUDA 12's runtime libraries are
GPU_NEEDS := hydra-core==1.3.8 omegaconf==2.3.0 PyYAML==6.0.2 openmm==8.3.1 openmm-cuda-12==8.3.1 biopython==1.85 \
	PeptideBuilder==1.1.0
# sdists: their wheels are built here (pure Python)
GPU_BUILT := pdbfixer==1.12.0 antlr4-python3-runtime==4.9.3
gpu-check: ## every path on a GPU against the CPU, twice per seed (<= 4 min; GPU_ARGS="--device cpu --small" anywhere)
	$(GPU_PYTHON) benchmarks/gpu_check.py $(GPU_ARGS)

gpu-wheels: ## download here the cp312 manylinux wheels a GPU machine without network needs (into .gpu-wheels, ~20 MB)
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	$(PYTHON) -m pip download --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		--no-deps -d $(GPU_WHEELS) $(GPU_NEEDS) "setuptools>=68" wheel
	$(PYTHON) -m pip wheel --no-deps --no-build-isolation -w $(GPU_WHEELS) $(GPU_BUILT)
	du -sh $(GPU_WHEELS)

gpu-install: ## on the GPU machine: install the wheels of make gpu-wheels and nrep itself, offline
	$(GPU_PYTHON) -m pip install --no-index --find-links $(GPU_WHEELS) $(GPU_NEEDS) $(GPU_BUILT)
	$(GPU_PYTHON) -m pip install --no-index --find-links $(GPU_WHEELS) --no-deps -e .

fixed-seeds: $(STAMP) ## fixed-seed runs whose numbers a behaviour-preserving change keeps (~20 s; --write to record)
	$(BIN)/python benchmarks/fixed_seeds.py $(BENCH_ARGS)

bench-loop: $(STAMP) ## loop benchmark: methods x optimisers, 5 seeds (FULL=1: n=1000); ~25 min
	$(BIN)/python benchmarks/loop_bench.py $(if $(FULL),--sizes 1000 --budget-s 120) $(BENCH_ARGS)

bench-proteins: $(STAMP) ## proteins: GD/CG/GNN x Adam/L-BFGS, FIRE, OpenMM, variants, 3 energies (QUICK=1: 5AWL+2JOF, <30 min)
	$(BIN)/python benchmarks/protein_bench.py $(if $(QUICK),--quick) $(BENCH_ARGS)

# $(call reproduce,COMMAND,FIGURE,PARTS[,OPTIONAL_PDB]): one sweep per part (experiment=
# FIGURE/PART, or PART_quick with QUICK=1) into one dated directory, then `nrep report
# --html` over it. A part with failed runs does not stop the others; the target fails at
# the end. OPTIONAL_PDB (full runs only): a structure run as well when it can be had
# (downloaded, cached or in $$NREP_PDB_DIR), skipped with a note when not.
define reproduce
	@set -u; out="$(REPRODUCE_ROOT)/$(2)$(if $(QUICK),-quick)/$$(date +%Y-%m-%d_%H-%M-%S)"; failed=0; \
	for part in $(3); do \
	  echo "== $(2)/$${part}$(if $(QUICK),_quick) -> $$out/$${part}"; \
	  $(BIN)/nrep $(1) -m experiment=$(2)/$${part}$(if $(QUICK),_quick) hydra/launcher=$(LAUNCHER) $(LAUNCH_ARGS) --out "$$out/$${part}" || failed=1; \
	  $(if $(and $(4),$(if $(QUICK),,x)),$(BIN)/nrep $(1) -m experiment=$(2)/$${part} --pdb $(4) hydra/launcher=$(LAUNCHER) $(LAUNCH_ARGS) --out "$$out/$${part}-$(4)" || echo "note: $(4) skipped for $${part} (not available here, or its runs failed: see above)";) \
	done; \
	$(BIN)/nrep report "$$out" --out "$$out/report" --html || failed=1; \
	exit $$failed
endef

reproduce-fig2: $(STAMP) ## Fig. 2: loop layouts, GD/CG/GNN (QUICK=1: ~3 min on 2 cores)
	$(call reproduce,loop,fig2,layouts)

reproduce-fig3: $(STAMP) ## Fig. 3: loop energy vs time, GD/CG/GNN + L-BFGS/FIRE (QUICK=1: ~5 min)
	$(call reproduce,loop,fig3,methods baselines)

reproduce-fig4: $(STAMP) ## Fig. 4: speedup vs energy, GNN vs GD on proteins + baselines (QUICK=1: ~6 min)
	$(call reproduce,fold,fig4,gd gnn baselines openmm,3GB1)

reproduce-fig5: $(STAMP) ## Fig. 5: 2JOF RMSD vs time, GD / GNN hidden sizes / OpenMM MD (QUICK=1: ~4 min)
	$(call reproduce,fold,fig5,gd gnn md)

reproduce-fig6: $(STAMP) ## Fig. 6: 2JOF energy vs iteration and time, learning rates, starts (QUICK=1: ~5 min)
	$(call reproduce,fold,fig6,gd gnn openmm inits)

reproduce-fig8: $(STAMP) ## Fig. 8: CG vs GD on the simplified protein model (QUICK=1: ~3 min)
	$(call reproduce,fold,fig8,cg gd)

reproduce-all: reproduce-fig2 reproduce-fig3 reproduce-fig4 reproduce-fig5 reproduce-fig6 reproduce-fig8 ## every figure above, one after another

clean: ## remove the virtual environment, caches and build files (results/ is kept)
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
