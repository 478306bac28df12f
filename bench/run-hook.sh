#!/usr/bin/env bash
# The legacy_port server (examples/legacy_port) as OS threads against the same
# source as weft fibers on one worker (weft::thread + weft::hook): round trips/s
# and memory per connection at two connection counts, server pinned to CPU 0 and
# the line-mode load generator (bench/net/load_echo --lines) on CPU 1; then the
# hooks' cost on a ready fd (bench/hook/hook_overhead). Prints one table.
# Usage: bench/run-hook.sh [--quick] [--no-install]
#   default: 1,000 and 10,000 connections, 5 s runs (+1 s warm-up);
#   --quick: 100 and 1,000 connections, 1 s runs (CI smoke run).
# Memory per connection = (server RSS growth + growth of KernelStack and
# PageTables in /proc/meminfo, less the load generator's own page tables) / N,
# sampled mid-run with every connection open. Exits 1 when a build or server
# fails, 3 when the load generator sees a wrong byte (a connection left unanswered
# is marked in the table).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build/hookbench"
quick=0
install=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-install) install=0 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench/run-hook.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" -eq 1 ]; then
  counts=(100 1000); seconds=1; warmup=0.5; iters=50000
else
  counts=(1000 10000); seconds=5; warmup=1; iters=300000
fi
size=48

die() { echo "bench/run-hook.sh: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

if [ "$install" -eq 1 ] && [ -f "$root/scripts/install-deps.sh" ]; then
  bash "$root/scripts/install-deps.sh" || echo "bench/run-hook.sh: warning: installing packages failed" >&2
fi
mkdir -p "$build"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF \
    -DWEFT_BUILD_BENCH=ON -DWEFT_BUILD_EXAMPLES=ON >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2; die "configuring $build failed"; }
fi
cmake --build "$build" -j2 --target hook_bench >"$build/hook-build.log" 2>&1 || {
  cat "$build/hook-build.log" >&2; die "build failed"; }
load="$build/bench/net/load_echo"
threads_bin="$build/examples/legacy_port/legacy_server_threads"
fibers_bin="$build/examples/legacy_port/legacy_server_fibers"
overhead_bin="$build/bench/hook/hook_overhead"

. "$(dirname "$0")/lib.sh"
bench_pin

# Every connection needs an fd on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
max_count=${counts[-1]}
[ "$(ulimit -n)" -gt $((max_count + 64)) ] || die "RLIMIT_NOFILE $(ulimit -n) is too low for $max_count connections"

mkdir -p "$build/results"
bench_tmp hook

kib() { awk -v k="$2" '$1 == k":" {print $2}' "$1"; }  # FILE KEY: a "Key: N kB" value

results="$tmp/results.jsonl"
: >"$results"

run_one() {  # KIND BIN N
  local kind=$1 bin=$2 n=$3 pid lpid rc=0
  local pf="$tmp/$kind.$n.port"
  "${srv_pin[@]}" "$bin" 0 --port-file "$pf" >"$tmp/$kind.$n.log" 2>&1 &
  pid=$!; pids+=("$pid")
  for _ in $(seq 100); do [ -s "$pf" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  [ -s "$pf" ] || { cat "$tmp/$kind.$n.log" >&2; die "$kind server did not start"; }
  sleep 0.2
  local rss0 ks0 pt0
  rss0=$(kib "/proc/$pid/status" VmRSS); ks0=$(kib /proc/meminfo KernelStack); pt0=$(kib /proc/meminfo PageTables)
  "${load_pin[@]}" "$load" --port "$(tr -d '[:space:]' <"$pf")" --connections "$n" --size "$size" \
    --seconds "$seconds" --warmup "$warmup" --lines >"$tmp/$kind.$n.out" 2>"$tmp/$kind.$n.err" &
  lpid=$!; pids+=("$lpid")
  # Sample every 0.25 s from the moment the server holds every connection (an
  # fd each) until the run ends; the sample with the most memory counts
  # (thread stacks and fiber stacks fill up as the connections first talk).
  local t samples="$build/results/$kind.$n.samples"  # kept for inspection
  : >"$samples"
  for t in $(seq 600); do
    [ "$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)" -ge $((n + 3)) ] && break
    kill -0 "$lpid" 2>/dev/null || break
    sleep 0.05
  done
  while kill -0 "$lpid" 2>/dev/null; do
    [ "$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)" -ge $((n + 3)) ] || break  # the generator is closing
    echo "$(kib "/proc/$pid/status" VmRSS) $(kib /proc/meminfo KernelStack) $(kib /proc/meminfo PageTables)" \
         "$(kib "/proc/$lpid/status" VmPTE 2>/dev/null || echo 0) $(kib "/proc/$pid/status" VmPTE)" \
         "$(awk '$1 == "Threads:" {print $2}' "/proc/$pid/status")" >>"$samples"
    sleep 0.25
  done
  wait "$lpid" || rc=$?
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/$kind.$n.log" >&2; die "$kind server died"; }
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    cat "$tmp/$kind.$n.err" >&2
    [ "$rc" -eq 3 ] && { echo "bench/run-hook.sh: $kind: wrong bytes" >&2; exit 3; }
    die "$kind: the load generator failed (exit $rc)"
  fi
  echo "  $kind, $n connections: $(head -n1 "$tmp/$kind.$n.out" | sed 's/^load_echo: [^,]*, //')"
  python3 - "$kind" "$n" "$tmp/$kind.$n.out" "$rss0" "$ks0" "$pt0" "$samples" >>"$results" <<'PY'
import json, sys
kind, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rss0, ks0, pt0 = (int(x) for x in sys.argv[4:7])
samples = [[int(x) for x in l.split()] for l in open(sys.argv[7]) if len(l.split()) == 6]
def growth(s):
    rss1, ks1, pt1, lpt, _, _ = s
    return rss1 - rss0, (ks1 - ks0) + max(0, (pt1 - pt0) - lpt)
if samples:
    best = max(samples, key=lambda s: sum(growth(s)))
    rss_g, kernel = growth(best)
    rss1, srv_pte, thr = best[0], best[4], best[5]
else:
    # A short run on a busy machine may never see them all open at once:
    # report the rate, and no memory figure rather than a wrong one.
    print(f"bench/run-hook.sh: warning: {kind}, {n} connections: no memory sample with every connection open",
          file=sys.stderr)
    nan = float("nan")
    rss_g = kernel = nan
    srv_pte = thr = 0
doc = json.loads(open(out).read().strip().splitlines()[-1])
unanswered = doc["min_round_trips_per_connection"] < 1
if unanswered:
    print(f"bench/run-hook.sh: warning: {kind}, {n} connections: a connection was never answered during the run",
          file=sys.stderr)
print(json.dumps(dict(kind=kind, n=n, rate=doc["round_trips_per_s"], p99_us=doc["p99_us"],
    rss_kib=rss_g / n, kernel_kib=kernel / n, total_kib=(rss_g + kernel) / n, samples=len(samples),
    server_threads=thr, server_vmpte_kib=srv_pte, unanswered=unanswered)))
PY
}

echo "bench/run-hook.sh: legacy_port, threads vs fibers, ${seconds}s runs (+${warmup}s warm-up), $size-byte lines; $pin_note"
for n in "${counts[@]}"; do
  run_one threads "$threads_bin" "$n"
  run_one fibers "$fibers_bin" "$n"
done
echo "  hooked read/write on a ready fd ..."
"${srv_pin[@]}" "$overhead_bin" "$iters" 5 >"$tmp/overhead.json"

cp "$results" "$build/results/legacy.jsonl"; cp "$tmp/overhead.json" "$build/results/overhead.json"

python3 - "$results" "$tmp/overhead.json" "$pin_note" "$quick" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ov = json.loads(open(sys.argv[2]).read())
pin, quick = sys.argv[3], sys.argv[4] == "1"
by = {(r["kind"], r["n"]): r for r in rows}
table = [("measure", "OS threads", "weft fibers", "fibers/threads", "target", "result")]
for n in sorted({r["n"] for r in rows}):
    t, f = by[("threads", n)], by[("fibers", n)]
    ratio = f["rate"] / t["rate"]
    mark = lambda r: " (!)" if r.get("unanswered") else ""
    table.append((f"round trips/s, {n:,} conns", f"{t['rate']:,.0f}{mark(t)}", f"{f['rate']:,.0f}{mark(f)}", f"{ratio:.2f}x",
                  ">= 1.5x", "ok" if ratio >= 1.5 else "MISSED"))
    mr = f["total_kib"] / t["total_kib"] if t["total_kib"] > 0 else float("nan")
    table.append((f"KiB/conn, {n:,} conns (RSS + kernel)",
                  f"{t['total_kib']:.1f} ({t['rss_kib']:.1f} + {t['kernel_kib']:.1f})",
                  f"{f['total_kib']:.1f} ({f['rss_kib']:.1f} + {f['kernel_kib']:.1f})", f"{mr:.2f}x",
                  "<= 0.35x", "ok" if mr <= 0.35 else "MISSED"))
table.append(("ns per write+read, ready fd", f"raw syscall {ov['raw_ns_per_write_read']:.0f}",
              f"hooked {ov['hooked_ns_per_write_read']:.0f}", f"{ov['ratio']:.3f}x", "<= 1.1x",
              "ok" if ov["ratio"] <= 1.1 else "MISSED"))
notes = ["(!): at least one connection got no answer during the run"] if any(r.get("unanswered") for r in rows) else []
w = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
print()
print(f"weft::hook ({'quick' if quick else 'full'}): examples/legacy_port as OS threads vs weft fibers (one worker); {pin}")
print("KiB/conn: (server RSS growth + KernelStack and PageTables growth in /proc/meminfo, less the load generator's"
      " page tables) / connections, sampled mid-run; ready fd: 1-byte write then read on a socketpair, best of 5")
for i, r in enumerate(table):
    print("  ".join(c.ljust(w[j]) if j == 0 else c.rjust(w[j]) for j, c in enumerate(r)).rstrip())
    if i == 0:
        print("  ".join("-" * x for x in w))
for note in notes:
    print(note)
PY
