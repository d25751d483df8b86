"""Schemathesis against the app's own OpenAPI schema: generated requests (valid and invalid
data) for every operation, as an admin on seeded data, must never get a server error (5xx) and
must answer with a status code the schema documents."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.generation import GenerationMode  # noqa: E402

EXAMPLES = int(os.environ.get("CROSSWATCH_FUZZ_EXAMPLES", "25"))  # per operation and mode


def _operations(schema):
    for result in schema.get_all_operations():
        yield result.ok()


def test_no_server_errors_on_generated_requests(api, tmp_path):
    api.seed(events_per_crossing=3)
    headers = api.headers("admin")
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    ran: dict[str, int] = {}
    failures: list[str] = []
    for op in _operations(schema):
        label = f"{op.method.upper()} {op.path}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = op.as_strategy(generation_mode=mode)

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case):
                response = case.call(headers={**headers, **(case.headers or {})})
                ran[label] = ran.get(label, 0) + 1
                if response.status_code >= 500:
                    failures.append(f"{label} -> {response.status_code}: {case.as_curl_command()}")
                documented = op.definition.raw.get("responses", {})
                if (
                    str(response.status_code) not in documented
                    and "default" not in documented
                    and response.status_code not in (400, 401, 403, 404, 405, 413, 422)
                ):
                    failures.append(f"{label} -> undocumented {response.status_code}: {response.text[:200]}")

            try:
                run()
            except Unsatisfiable:
                pass  # nothing invalid can be generated for an operation without inputs
    total = sum(ran.values())
    print(f"schemathesis: {total} requests over {len(ran)} operations, {len(failures)} failures")
    assert len(ran) >= 30 and total >= 30 * EXAMPLES
    assert failures == [], "\n".join(failures)
