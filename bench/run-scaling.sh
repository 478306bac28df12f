#!/usr/bin/env bash
# weft::runtime scaling: runs bench/micro/runtime_bench's CPU-bound workloads
# (spawn, yield, channel pipeline) with 1..N workers and prints items/s per
# worker count, with the speed-up over one worker and the efficiency
# (speed-up / workers). Builds runtime_bench in build/bench (Release).
# Usage: bench/run-scaling.sh [--max-workers N] [--quick]
#   --max-workers N: default: the number of CPUs.  --quick: short runs.
# Give it a quiet machine: other load shows up as poor scaling.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build/bench"
max_workers=$(nproc 2>/dev/null || echo 2)
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --max-workers) shift; max_workers=${1:-}
      [[ "$max_workers" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run-scaling.sh: --max-workers needs a positive number" >&2; exit 2; } ;;
    --quick) quick=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "bench/run-scaling.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCH=ON >/dev/null || {
    echo "bench/run-scaling.sh: configuring $build failed" >&2; exit 1; }
fi
jobs=$(nproc 2>/dev/null || echo 2)
if ! cmake --build "$build" -j "$jobs" --target runtime_bench >"$build/scaling-build.log" 2>&1; then
  cat "$build/scaling-build.log" >&2
  echo "bench/run-scaling.sh: build failed" >&2
  exit 1
fi

if [ "$quick" -eq 1 ]; then
  gbench_args=(--benchmark_min_time=0.05)
else
  gbench_args=(--benchmark_min_time=0.5 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true)
fi
out="$build/results"
mkdir -p "$out"
if ! "$build/bench/runtime_bench" --max-workers "$max_workers" \
    --benchmark_filter='BM_weft_rt_(spawn|yield|pipeline)/' --benchmark_format=json \
    "${gbench_args[@]}" >"$out/scaling.json" 2>"$out/scaling.err"; then
  cat "$out/scaling.err" >&2
  echo "bench/run-scaling.sh: runtime_bench failed" >&2
  exit 1
fi

python3 - "$out/scaling.json" "$max_workers" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
rates = {}
for b in doc["benchmarks"]:
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
        continue
    base, workers = b.get("run_name", b["name"]).split("/")[:2]
    rates[(base, int(workers))] = b["items_per_second"]
names = [("BM_weft_rt_spawn", "spawn"), ("BM_weft_rt_yield", "yield"), ("BM_weft_rt_pipeline", "pipeline")]
ctx = doc.get("context", {})
print(f"weft::runtime scaling on {ctx.get('num_cpus', '?')} CPUs; items/s (M), speed-up over 1 worker, efficiency")
header = ["workers"] + [h for _, label in names for h in (label + " M/s", "x", "eff")]
rows = [header]
for w in range(1, n + 1):
    row = [str(w)]
    for base, _ in names:
        one, v = rates.get((base, 1)), rates.get((base, w))
        row += ["n/a", "", ""] if v is None or not one else [f"{v / 1e6:.3f}", f"{v / one:.2f}", f"{v / one / w:.0%}"]
    rows.append(row)
widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
for i, r in enumerate(rows):
    print("  ".join(c.rjust(widths[j]) for j, c in enumerate(r)))
    if i == 0:
        print("  ".join("-" * w for w in widths))
PY
