#!/usr/bin/env bash
# Starts echo_server on a free loopback port, runs echo_client against it,
# checks the result, and stops the server. Usage: echo-demo.sh SERVER CLIENT [client args...]
set -euo pipefail
server=$1 client=$2
shift 2
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$server" 127.0.0.1:0 --port-file "$dir/port" &
pid=$!
for _ in $(seq 1 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
[ -s "$dir/port" ] || { echo "echo-demo: the server did not start" >&2; exit 1; }
port=$(cat "$dir/port")
if [ $# -eq 0 ]; then set -- --connections 50 --messages 200 --size 1000; fi
"$client" "127.0.0.1:$port" "$@"
