#!/usr/bin/env bash
# Builds weft's libFuzzer targets with clang into build/fuzz and runs each for
# a bounded time: address parsing and the HTTP example's request handling.
# Usage: scripts/fuzz.sh [--seconds N] [--build-dir DIR]   (default 30 s per target)
# New inputs go to build/fuzz/corpus/<target> (the seeds in tests/fuzz/corpus
# stay as they are); a crash leaves its input in build/fuzz/artifacts/<target>/
# and makes the script fail. Reproduce with: build/fuzz/tests/fuzz/fuzz_<target> FILE
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=30
build=build/fuzz
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (scripts/install-deps.sh ci)" >&2; exit 1; }

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DWEFT_BUILD_FUZZ=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_EXAMPLES=OFF >/dev/null
targets=(fuzz_address)
[ -n "$(find /usr/include -maxdepth 1 -name http_parser.h 2>/dev/null)" ] && targets+=(fuzz_http)
cmake --build "$build" -j "${WEFT_JOBS:-2}" --target "${targets[@]}"

status=0
for t in "${targets[@]}"; do
  short=${t#fuzz_}
  corpus=$build/corpus/$short
  artifacts=$build/artifacts/$short
  mkdir -p "$corpus" "$artifacts"
  dict=()
  [ -f "tests/fuzz/$short.dict" ] && dict=(-dict="tests/fuzz/$short.dict")
  echo "== $t for ${seconds}s"
  if ! "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" \
        "$corpus" "tests/fuzz/corpus/$short" 2>"$build/$t.log"; then
    tail -n 60 "$build/$t.log"
    echo "fuzz.sh: $t FAILED; inputs in $artifacts/" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_runs|^#[0-9]+.*DONE' "$build/$t.log" | tail -2
    echo "$t: no crash in ${seconds}s ($(ls "$corpus" | wc -l) inputs in $corpus)"
  fi
done
exit $status
