#!/usr/bin/env bash
# Memory per idle connection: echo servers hold N connections that have each
# echoed one small message and now wait in their next read; the server's
# VmRSS with them, less its VmRSS before them, over N. Servers: weft_echo
# with a 4 KiB buffer per connection (--buf, on the heap, zeroed, like Go's
# make), weft_echo --pooled (read_pooled: no buffer while idle), Go's echo
# with a 4 KiB buffer (GOMAXPROCS=1, when `go` is installed), and the raw
# epoll server (one buffer for all connections: the floor). The client is
# bench/net/conns_client. Prints one table and the ratios weft/Go.
# Usage: bench/run-conns.sh [--conns N] [--buf BYTES] [--size BYTES] [--only LIST] [--no-install]
#   --conns: connections (default 10000; 100000 works where RLIMIT_NOFILE
#   allows N + 64 fds per process: `ulimit -Hn` must be at least that, and
#   the script raises the soft limit).  --buf: the per-connection buffer of
#   the buffered servers (default 4096).  --size: the message (default 64).
#   --only: a comma list of weft,pooled,go,epoll (default all).
#   --no-install: do not call scripts/install-deps.sh when go is missing.
# Exits 1 when a build, a server or the client fails, 2 on bad arguments or
# when the fd limit is too low for N.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build/netbench"
conns=10000
buf=4096
size=64
install=1
only=weft,pooled,go,epoll
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) shift; conns=${1:-}
      [[ "$conns" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run-conns.sh: --conns needs a positive number" >&2; exit 2; } ;;
    --buf) shift; buf=${1:-}
      [[ "$buf" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run-conns.sh: --buf needs a positive number" >&2; exit 2; } ;;
    --size) shift; size=${1:-}
      [[ "$size" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run-conns.sh: --size needs a positive number" >&2; exit 2; } ;;
    --only) shift; only=${1:-}
      [[ "$only" =~ ^(weft|pooled|go|epoll)(,(weft|pooled|go|epoll))*$ ]] ||
        { echo "bench/run-conns.sh: --only needs a comma list of weft, pooled, go, epoll" >&2; exit 2; } ;;
    --no-install) install=0 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench/run-conns.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
wanted() { [[ ",$only," == *",$1,"* ]]; }
die() { echo "bench/run-conns.sh: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---- fd limits: the server and the client each hold N sockets -----------------
need=$((conns + 64))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
    ulimit -Hn "$need" 2>/dev/null || {
      echo "bench/run-conns.sh: $conns connections need $need fds per process, but RLIMIT_NOFILE's hard limit" \
           "is $(ulimit -Hn) here and cannot be raised (needs CAP_SYS_RESOURCE); use --conns $(( $(ulimit -Hn) - 64 )) or less" >&2
      exit 2
    }
  fi
  ulimit -n "$need"
fi

# ---- packages and build ------------------------------------------------------
if wanted go && ! have go && [ "$install" -eq 1 ] && [ -f "$root/scripts/install-deps.sh" ]; then
  bash "$root/scripts/install-deps.sh" ci ||
    echo "bench/run-conns.sh: warning: installing packages failed; Go is skipped" >&2
fi
mkdir -p "$build"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF \
    -DWEFT_BUILD_BENCH=ON -DWEFT_BUILD_EXAMPLES=ON >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2; die "configuring $build failed"; }
fi
if ! cmake --build "$build" -j2 --target weft_echo epoll_echo conns_client >"$build/conns-build.log" 2>&1; then
  cat "$build/conns-build.log" >&2
  die "build failed"
fi
bin="$build/bench/net"
go_bin=""
. "$(dirname "$0")/lib.sh"
if wanted go && have go; then
  bench_go_build net/go_echo "$bin/go_echo" || die "go build of bench/net/go_echo failed"
  go_bin="$bin/go_echo"
fi

bench_pin
bench_tmp conns

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

stop() {  # PID
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# measure NAME CMD...: prints "NAME|RSS before|RSS with N|KiB per connection".
declare -A per_conn
rows=()
measure() {
  local name=$1; shift
  local portf="$tmp/port" readyf="$tmp/ready" spid cpid port before after
  rm -f "$portf" "$readyf"
  "${srv_pin[@]}" "$@" --port-file "$portf" >"$tmp/server.log" 2>&1 &
  spid=$!
  pids+=("$spid")
  for _ in $(seq 100); do [ -s "$portf" ] && break; kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
  [ -s "$portf" ] || { cat "$tmp/server.log" >&2; die "$name did not start"; }
  port=$(cat "$portf")
  sleep 0.5
  before=$(rss_kib "$spid")
  "${load_pin[@]}" "$bin/conns_client" --port "$port" --conns "$conns" --size "$size" --ready-file "$readyf" \
    >"$tmp/client.log" 2>&1 &
  cpid=$!
  pids+=("$cpid")
  # 10 s per 1,000 connections at most (they take well under a second here).
  for _ in $(seq $(( (conns / 1000 + 1) * 100 ))); do
    [ -s "$readyf" ] && break
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -s "$readyf" ]; then
    cat "$tmp/client.log" "$tmp/server.log" >&2
    die "$name: the client did not get $conns connections echoed"
  fi
  sleep 2  # idle: the servers settle (Go's scavenger, weft's caches)
  after=$(rss_kib "$spid")
  stop "$cpid"
  stop "$spid"
  per_conn[$name]=$(awk -v a="$after" -v b="$before" -v n="$conns" 'BEGIN { printf "%.2f", (a - b) / n }')
  rows+=("$name|$before|$after|${per_conn[$name]}")
  echo "  $name: VmRSS $before KiB before, $after KiB with $conns idle connections: ${per_conn[$name]} KiB each"
}

echo "Memory per idle connection: $conns connections, one ${size}-byte echo each, then idle ($pin_note)"
wanted weft && measure "weft_echo --buf $buf" "$bin/weft_echo" --buf "$buf"
wanted pooled && measure "weft_echo --pooled" "$bin/weft_echo" --pooled
if wanted go; then
  if [ -n "$go_bin" ]; then
    measure "go_echo --buf $buf" env GOMAXPROCS=1 "$go_bin" --buf "$buf"
  else
    echo "  go_echo: skipped (go is not installed)"
  fi
fi
wanted epoll && measure "epoll_echo (one shared buffer)" "$bin/epoll_echo"

echo
printf '| %-32s | %12s | %16s | %12s | %8s |\n' server "RSS before" "RSS with $conns" "KiB per conn" "vs Go"
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..34})" "$(printf -- '-%.0s' {1..14})" \
  "$(printf -- '-%.0s' {1..18})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..10})"
go_per=${per_conn["go_echo --buf $buf"]:-}
for r in "${rows[@]}"; do
  IFS='|' read -r name before after per <<<"$r"
  ratio="-"
  [ -n "$go_per" ] && ratio=$(awk -v x="$per" -v g="$go_per" 'BEGIN { if (g > 0) printf "%.2f", x / g; else print "-" }')
  printf '| %-32s | %9s KiB | %13s KiB | %12s | %8s |\n' "$name" "$before" "$after" "$per" "$ratio"
done
