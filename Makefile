# Two entry points for a fresh machine; each creates its own virtual environment in .venv.
#   make demo   install and run the main job: S-Mamba on ETTh1 beside its baselines (~3 min after the install)
#   make test   install and run the whole test suite (lint + pytest), as CI does
#   make bench  the selective-scan kernel benchmark (make bench-quick: about a minute)
#
# torch is pinned to the CPU build so that a machine without a GPU never downloads a
# multi-GB CUDA build. On a GPU machine: make test TORCH=torch  (takes the CUDA build).

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: demo test bench bench-quick lint clean

$(VENV)/.installed: pyproject.toml setup.py tsssm/kernels/selective_scan/csrc/cpu_scan.cpp \
		tsssm/kernels/scan2d/csrc/cpu_scan2d.cpp tsssm/kernels/csrc/vector_kernels.h
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is named in the same command as the package, so pip never resolves another build.
	$(BIN)/python -m pip install --quiet "$(TORCH)" -e ".[test,bench]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/tsssm run recipes/etth1_smamba.toml

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/kernels/bench.py

bench-quick: $(VENV)/.installed
	$(BIN)/python benchmarks/kernels/bench.py --quick

lint: $(VENV)/.installed
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info tsssm/kernels/*/_cpu_scan*.so
