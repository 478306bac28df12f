#!/usr/bin/env bash
# Starts echo_server on a free loopback port, runs echo_client against it,
# checks the result, and stops the server; then the same with --workers 2
# (one SO_REUSEPORT listener per worker), where the server exits after the
# client's connections and must have served some on every worker.
# Usage: echo-demo.sh SERVER CLIENT [client args...]
set -euo pipefail
server=$1 client=$2
shift 2
if [ $# -eq 0 ]; then set -- --connections 50 --messages 200 --size 1000; fi
connections=10  # echo_client's default
args=("$@")
for ((i = 0; i + 1 < ${#args[@]}; i++)); do
  [ "${args[$i]}" = "--connections" ] && connections=${args[$((i + 1))]}
done
dir=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; rm -rf "$dir"' EXIT

start_server() {  # start_server PORT_FILE [server args...]
  local port_file=$1
  shift
  "$server" 127.0.0.1:0 --port-file "$port_file" "$@" >"$dir/server.out" &
  pid=$!
  for _ in $(seq 1 100); do [ -s "$port_file" ] && break; sleep 0.05; done
  [ -s "$port_file" ] || { echo "echo-demo: the server did not start" >&2; exit 1; }
}

echo "echo-demo: one worker"
start_server "$dir/port1"
"$client" "127.0.0.1:$(cat "$dir/port1")" "$@"
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=""

echo "echo-demo: --workers 2"
start_server "$dir/port2" --workers 2 --max-connections "$connections"
"$client" "127.0.0.1:$(cat "$dir/port2")" "$@"
rc=0
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then
  echo "echo-demo: echo_server --workers 2 did not exit after $connections connections" >&2
  exit 1
fi
wait "$pid" || rc=$?
pid=""
cat "$dir/server.out"
[ "$rc" -eq 0 ] || { echo "echo-demo: echo_server --workers 2 exited with $rc" >&2; exit 1; }
per_worker=$(sed -n 's/^echo_server: connections per worker: //p' "$dir/server.out")
[ -n "$per_worker" ] || { echo "echo-demo: no per-worker counts from echo_server" >&2; exit 1; }
# The kernel hashes connections over the listeners: with 20 or more, a worker
# with none would be a one-in-a-million chance, so it means a bug.
if [ "$connections" -ge 20 ]; then
  for n in $per_worker; do
    [ "$n" -gt 0 ] || { echo "echo-demo: a worker served no connection ($per_worker)" >&2; exit 1; }
  done
fi
