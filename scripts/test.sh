#!/usr/bin/env bash
# Builds weft and runs every test: `scripts/test.sh [preset]` (default: release).
# Installs missing Debian packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
case "$preset" in
  aarch64-qemu) scripts/install-deps.sh ci ;;
  *) scripts/install-deps.sh base ;;
esac
jobs=$(nproc 2>/dev/null || echo 2)
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset"
