# The two commands of README.md. Each creates .venv on first use and installs what it needs.
#   make drone   train a spiking quadrotor controller (quick preset, CPU)
#   make test    run the test suite
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
SOURCES := setup.py pyproject.toml $(wildcard csrc/*)

.PHONY: test drone

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"

$(VENV)/.installed-%: $(BIN)/python $(SOURCES)
	$(BIN)/python -m pip install --quiet -e ".[$*]"
	touch $@

test: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet --no-deps "spikingjelly==2.0.0"
	$(BIN)/python -m pytest -q tests

drone: $(VENV)/.installed-rl
	$(BIN)/snnkern-drone train --preset quick
