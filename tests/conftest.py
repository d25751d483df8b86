"""Test selection shared by the whole suite: what `make check` leaves out.

`make check` runs the tests that need nothing beyond `make setup` and take well under a second
each: `-m "not needs_assets and not postgres and not slow"`. `make test` runs everything.

- `needs_assets`: reads the model, the sample clips or the shared mirror (`make assets`). Set here on
  everything under tests/e2e and tests/ui, on tests marked `e2e` or `ui`, on tests that use one
  of ASSET_FIXTURES, on the modules in ASSET_MODULES; set by hand on the other tests that read assets.
- `slow`: takes seconds (child processes, servers, generated request floods). Set here on the
  modules in SLOW_MODULES (every test of them is like that), by hand on single tests elsewhere.
- `postgres`: needs the PostgreSQL server (the `postgres` parameter of the backend fixtures).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ASSET_DIRS = ("e2e", "ui")
# fixtures that read the sample clips, the shared mirror or downloaded models
ASSET_FIXTURES = frozenset({"vn_frames", "hanoi_frames", "offline_reader"})
# modules whose every test runs `crosswatch process` (which loads the plate models) in child processes
ASSET_MODULES = frozenset({"security/test_cli_battery.py"})
# measured with --durations on this 2-core machine: seconds per test, or a slow module-wide setup
SLOW_MODULES = frozenset(
    {
        "service/api/test_schemathesis.py",  # ~100 s of generated requests
        "service/cli/test_service_cli.py",  # the command line as a child process per test
        "service/runs/test_batch.py",  # a batch of child processes per test (20 s set-up)
        "service/runs/test_batch_kill.py",  # kills and restarts batches
        "service/runs/test_batch_ray.py",  # starts a local Ray instance
        "scripts/test_gpu_streams.py",  # the benchmark script as a child process
        "scripts/test_load_bench.py",  # starts the service and loads it
        "security/test_cli_battery.py",  # the command line, many rows as child processes
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = Path(str(item.path)).resolve().relative_to(HERE).as_posix()
        if (
            rel.split("/", 1)[0] in ASSET_DIRS
            or item.get_closest_marker("e2e")
            or item.get_closest_marker("ui")
            or ASSET_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            or rel in ASSET_MODULES
        ):
            item.add_marker(pytest.mark.needs_assets)
        if rel in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
