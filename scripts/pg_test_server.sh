#!/usr/bin/env bash
# Throwaway PostgreSQL server for the test suite.
#
#   export CROSSWATCH_TEST_PG_URL="$(scripts/pg_test_server.sh | tail -n1)"   # start (or reuse)
#   scripts/pg_test_server.sh stop                                           # stop and delete it
#   scripts/pg_test_server.sh status                                         # URL if running
#
# Installs Debian's `postgresql` package when initdb/pg_ctl are missing (needs root), makes a
# cluster in $CROSSWATCH_PG_DIR (default: ${TMPDIR:-/tmp}/crosswatch-pg-$UID), runs it as the
# `postgres` OS user when we are root, listening on 127.0.0.1 on a free port (unix socket in the
# cluster dir), trust auth, fsync off. The last line on stdout is the SQLAlchemy URL; all progress
# goes to stderr. Running `start` again while it runs prints the same URL at once.
set -euo pipefail

CMD="${1:-start}"
BASE="${CROSSWATCH_PG_DIR:-${TMPDIR:-/tmp}/crosswatch-pg-$(id -u)}"
DATA="$BASE/data"
DBNAME="${CROSSWATCH_PG_DB:-crosswatch_test}"
PGUSER_NAME=postgres

say() { echo "pg_test_server: $*" >&2; }

find_bindir() {
    local d
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    # Debian keeps the server binaries off PATH, one folder per major version: take the newest.
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
    if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
        echo "$d"
        return 0
    fi
    return 1
}

install_postgres() {
    if [[ "$(id -u)" != 0 ]]; then
        say "PostgreSQL server binaries not found and not root: install the 'postgresql' package"
        exit 1
    fi
    say "installing PostgreSQL (apt-get install postgresql)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
}

# Run a command as the cluster owner (initdb/postgres refuse to run as root).
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u "$PGUSER_NAME" -- "$@"
    else
        "$@"
    fi
}

url() { echo "postgresql+psycopg://$PGUSER_NAME@127.0.0.1:$(cat "$BASE/port")/$DBNAME"; }

running() { [[ -f "$BASE/port" && -d "$DATA" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

free_port() {
    local py
    for py in python3 python; do
        if command -v "$py" >/dev/null 2>&1; then
            "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
            return 0
        fi
    done
    echo $(( 20000 + RANDOM % 30000 ))
}

BIN="$(find_bindir || true)"

case "$CMD" in
start)
    if [[ -z "$BIN" ]]; then
        install_postgres
        BIN="$(find_bindir)" || { say "no initdb/pg_ctl after installing postgresql"; exit 1; }
    fi
    if [[ "$(id -u)" == 0 ]] && ! id "$PGUSER_NAME" >/dev/null 2>&1; then
        useradd --system --home-dir "$BASE" --shell /usr/sbin/nologin "$PGUSER_NAME"
    fi
    if running; then
        url
        exit 0
    fi
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        mkdir -p "$BASE"
        touch "$BASE/.crosswatch-pg"
        rm -rf "$DATA"
        [[ "$(id -u)" == 0 ]] && chown "$PGUSER_NAME" "$BASE"
        chmod 700 "$BASE"
        say "initdb $DATA ($("$BIN/initdb" --version))"
        as_owner "$BIN/initdb" -D "$DATA" -U "$PGUSER_NAME" -A trust -E UTF8 --no-locale --no-sync >"$BASE/initdb.log" 2>&1 \
            || { cat "$BASE/initdb.log" >&2; exit 1; }
    fi
    free_port >"$BASE/port"
    PORT="$(cat "$BASE/port")"
    say "starting on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$BASE/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories='$BASE' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
        >&2 || { tail -n 30 "$BASE/server.log" >&2; exit 1; }
    if ! as_owner "$BIN/psql" -h "$BASE" -p "$PORT" -U "$PGUSER_NAME" -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'" | grep -q 1; then
        as_owner "$BIN/createdb" -h "$BASE" -p "$PORT" -U "$PGUSER_NAME" "$DBNAME"
    fi
    url
    ;;
stop)
    if [[ -n "$BIN" && -f "$DATA/PG_VERSION" ]]; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2 2>&1 || true
    fi
    # Delete only a folder this script made (it holds the marker file).
    if [[ -f "$BASE/.crosswatch-pg" ]]; then
        rm -rf "$BASE"
    fi
    say "stopped"
    ;;
status)
    if [[ -n "$BIN" ]] && running; then
        url
    else
        say "not running"
        exit 1
    fi
    ;;
*)
    echo "usage: $0 [start|stop|status]" >&2
    exit 2
    ;;
esac
