# Two commands do all the set-up on a fresh machine:
#   make demo   installs into .venv and runs the main job on the embedded registry
#   make test   installs into .venv, runs ruff and mypy, then the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# BrainIO 1.1.0 itself, on the libraries it was made for: the tests compare both libraries live.
REFERENCE_VENV ?= .venv-brainio
REFERENCE_PACKAGES := 'brainscore-brainio==1.1.0' 'numpy<2' 'pandas<2.2' 'xarray<2022.6' 'netCDF4<1.7'

.PHONY: demo test benchmark
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[test]'
	touch $@

$(REFERENCE_VENV)/.installed:
	$(PYTHON) -m venv $(REFERENCE_VENV)
	$(REFERENCE_VENV)/bin/python -m pip install --quiet $(REFERENCE_PACKAGES)
	touch $@

demo: $(VENV)/.installed
	$(BIN)/brainio-dvc demo

# The catalog site's browser tests drive the system's Chromium (Debian's package).
CHROMIUM ?= chromium

test: $(VENV)/.installed $(REFERENCE_VENV)/.installed
	command -v $(CHROMIUM) >/dev/null || { sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
	$(BIN)/ruff check brainio_dvc tests benchmarks
	$(BIN)/mypy
	BRAINIO_REFERENCE_PYTHON=$(abspath $(REFERENCE_VENV))/bin/python $(BIN)/python -m pytest

benchmark: $(VENV)/.installed
	$(BIN)/python -m benchmarks
