#!/usr/bin/env bash
# Starts and stops the services the test tiers need, on 127.0.0.1 only, with their data under .build-services/.
#
#   tools/test-services.sh start            start everything; prints the environment the tests read
#   tools/test-services.sh stop             stop everything (safe when nothing runs)
#   tools/test-services.sh stop-postgres    stop only PostgreSQL (the store's outage test uses this)
#   tools/test-services.sh start-postgres   start only PostgreSQL again
#   tools/test-services.sh env              print the environment variables for the running services
#   tools/test-services.sh start-kms|stop-kms  only the KMS mock
#
# PostgreSQL: a throwaway cluster (initdb) with fsync off, role and database "signer" (password "signer"),
# port $SIGNER_TEST_POSTGRES_PORT (default 15432), under $SIGNER_TEST_SERVICES_DIR (default .build-services/).
# Tests that need a server of their own (the outage test) start a second one with both variables set.
#
# AWS KMS: moto_server from .venv (make venv installs it) on port $SIGNER_TEST_KMS_PORT (default 15434). It keeps
# keys in memory, accepts any credentials and does not check SigV4 signatures (SigV4Tests checks those).
set -euo pipefail
cd "$(dirname "$0")/.."

root="${SIGNER_TEST_SERVICES_DIR:-$PWD/.build-services}"
postgres_port=${SIGNER_TEST_POSTGRES_PORT:-15432}
postgres_root="$root/postgres"
postgres_data="$postgres_root/data"
postgres_url="postgres://signer:signer@127.0.0.1:$postgres_port/signer"
kms_port=${SIGNER_TEST_KMS_PORT:-15434}
kms_root="$root/kms"

postgres_bin() {
    local initdb
    initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$initdb" ]; then
        echo "test-services: PostgreSQL server binaries not found (install the postgresql package: make deps)" >&2
        exit 1
    fi
    dirname "$initdb"
}

# initdb refuses to run as root; run the server as the postgres user then, in a directory it owns.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    local bin
    bin=$(postgres_bin)
    if [ ! -f "$postgres_data/PG_VERSION" ]; then
        rm -rf "$postgres_root"
        mkdir -p "$postgres_root"
        if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$postgres_root"; fi
        as_postgres "$bin/initdb" -D "$postgres_data" -U postgres --auth=trust -E UTF8 --no-sync >"$postgres_root/initdb.log"
        fresh=1
    else
        fresh=0
    fi
    if ! as_postgres "$bin/pg_ctl" -D "$postgres_data" status >/dev/null 2>&1; then
        as_postgres "$bin/pg_ctl" -D "$postgres_data" -l "$postgres_root/postgres.log" -w -t 30 \
            -o "-c listen_addresses=127.0.0.1 -p $postgres_port -k $postgres_root -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null
    fi
    if [ "$fresh" -eq 1 ]; then
        as_postgres "$bin/psql" -q -h 127.0.0.1 -p "$postgres_port" -U postgres -d postgres \
            -c "CREATE ROLE signer LOGIN CREATEDB PASSWORD 'signer'" -c "CREATE DATABASE signer OWNER signer" >/dev/null
    fi
}

# mode "fast" keeps committed data (the outage test restarts the same server); "immediate" is for teardown only:
# with synchronous_commit=off an immediate stop loses the last commits.
stop_postgres() {
    local mode=$1
    [ -f "$postgres_data/PG_VERSION" ] || return 0
    local bin
    bin=$(postgres_bin)
    if as_postgres "$bin/pg_ctl" -D "$postgres_data" status >/dev/null 2>&1; then
        as_postgres "$bin/pg_ctl" -D "$postgres_data" -m "$mode" -w stop >/dev/null
    fi
}

start_kms() {
    local moto=$PWD/.venv/bin/moto_server
    if [ ! -x "$moto" ]; then
        echo "test-services: $moto is missing (run make venv)" >&2
        exit 1
    fi
    mkdir -p "$kms_root"
    if [ -f "$kms_root/pid" ] && kill -0 "$(cat "$kms_root/pid")" 2>/dev/null; then
        return 0
    fi
    # setsid: the server outlives this script and ignores the caller's terminal signals; stop-kms ends it.
    setsid "$moto" -H 127.0.0.1 -p "$kms_port" >"$kms_root/moto.log" 2>&1 </dev/null &
    echo $! >"$kms_root/pid"
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$kms_port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "test-services: moto_server did not start on 127.0.0.1:$kms_port (see $kms_root/moto.log)" >&2
    exit 1
}

stop_kms() {
    [ -f "$kms_root/pid" ] || return 0
    local pid
    pid=$(cat "$kms_root/pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$kms_root/pid"
}

print_env() {
    echo "export SIGNER_TEST_POSTGRES_URL=$postgres_url"
    echo "export SIGNER_TEST_SERVICES_SCRIPT=$PWD/tools/test-services.sh"
    echo "export SIGNER_TEST_KMS_ENDPOINT=http://127.0.0.1:$kms_port"
    echo "export SIGNER_TEST_MOTO_SERVER=$PWD/.venv/bin/moto_server"
}

case "${1:-}" in
    start)
        start_postgres
        start_kms
        print_env
        ;;
    stop)
        stop_postgres immediate
        stop_kms
        rm -rf "$postgres_root" "$kms_root"
        ;;
    stop-postgres) stop_postgres fast ;;
    start-postgres) start_postgres ;;
    start-kms) start_kms ;;
    stop-kms) stop_kms ;;
    env) print_env ;;
    *)
        echo "usage: tools/test-services.sh start|stop|stop-postgres|start-postgres|start-kms|stop-kms|env" >&2
        exit 2
        ;;
esac
