#!/usr/bin/env bash
# Builds weft and runs the demos: an echo server with 50 client connections
# talking to it (every byte checked), then examples/hello_fibers.
# Installs missing Debian packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh base
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" --target echo_server echo_client hello_fibers
echo "== echo_server on a free loopback port, echo_client against it"
scripts/echo-demo.sh build/release/examples/echo_server build/release/examples/echo_client
echo "== hello_fibers"
build/release/examples/hello_fibers
