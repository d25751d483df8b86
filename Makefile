# crosswatch — every task from a clean clone. The README's two commands are `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup assets check test demo bench eval clean

# Virtualenv + the package and its tools (torch/torchvision are pinned in pyproject.toml).
$(STAMP): pyproject.toml service/web/package.json service/web/package-lock.json
	bash scripts/system_packages.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	npm ci --prefix service/web --ignore-scripts --no-audit --no-fund --loglevel=error
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
	$(PY) -m service.cli demo
	$(PY) -m service.cli serve --demo

# The fast gate, from `make setup` alone (no model, clip, shared mirror, PostgreSQL or browser):
# ruff lint, ruff format, mypy, and the tests not marked needs_assets, postgres or slow (tests/conftest.py),
# with the assets folder and the mirror pointed at an empty folder as in a clean clone. Every step
# runs; it fails if any did. The tests run in CHECK_JOBS pytest-xdist workers (2: this project's 2-core
# machine; CHECK_JOBS=0 runs them in this process), a module's tests in one worker (--dist loadscope:
# its module fixtures are built once).
CHECK_JOBS ?= 2
check: setup
	@empty=$$(mktemp -d); failed=""; \
	echo "== ruff check";        $(VENV)/bin/ruff check --output-format concise . || failed="$$failed ruff-check"; \
	echo "== ruff format --check"; $(VENV)/bin/ruff format --check --output-format concise . || failed="$$failed ruff-format"; \
	$(VENV)/bin/mypy > $$empty.mypy 2>&1 & mypy_pid=$$!; \
	echo "== unit tests (mypy runs beside them)"; env -u CROSSWATCH_TEST_PG_URL YOLO_OFFLINE=1 CROSSWATCH_ASSETS_DIR=$$empty \
	  CROSSWATCH_ASSETS_MIRROR=$$empty $(PY) -m pytest -q -p no:cacheprovider -n $(CHECK_JOBS) --dist loadscope \
	  -m "not needs_assets and not postgres and not slow" \
	  || failed="$$failed tests"; \
	echo "== mypy"; wait $$mypy_pid || failed="$$failed mypy"; cat $$empty.mypy; \
	rm -rf "$$empty" "$$empty.mypy"; \
	if [ -n "$$failed" ]; then echo "make check failed:$$failed"; exit 1; fi; echo "make check passed"

# `make check` first, then the whole test suite, against SQLite and a throwaway PostgreSQL server started here.
test: check assets
	bash scripts/run_tests.sh

# `crosswatch bench` of every sample clip (one run each; JSON into $(BENCH_DIR)) and the
# accuracy table at the default rate and at full frame rate; then crosswatch beside plain ultralytics
# `track()` on the same clips, alternating (scripts/bench_vs_plain.py). Quote numbers from a quiet machine.
BENCH_DIR ?= docs/measurements/$(shell date +%Y-%m-%d)
bench: assets
	mkdir -p $(BENCH_DIR)
	for c in vn_rear_stopline hanoi_giangvo_langha makassar_alauddin_dusk nl_motorway_overpass intel_parking_lot; do \
	  $(PY) -m service.cli bench assets/sample_videos/$$c.mp4 --crossing sample_videos/$$c.crossing.yaml \
	    --device cpu --out $(BENCH_DIR)/$$c.bench.json > /dev/null || exit 1; \
	  $(PY) -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{sys.argv[2]:<24} {d['duration_s']:6.1f} s video  {d['wall_s']:6.1f} s wall  {d['realtime_factor']:5.2f}x  (pipeline {d['pipeline_realtime_factor']:.2f}x)\")" $(BENCH_DIR)/$$c.bench.json $$c; \
	done
	$(PY) scripts/bench_vs_plain.py hanoi_giangvo_langha vn_rear_stopline vn_rear_stopline@3240x1440 \
	  --runs 2 --out $(BENCH_DIR)/bench_vs_plain.json

eval: assets
	$(PY) -m service.cli eval assets/sample_videos
	$(PY) -m service.cli eval assets/sample_videos --detect-fps 0
	$(PY) -m service.cli eval assets/sample_videos/nl_motorway_overpass.mp4 --crossing sample_videos/nl_motorway_overpass.crossing.yaml \
	  --truth assets/sample_videos/nl_motorway_overpass.truth.json --reverse
	$(PY) -m service.cli eval assets/sample_videos/nl_motorway_overpass.mp4 --crossing sample_videos/nl_motorway_overpass.crossing.yaml \
	  --truth assets/sample_videos/nl_motorway_overpass.truth.json --reverse --detect-fps 0
	$(PY) -m service.cli eval assets/sample_videos/makassar_alauddin_dusk.mp4 --crossing sample_videos/makassar_alauddin_dusk.crossing.yaml \
	  --truth sample_videos/makassar_alauddin_dusk.truth.json --reverse

clean:
	rm -rf data test-artifacts .pytest_cache
