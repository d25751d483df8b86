# crosswatch — every task from a clean clone. The README's two commands are `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup assets test demo clean

# Virtualenv + the package and its tools (torch/torchvision are pinned in pyproject.toml).
$(STAMP): pyproject.toml
	bash scripts/system_packages.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Models and sample clips from models/manifest.yaml and sample_videos/manifest.yaml: copied from
# ../shared (or $CROSSWATCH_ASSETS_MIRROR), else downloaded; every SHA-256 checked; they land in
# assets/ (or $CROSSWATCH_ASSETS_DIR). Prints one line per file; fails on any mismatch.
assets: setup
	$(PY) -m detector.assets

# Process every bundled sample clip with its crossing file into the embedded SQLite database
# (data/crosswatch.db, evidence in data/evidence; re-running adds nothing), then serve it on
# http://127.0.0.1:8000 in demo mode (demo accounts printed; Ctrl-C stops).
demo: assets
	$(PY) -m detector.cli demo
	$(PY) -m detector.cli serve --demo

# The whole test suite, against SQLite and a throwaway PostgreSQL server started here.
test: assets
	bash scripts/run_tests.sh

clean:
	rm -rf data test-artifacts .pytest_cache
