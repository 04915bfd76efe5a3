#!/usr/bin/env bash
# `make bench-http`: the HTTP RPC under wrk, next to plain libsecp256k1 signing in the same run.
#   1. plain C against libsecp256k1, Schnorr sign on one core (the physical limit per core);
#   2. `signer serve` (release, SQLite in a temporary directory), one key, one authorization allowing kind 1;
#   3. wrk: 64 connections, 2 threads, POST /api/nostr sign_event with that one token (tools/bench/sign_event.lua);
#   4. the floors under it, with the same connections: `ping` with the token (tools/bench/ping.lua: authentication,
#      no crypto) and GET /health (no authentication, no body).
# wrk shares the 2 cores with the signer. DURATION (default 20s) and CONNECTIONS (64) override.
set -euo pipefail
cd "$(dirname "$0")/../.."

signer=.build/release/signer
duration=${DURATION:-20s}
connections=${CONNECTIONS:-64}
work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

cc -O2 -o "$work/secp256k1_bench" tools/bench/secp256k1_bench.c -lsecp256k1
sign_ns=$(taskset -c 0 "$work/secp256k1_bench" 20000 | awk '$1 == "sign" { print $2 }')
echo "plain libsecp256k1, one core: Schnorr sign ${sign_ns} ns = $(awk -v ns="$sign_ns" 'BEGIN { printf "%.0f", 1e9 / ns }')/s"

export SIGNER_ADMIN_TOKEN="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
"$signer" serve --data-dir "$work/data" --http-port 0 --log-level warning > "$work/serve.out" 2> "$work/serve.err" &
server=$!
for _ in $(seq 100); do
    grep -q "signer listening on" "$work/serve.out" 2>/dev/null && break
    sleep 0.1
done
url=$(sed -n 's/^signer listening on //p' "$work/serve.out")
[ -n "$url" ] || { echo "signer serve did not start:" >&2; cat "$work/serve.err" >&2; exit 1; }

key=$("$signer" keys create --server "$url" --label bench --json | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
token=$("$signer" authorizations create "$key" --server "$url" --name wrk --json \
    --policy '{"name":"bench","methods":["sign_event","get_public_key"],"kinds":[1]}' | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }
# run <label> <wrk arguments…>: wrk's report, then the signer's own CPU (user + system) per request, which is
# steadier than requests/s on a shared machine.
run() {
    local label=$1
    shift
    local before after requests
    before=$(cpu_ticks)
    wrk -t2 -c"$connections" -d"$duration" --latency "$@" | tee "$work/wrk.out"
    after=$(cpu_ticks)
    requests=$(awk '/requests in/ { print $1 }' "$work/wrk.out")
    awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" -v requests="$requests" -v label="$label" \
        'BEGIN { printf "%s: signer CPU per request %.0f us\n\n", label, ticks / hz * 1e6 / requests }'
}
echo "signer serve at $url, $(nproc) cores shared with wrk; $connections connections for $duration each"
run sign_event -s tools/bench/sign_event.lua "$url/api/nostr" -- "$token"
run ping -s tools/bench/ping.lua "$url/api/nostr" -- "$token"
run health "$url/health"
