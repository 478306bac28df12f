#!/usr/bin/env bash
# Builds weft's micro-benchmarks (Release, build/bench), runs them and prints one
# table of weft against Boost.Context / Boost.Fiber / std::thread, plus memory;
# where `go` is installed, also weft's sync rows against Go (bench/go/sync).
# A second table covers weft::runtime: 2 workers against 1 on CPU-bound fiber
# work, and cross-worker ping-pong against Boost.Fiber and Go (GOMAXPROCS=2).
# Usage: bench/run.sh [--quick]   (--quick: short runs, 100k fibers for memory)
# Worker counts beyond 2: bench/run-scaling.sh --max-workers N.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build/bench"
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
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
if ! cmake --build "$build" -j2 --target switch_bench fiber_bench sync_bench runtime_bench memory_bench >"$build/bench-build.log" 2>&1; then
  cat "$build/bench-build.log" >&2
  echo "bench/run.sh: build failed" >&2
  exit 1
fi

out="$build/results"
mkdir -p "$out"
rm -f "$out"/*.json "$out"/memory.txt "$out"/go_sync.txt "$out"/go_runtime_*.txt

# Go peers: standard library only (no module downloads), caches in the build folder.
go_bin=""
go_rt_bin=""
go_note=""
if command -v go >/dev/null 2>&1; then
  for pkg in sync runtime; do
    if ! (cd "$root/bench/go/$pkg" &&
        GOCACHE="$build/go-cache" GOPATH="$build/go-path" GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local \
        go build -o "$build/bench/go_$pkg" .) >"$build/go-build.log" 2>&1; then
      cat "$build/go-build.log" >&2
      echo "bench/run.sh: go build of bench/go/$pkg failed" >&2
      exit 1
    fi
  done
  go_bin="$build/bench/go_sync"
  go_rt_bin="$build/bench/go_runtime"
else
  go_note="Go peers skipped: go is not installed (Debian: apt-get install golang-go)"
fi

if [ "$quick" -eq 1 ]; then
  gbench_args=(--benchmark_min_time=0.01)
  go_args=(-reps 1 -min-time 0.01)
  fibers=100000
else
  # Medians of several repetitions: the machine may be shared, and one slow
  # repetition should not decide a ratio.
  gbench_args=(--benchmark_min_time=0.5 --benchmark_repetitions=5
               --benchmark_report_aggregates_only=true)
  go_args=(-reps 5 -min-time 0.5)
  fibers=1000000
fi

# runtime_bench starts its runtimes once per benchmark run, outside the timed
# loop; its Boost.Fiber pools spin while idle, so they come last in it.
for b in switch_bench fiber_bench sync_bench runtime_bench; do
  if ! "$build/bench/$b" --benchmark_format=json "${gbench_args[@]}" >"$out/$b.json" 2>"$out/$b.err"; then
    echo "bench/run.sh: $b failed:" >&2
    cat "$out/$b.err" >&2
    exit 1
  fi
done
if [ -n "$go_bin" ]; then
  # One thread, as weft::run.
  if ! GOMAXPROCS=1 "$go_bin" "${go_args[@]}" >"$out/go_sync.txt" 2>"$out/go_sync.err"; then
    echo "bench/run.sh: go_sync failed:" >&2
    cat "$out/go_sync.err" >&2
    exit 1
  fi
fi
if [ -n "$go_rt_bin" ]; then
  # Go's own 2-vs-1 scaling, and its cross-goroutine ping-pong on two Ps.
  for procs in 1 2; do
    if ! GOMAXPROCS=$procs "$go_rt_bin" "${go_args[@]}" >"$out/go_runtime_$procs.txt" 2>"$out/go_runtime.err"; then
      echo "bench/run.sh: go_runtime (GOMAXPROCS=$procs) failed:" >&2
      cat "$out/go_runtime.err" >&2
      exit 1
    fi
  done
fi
if ! "$build/bench/memory_bench" --fibers "$fibers" >"$out/memory.txt" 2>"$out/memory.err"; then
  echo "bench/run.sh: memory_bench failed:" >&2
  cat "$out/memory.txt" "$out/memory.err" >&2
  exit 1
fi

python3 - "$out" "$quick" "$go_note" <<'EOF'
import json, sys, pathlib

out, quick, go_note = pathlib.Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
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

go_file = out / "go_sync.txt"
if go_file.exists():
    for line in go_file.read_text().split("\n"):
        parts = line.split()
        if len(parts) == 2:
            runs[parts[0]] = float(parts[1])  # already ns per op

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
    ("(ref) uncontended mutex, the process has a second thread, vs std::mutex",
     "BM_weft_mutex_uncontended_threaded", "BM_std_mutex_uncontended_threaded", None),
    ("mutex among 100 fibers, per lock+unlock vs Boost.Fiber",
     "BM_weft_mutex_contended", "BM_boost_fiber_mutex_contended", None),
    ("condition variable ping-pong, per hand-off vs Boost.Fiber",
     "BM_weft_cv_ping_pong", "BM_boost_fiber_cv_ping_pong", None),
    ("channel ping-pong, unbuffered, per message vs Go (GOMAXPROCS=1)",
     "BM_weft_channel_ping_pong_unbuffered", "go_channel_ping_pong_unbuffered", None),
    ("channel ping-pong, buffered (16), per message vs Go",
     "BM_weft_channel_ping_pong_buffered", "go_channel_ping_pong_buffered", None),
    ("uncontended mutex lock+unlock vs Go sync.Mutex",
     "BM_weft_mutex_uncontended", "go_mutex_uncontended", None),
    ("mutex among 100 fibers, per lock+unlock vs Go (100 goroutines)",
     "BM_weft_mutex_contended", "go_mutex_contended", None),
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
    if p.startswith("go_") and not go_file.exists():
        continue
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
if go_note:
    print(go_note)
print((out / "memory.txt").read_text().strip())

# ---- weft::runtime: scaling (items/s, higher is better) and cross-worker ping-pong
rt = {}
for b in json.loads((out / "runtime_bench.json").read_text())["benchmarks"]:
    if b.get("error_occurred"):
        sys.exit(f"bench/run.sh: {b['name']} reported an error: {b.get('error_message')}")
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
        continue
    name = b.get("run_name", b["name"]).removesuffix("/real_time")
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
    rt[name] = (b.get("items_per_second"), b["real_time"] * scale / b.get("ops_per_iter", 1.0))
go_rt = {}
for procs in (1, 2):
    f = out / f"go_runtime_{procs}.txt"
    if f.exists():
        for line in f.read_text().split("\n"):
            parts = line.split()
            if len(parts) == 2:
                go_rt[(parts[0], procs)] = float(parts[1])

def items(name):
    return rt.get(name, (None, None))[0]

def ns(name):
    return rt.get(name, (None, None))[1]

def rate(v):
    return "n/a" if v is None else f"{v / 1e6:.3f}M"

scaling = [("workload (items/s)", "1 worker", "2 workers", "2w/1w", "target", "result")]
for label, base, target in [
        ("spawn: 8192 fibers x 400 steps, one spawner per worker", "BM_weft_rt_spawn", 1.8),
        ("yield: 16 fibers x 200 (400 steps + yield)", "BM_weft_rt_yield", 1.8),
        ("channel pipeline: 4 stages x 400 steps, stage s on worker s%N (values x stages)", "BM_weft_rt_pipeline", 1.8),
        ("default spawn options: 2000 fibers x 10 (400 steps + yield), spawned by the first fiber", "BM_weft_rt_natural_yield", 1.8),
        ("default spawn options: 8 producers + 8 consumers, channel(64), ~100 ns per item", "BM_weft_rt_natural_pool", 1.0)]:
    one, two = items(base + "/1"), items(base + "/2")
    if one is None or two is None:
        missing = True
    ratio = two / one if one and two else None
    scaling.append((label, rate(one), rate(two), "n/a" if ratio is None else f"{ratio:.3f}",
                    f"{target:.2f}", "" if ratio is None else ("ok" if ratio >= target else "MISSED")))
one, two = items("BM_floor_threads_burn/1"), items("BM_floor_threads_burn/2")
ratio = two / one if one and two else None
scaling.append(("(floor) the same CPU work on 1 and 2 plain threads, no fibers", rate(one), rate(two),
                "n/a" if ratio is None else f"{ratio:.3f}", "-", ""))
one, two = items("BM_weft_rt_natural_yield_any/1"), items("BM_weft_rt_natural_yield_any/2")
ratio = two / one if one and two else None
scaling.append(("(ref) the same 2000 fibers spawned with {.worker = any_worker}", rate(one), rate(two),
                "n/a" if ratio is None else f"{ratio:.3f}", "-", ""))
if go_rt:
    for label, key in [("(ref) Go spawn, same workload, GOMAXPROCS=1 vs 2", "go_rt_spawn"),
                       ("(ref) Go pool, same workload, GOMAXPROCS=1 vs 2", "go_rt_pool")]:
        one, two = go_rt.get((key, 1)), go_rt.get((key, 2))
        ratio = two / one if one and two else None
        scaling.append((label, rate(one), rate(two), "n/a" if ratio is None else f"{ratio:.3f}", "-", ""))
    weft_pool, go_pool = items("BM_weft_rt_natural_pool/2"), go_rt.get(("go_rt_pool", 2))
    ratio = weft_pool / go_pool if weft_pool and go_pool else None
    scaling.append(("pool with 2 workers: weft vs Go GOMAXPROCS=2", rate(weft_pool), rate(go_pool),
                    "n/a" if ratio is None else f"{ratio:.3f}", "1.00",
                    "" if ratio is None else ("ok" if ratio >= 1.0 else "MISSED")))

pp = [("ping-pong, unbuffered, ns per round trip", "weft ns", "peer ns", "weft/peer", "target", "result")]
cross = ns("BM_weft_rt_ping_pong_cross_worker")
if cross is None:
    missing = True
peers = [("cross-worker vs Boost.Fiber work_stealing, 2 threads",
          ns("BM_boost_fiber_work_stealing_ping_pong"), 0.30),
         ("cross-worker vs Boost.Fiber shared_work, 2 threads",
          ns("BM_boost_fiber_shared_work_ping_pong"), 0.30)]
if go_rt:
    peers.append(("cross-worker vs Go, GOMAXPROCS=2", go_rt.get(("go_rt_ping_pong", 2)), None))
for label, peer, target in peers:
    ratio = cross / peer if cross is not None and peer else None
    pp.append((label, fmt(cross), fmt(peer), "n/a" if ratio is None else f"{ratio:.3f}",
               "-" if target is None else f"{target:.2f}",
               "" if ratio is None or target is None else ("ok" if ratio <= target else "MISSED")))
same = ns("BM_weft_rt_ping_pong_same_worker")
pp.append(("(ref) same worker vs cross-worker", fmt(same), fmt(cross),
           "n/a" if same is None or not cross else f"{same / cross:.3f}", "-", ""))
floor = ns("BM_floor_threads_spin_ping_pong")
pp.append(("(floor) two threads spinning on one atomic: cross-worker vs it", fmt(cross), fmt(floor),
           "n/a" if floor is None or not cross else f"{cross / floor:.3f}", "-", ""))

print()
print("weft::runtime, same run: 2 workers against 1 (higher is better), and ping-pong between workers")
for t in (scaling, pp):
    widths = [max(len(r[i]) for r in t) for i in range(len(t[0]))]
    for i, r in enumerate(t):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
if missing:
    sys.exit("bench/run.sh: a weft benchmark is missing from the results")
EOF
