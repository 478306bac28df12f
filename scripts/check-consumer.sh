#!/usr/bin/env bash
# Proves both ways of consuming weft work:
#   (a) build weft, `cmake --install` it into a temporary prefix and check the layout;
#   (b) build tests/consumer against that prefix with find_package(weft);
#   (c) build tests/consumer with add_subdirectory(<weft source tree>).
# Usage: scripts/check-consumer.sh   (needs cmake >= 3.25, ninja, a C++20 compiler)
# Set CHECK_CONSUMER_KEEP=1 to keep the temporary directories for inspection.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
consumer_src="$root/tests/consumer"
jobs=2

work=$(mktemp -d "${TMPDIR:-/tmp}/weft-consumer.XXXXXX")
cleanup() {
  if [[ "${CHECK_CONSUMER_KEEP:-0}" == 1 ]]; then
    echo "check-consumer: kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

weft_build="$work/weft-build"
prefix="$work/prefix"

step() { printf '\n== check-consumer: %s\n' "$*"; }
fail() { printf 'check-consumer: FAIL: %s\n' "$*" >&2; exit 1; }

run_consumer() {  # $1 = build dir, $2 = mode
  local exe="$1/weft_consumer" out
  [[ -x "$exe" ]] || fail "$2: $exe was not built"
  if ! out=$("$exe" 2>&1); then
    printf '%s\n' "$out" >&2
    fail "$2: weft_consumer exited non-zero"
  fi
  printf '%s\n' "$out"
  grep -qx 'consumer ok' <<<"$out" || fail "$2: weft_consumer did not print 'consumer ok'"
}

# ---- (a) build and install weft ---------------------------------------------
step "build and install weft into $prefix"
cmake -S "$root" -B "$weft_build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_EXAMPLES=OFF
cmake --build "$weft_build" -j "$jobs"
cmake --install "$weft_build" --prefix "$prefix"

[[ -f "$prefix/include/weft/weft.hpp" ]] || fail "install: no include/weft/weft.hpp under $prefix"
libdir=""
for d in lib lib64; do
  if [[ -f "$prefix/$d/libweft.a" ]]; then libdir=$d; break; fi
done
[[ -n "$libdir" ]] || fail "install: no lib/libweft.a or lib64/libweft.a under $prefix"
[[ -f "$prefix/$libdir/cmake/weft/weftConfig.cmake" ]] \
  || fail "install: no $libdir/cmake/weft/weftConfig.cmake under $prefix"
[[ -f "$prefix/$libdir/cmake/weft/weftTargets.cmake" ]] \
  || fail "install: no $libdir/cmake/weft/weftTargets.cmake under $prefix"
echo "check-consumer: install layout ok (include/weft/weft.hpp, $libdir/libweft.a, $libdir/cmake/weft/weftConfig.cmake)"

# ---- (b) consume the installed package --------------------------------------
step "consumer with find_package(weft) from $prefix"
pkg_build="$work/consumer-package"
cmake -S "$consumer_src" -B "$pkg_build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
  -DWEFT_CONSUME=package
cmake --build "$pkg_build" -j "$jobs"
run_consumer "$pkg_build" package

# ---- (c) consume the source tree with add_subdirectory ----------------------
step "consumer with add_subdirectory($root)"
sub_build="$work/consumer-subdirectory"
cmake -S "$consumer_src" -B "$sub_build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DWEFT_CONSUME=subdirectory \
  -DWEFT_SOURCE_DIR="$root"
cmake --build "$sub_build" -j "$jobs"
# weft's own tests/bench/examples must stay out of a subdirectory build.
for d in tests bench examples; do
  [[ ! -e "$sub_build/weft-build/$d" ]] \
    || fail "subdirectory: weft's $d were configured although weft is not the top-level project"
done
run_consumer "$sub_build" subdirectory

echo
echo "check-consumer: package and add_subdirectory both work"
