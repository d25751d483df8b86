#!/usr/bin/env bash
# Runs the test suite; starts a throwaway PostgreSQL server unless CROSSWATCH_TEST_PG_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
export YOLO_OFFLINE=1
if [ -z "${CROSSWATCH_TEST_PG_URL:-}" ]; then
  CROSSWATCH_TEST_PG_URL="$(bash scripts/pg_test_server.sh start | tail -n1)"
  export CROSSWATCH_TEST_PG_URL
  trap 'bash scripts/pg_test_server.sh stop >/dev/null 2>&1 || true' EXIT
fi
.venv/bin/python -m pytest "$@"
