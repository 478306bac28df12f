#!/usr/bin/env bash
# CI's reliability step: a short libFuzzer run of every fuzz target (20 s
# each, built with clang into build/fuzz), then each target once over its
# seed corpus through ctest. The soak, fault and gdb tests run with the
# ordinary test suite (ctest labels soak, debug; tests fault.*).
# Usage: scripts/ci-reliability.sh [--seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=20
[ "${1:-}" = --seconds ] && seconds=${2:?--seconds needs a value}
scripts/install-deps.sh ci
scripts/fuzz.sh --seconds "$seconds"
ctest --test-dir build/fuzz -L fuzz --output-on-failure
