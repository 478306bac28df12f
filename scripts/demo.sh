#!/usr/bin/env bash
# Builds weft and runs the demo program. Installs missing Debian packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh base
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" --target hello_fibers
echo "== build/release/examples/hello_fibers"
build/release/examples/hello_fibers
