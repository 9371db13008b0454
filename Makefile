# Two commands do everything on a fresh machine, set-up included:
#   make demo   set up, then run the main job on its embedded default
#   make test   set up, then lint and run the whole test suite
# Set-up builds .venv once from constraints.txt; a second run reinstalls nothing.
# EXTRA=gpu installs onnxruntime-gpu instead of onnxruntime (exactly one flavour is installed).

PYTHON ?= python3.11
EXTRA ?= cpu
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(EXTRA)
# SatelliteCloudGenerator (composites, jobs/ingest.py composite) declares torchvision, which pulls a
# second multi-GB torch; its code imports only torch, numpy, matplotlib and kornia. So it and
# kornia's own pieces are installed without their declared dependencies, at the versions pinned.
NO_DEPS := satellite-cloud-generator kornia kornia_rs imageio

.PHONY: setup demo test lint lock clean

setup: $(STAMP)

# py3nj (an escnn dependency) compiles Fortran; install gfortran when it is missing and we may.
$(STAMP): pyproject.toml constraints.txt
	@command -v gfortran >/dev/null || { \
	  echo "installing gfortran (escnn's dependency py3nj compiles Fortran)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q gfortran >/dev/null; \
	  else sudo apt-get install -y -q gfortran >/dev/null; fi; } \
	  || { echo "error: gfortran is missing and could not be installed; run: sudo apt-get install gfortran"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRA),dev]"
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt $(NO_DEPS)
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python jobs/train.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every tier (-m "": the slow end-to-end tests too; plain `pytest` runs only the fast tier) on two pytest
# workers (one per core here), each test file on one worker (the longest first, tests/conftest.py).
test: lint
	$(BIN)/python -m pytest -m "" --numprocesses 2 --dist loadfile

# Re-pin constraints.txt from the current environment after changing pyproject.toml.
lock: $(STAMP)
	@{ sed -n '1,3p' constraints.txt; \
	   $(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\([0-9.]*\)+.*/torch==\1/'; \
	   grep '^onnxruntime-gpu==' constraints.txt; } > constraints.new && mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
