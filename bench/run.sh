#!/usr/bin/env bash
# Builds weft's micro-benchmarks (Release, build/bench), runs them and prints one
# table of weft against Boost.Context / Boost.Fiber / std::thread, plus memory.
# Usage: bench/run.sh [--quick]   (--quick: short runs, 100k fibers for memory)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build/bench"
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

if [ -f "$root/scripts/install-deps.sh" ]; then
  bash "$root/scripts/install-deps.sh" base
fi

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=OFF -DWEFT_BUILD_BENCH=ON >/dev/null || {
    echo "bench/run.sh: configuring $build failed" >&2; exit 1; }
fi
if ! cmake --build "$build" -j2 --target switch_bench fiber_bench sync_bench memory_bench >"$build/bench-build.log" 2>&1; then
  cat "$build/bench-build.log" >&2
  echo "bench/run.sh: build failed" >&2
  exit 1
fi

out="$build/results"
mkdir -p "$out"
rm -f "$out"/*.json "$out"/memory.txt

if [ "$quick" -eq 1 ]; then
  gbench_args=(--benchmark_min_time=0.01)
  fibers=100000
else
  # Medians of several repetitions: the machine may be shared, and one slow
  # repetition should not decide a ratio.
  gbench_args=(--benchmark_min_time=0.5 --benchmark_repetitions=5
               --benchmark_report_aggregates_only=true)
  fibers=1000000
fi

for b in switch_bench fiber_bench sync_bench; do
  if ! "$build/bench/$b" --benchmark_format=json "${gbench_args[@]}" >"$out/$b.json" 2>"$out/$b.err"; then
    echo "bench/run.sh: $b failed:" >&2
    cat "$out/$b.err" >&2
    exit 1
  fi
done
if ! "$build/bench/memory_bench" --fibers "$fibers" >"$out/memory.txt" 2>"$out/memory.err"; then
  echo "bench/run.sh: memory_bench failed:" >&2
  cat "$out/memory.txt" "$out/memory.err" >&2
  exit 1
fi

python3 - "$out" "$quick" <<'EOF'
import json, sys, pathlib

out, quick = pathlib.Path(sys.argv[1]), sys.argv[2] == "1"
runs, context = {}, {}
for f in ("switch_bench.json", "fiber_bench.json", "sync_bench.json"):
    doc = json.loads((out / f).read_text())
    context = doc.get("context", context)
    for b in doc["benchmarks"]:
        if b.get("error_occurred"):
            sys.exit(f"bench/run.sh: {b['name']} reported an error: {b.get('error_message')}")
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        # Time per operation: a yield iteration holds two yields, a spawn-many iteration 10,000 fibers.
        runs[name] = b["real_time"] * scale / b.get("ops_per_iter", 1.0)

def find(prefix):
    hits = [v for k, v in runs.items() if k == prefix or k.startswith(prefix + "/")]
    return hits[0] if hits else None

rows = [
    ("switch round trip vs Boost.Context fiber resume",
     "BM_weft_switch_round_trip", "BM_boost_context_fiber_resume_round_trip", 0.75),
    ("yield vs Boost.Fiber yield", "BM_weft_yield", "BM_boost_fiber_yield", 0.10),
    ("spawn+join vs Boost.Fiber", "BM_weft_spawn_join", "BM_boost_fiber_spawn_join", 0.15),
    ("spawn+join vs std::thread", "BM_weft_spawn_join", "BM_std_thread_spawn_join", None),
    ("10k spawn, join all, per fiber vs Boost.Fiber",
     "BM_weft_spawn_many_join_all", "BM_boost_fiber_spawn_many_join_all", 0.05),
    ("channel ping-pong, unbuffered, per message vs Boost.Fiber",
     "BM_weft_channel_ping_pong_unbuffered", "BM_boost_fiber_channel_ping_pong_unbuffered", 0.20),
    ("channel ping-pong, buffered (16), per message vs Boost.Fiber",
     "BM_weft_channel_ping_pong_buffered", "BM_boost_fiber_channel_ping_pong_buffered", 0.20),
    ("uncontended mutex lock+unlock vs std::mutex",
     "BM_weft_mutex_uncontended", "BM_std_mutex_uncontended", 1.20),
    ("mutex among 100 fibers, per lock+unlock vs Boost.Fiber",
     "BM_weft_mutex_contended", "BM_boost_fiber_mutex_contended", None),
    ("condition variable ping-pong, per hand-off vs Boost.Fiber",
     "BM_weft_cv_ping_pong", "BM_boost_fiber_cv_ping_pong", None),
    ("(ref) switch round trip, FP env differs vs fcontext jump",
     "BM_weft_switch_round_trip_fp_differs", "BM_boost_fcontext_jump_round_trip", None),
    ("(ref) switch round trip vs Boost fcontext jump",
     "BM_weft_switch_round_trip", "BM_boost_fcontext_jump_round_trip", None),
]

def fmt(v):
    return "n/a" if v is None else (f"{v:.1f}" if v < 1e5 else f"{v:.3g}")

table = [("comparison", "weft ns", "peer ns", "weft/peer", "target", "result")]
missing = False
for label, w, p, target in rows:
    wv, pv = find(w), find(p)
    if wv is None and not label.startswith("(ref)"):
        missing = True
    ratio = wv / pv if wv is not None and pv is not None else None
    verdict = "" if ratio is None or target is None else ("ok" if ratio <= target else "MISSED")
    table.append((label, fmt(wv), fmt(pv), "n/a" if ratio is None else f"{ratio:.3f}",
                  "-" if target is None else f"{target:.2f}", verdict))

widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
mode = "quick" if quick else "full (median of 5)"
print(f"weft benchmarks, {mode}; {context.get('num_cpus', '?')} CPUs at "
      f"{context.get('mhz_per_cpu', '?')} MHz; times are ns per operation (real time)")
for i, r in enumerate(table):
    print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r)).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
print((out / "memory.txt").read_text().strip())
if missing:
    sys.exit("bench/run.sh: a weft benchmark is missing from the results")
EOF
