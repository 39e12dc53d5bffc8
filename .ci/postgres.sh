#!/usr/bin/env bash
# Throw-away PostgreSQL server for certmail's tests.
#
#   eval "$(bash .ci/postgres.sh start)"   # starts a server, prints `export CERTMAIL_TEST_DATABASE_URL=...`
#   bash .ci/postgres.sh url               # prints the URL of the running server
#   bash .ci/postgres.sh stop              # stops it and removes its data directory
#
# The server listens on 127.0.0.1 only, on a free port, with trust authentication, and keeps its
# data and socket in a fresh `mktemp -d` directory. It runs as the unprivileged `postgres` user when
# started by root (PostgreSQL refuses to run as root), as the calling user otherwise.
# State (directory, port, binaries) is kept in $CERTMAIL_PG_STATE (default /tmp/certmail-pg.env).
# Progress goes to stderr; only the export line goes to stdout.
set -euo pipefail

STATE=${CERTMAIL_PG_STATE:-/tmp/certmail-pg.env}
DB_NAME=certmail_test

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The newest /usr/lib/postgresql/<version>/bin, unless PG_BIN says otherwise.
find_bin() {
    if [ -n "${PG_BIN:-}" ]; then
        printf '%s\n' "$PG_BIN"
        return
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$dir" ] && command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir)
    fi
    [ -n "$dir" ] && [ -x "$dir/initdb" ] || die "PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BIN)"
    printf '%s\n' "$dir"
}

# A TCP port on 127.0.0.1 that nothing listens on: 54329 if free, else one the kernel hands out.
free_port() {
    python3 - <<'PY'
import socket
def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()
print(free(54329) or free(0))
PY
}

# Runs a command as the server's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

url_of() { printf 'postgres://postgres@127.0.0.1:%s/%s' "$1" "$DB_NAME"; }

print_exports() { printf 'export CERTMAIL_TEST_DATABASE_URL=%s\n' "$(url_of "$PGPORT")"; }

load_state() {
    [ -f "$STATE" ] || return 1
    # shellcheck disable=SC1090
    . "$STATE"
    [ -n "${PGDIR:-}" ] && [ -n "${PGPORT:-}" ] && [ -n "${PGBINDIR:-}" ]
}

running() { (cd "$PGDIR" && as_owner "$PGBINDIR/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1); }

do_stop() {
    if ! load_state; then
        log "no server recorded in $STATE"
        rm -f "$STATE"
        return 0
    fi
    if [ -d "$PGDIR/data" ] && running; then
        log "stopping server in $PGDIR (port $PGPORT)"
        (cd "$PGDIR" && as_owner "$PGBINDIR/pg_ctl" -D "$PGDIR/data" -m fast -w -t 60 stop >/dev/null)
    fi
    case "$PGDIR" in
        /tmp/certmail-pg.*|"${TMPDIR:-/tmp}"/certmail-pg.*) rm -rf "$PGDIR" ;;
        *) log "not removing unexpected directory $PGDIR" ;;
    esac
    rm -f "$STATE"
}

do_start() {
    if load_state && [ -d "$PGDIR/data" ] && running; then
        log "server already running in $PGDIR (port $PGPORT)"
        print_exports
        return 0
    fi
    # A stale state file (server gone): clean it up first.
    [ -f "$STATE" ] && do_stop

    PGBINDIR=$(find_bin)
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "user postgres does not exist (it comes with the postgresql package)"
    fi
    PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/certmail-pg.XXXXXX")
    PGPORT=$(free_port)
    [ -n "$PGPORT" ] || die "no free port"
    printf 'PGDIR=%q\nPGPORT=%q\nPGBINDIR=%q\n' "$PGDIR" "$PGPORT" "$PGBINDIR" >"$STATE"
    mkdir -p "$PGDIR/sock"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres: "$PGDIR"
    fi
    chmod 700 "$PGDIR"

    log "initdb in $PGDIR/data ($PGBINDIR)"
    # Run from the data's parent so the unprivileged user is not left in an unreadable cwd.
    if ! (cd "$PGDIR" && as_owner "$PGBINDIR/initdb" -D "$PGDIR/data" -U postgres --auth=trust \
        -E UTF8 --locale=C --no-sync >"$PGDIR/initdb.log" 2>&1); then
        cat "$PGDIR/initdb.log" >&2
        do_stop
        die "initdb failed"
    fi

    log "starting server on 127.0.0.1:$PGPORT"
    local opts="-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDIR/sock"
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    if ! (cd "$PGDIR" && as_owner "$PGBINDIR/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" \
        -o "$opts" -w -t 60 start >/dev/null); then
        cat "$PGDIR/server.log" >&2 || true
        do_stop
        die "server did not start"
    fi

    if ! (cd "$PGDIR" && as_owner "$PGBINDIR/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres "$DB_NAME"); then
        do_stop
        die "createdb $DB_NAME failed"
    fi
    log "ready: $(url_of "$PGPORT")"
    print_exports
}

case "${1:-}" in
    start) do_start ;;
    stop) do_stop ;;
    url)
        load_state && running || die "no server running (see $STATE)"
        url_of "$PGPORT"
        echo
        ;;
    *)
        echo "usage: $0 start|stop|url" >&2
        exit 2
        ;;
esac
