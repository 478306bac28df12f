#!/usr/bin/env bash
# Drives CLIENTS concurrent connections against a legacy_server build with the
# line-mode load generator (every byte of every reply checked) and requires
# that every connection was answered at least once; then checks the commands.
# Usage: legacy-port-check.sh SERVER LOAD_ECHO CLIENTS SECONDS
set -euo pipefail
server=$1 load=$2 clients=$3 seconds=$4
# Both processes need an fd per connection (plus a few).
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((clients + 64)) ] || { echo "legacy-port-check: RLIMIT_NOFILE $(ulimit -n) too low for $clients clients" >&2; exit 1; }
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$server" 0 --port-file "$dir/port" >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
[ -s "$dir/port" ] || { cat "$dir/server.log" >&2; echo "legacy-port-check: the server did not start" >&2; exit 1; }
port=$(tr -d '[:space:]' <"$dir/port")
# Commands on one connection: PING, SLEEP, an echoed line, QUIT closes.
out=$(exec 3<>"/dev/tcp/127.0.0.1/$port"; printf 'PING\nSLEEP 5\nhello there\nQUIT\n' >&3; timeout 10 cat <&3 || true)
expected=$'PONG\nOK\nhello there'
[ "$out" = "$expected" ] || { echo "legacy-port-check: FAILED: commands answered '$out'" >&2; exit 1; }
"$load" --port "$port" --connections "$clients" --size 48 --seconds "$seconds" --warmup 0 --lines >"$dir/load.out" 2>"$dir/load.err" || {
  cat "$dir/load.err" "$dir/server.log" >&2; echo "legacy-port-check: FAILED: load generator exit $?" >&2; exit 1; }
cat "$dir/load.out"
min=$(tail -n1 "$dir/load.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["min_round_trips_per_connection"])')
[ "$min" -ge 1 ] || { echo "legacy-port-check: FAILED: a connection was never answered" >&2; exit 1; }
kill -0 "$pid" || { echo "legacy-port-check: FAILED: the server died" >&2; exit 1; }
echo "legacy-port-check: $clients concurrent clients, every reply checked, each answered at least $min times: ok"
