#!/usr/bin/env bash
# Network load comparison: weft's echo server against a raw epoll server (the
# limit), Boost.Asio and Go (GOMAXPROCS=1), all single-threaded, driven by the
# closed-loop load generator bench/net/load_echo; then weft's examples/http_server
# against nginx (one worker) under wrk, for GET / ("hello") and for a 1 MiB
# static file (both servers sendfile(2) it); then both over TLS (the same
# certificate, made here with the openssl CLI): HTTPS keep-alive under wrk,
# and full handshakes per second (K concurrent `openssl s_time -new`, each
# connection one handshake, one GET, one close). Prints one table.
# Usage: bench/run-net.sh [--quick] [--reps N] [--only ROWS] [--no-install] [--no-wait]
#   --quick: 1 s runs, 20 connections, 2 handshake clients, 1 repetition.  Default: 5 s runs,
#   100 connections x 64 bytes, wrk -t1 -c100 -d5s, 4 handshake clients, 3 interleaved
#   repetitions (the table shows the best run of each server).  --only ROWS: a comma list
#   of echo, http, static, tls (default all).  --no-install: do not call scripts/install-deps.sh.
#   --no-wait: do not wait (at most 10 s) for other processes to quiet down before each
#   run, nor redo (once) a run during which they used over 20% of the machine.
# Exits 1 when a build or a server fails to start, 3 when the load generator
# sees a byte mismatch (or an HTTP check, wrk or s_time sees a wrong answer).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build/netbench"
quick=0
reps=""
install=1
wait_quiet=1
only=echo,http,static,tls
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --reps) shift; reps=${1:-}
      [[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run-net.sh: --reps needs a positive number" >&2; exit 2; } ;;
    --no-install) install=0 ;;
    --no-wait) wait_quiet=0 ;;
    --only) shift; only=${1:-}
      [[ "$only" =~ ^(echo|http|static|tls)(,(echo|http|static|tls))*$ ]] ||
        { echo "bench/run-net.sh: --only needs a comma list of echo, http, static, tls" >&2; exit 2; } ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench/run-net.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

if [ "$quick" -eq 1 ]; then
  seconds=1; warmup=0.2; conns=20; hs_clients=2; reps=${reps:-1}
else
  seconds=5; warmup=0.5; conns=100; hs_clients=4; reps=${reps:-3}
fi
size=64
wanted() { [[ ",$only," == *",$1,"* ]]; }

die() { echo "bench/run-net.sh: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---- packages and build ------------------------------------------------------
if [ "$install" -eq 1 ] && [ -f "$root/scripts/install-deps.sh" ]; then
  bash "$root/scripts/install-deps.sh" ci ||
    echo "bench/run-net.sh: warning: installing packages failed; peers that are missing are skipped" >&2
fi

mkdir -p "$build"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF \
    -DWEFT_BUILD_BENCH=ON -DWEFT_BUILD_EXAMPLES=ON >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2; die "configuring $build failed"; }
fi
targets=(net_bench)
cmake --build "$build" --target help 2>/dev/null | grep -q '^http_server:' && targets+=(http_server)
if ! cmake --build "$build" -j2 --target "${targets[@]}" >"$build/net-build.log" 2>&1; then
  cat "$build/net-build.log" >&2
  die "build failed"
fi
bin="$build/bench/net"

go_bin=""
. "$(dirname "$0")/lib.sh"
if have go; then
  bench_go_build net/go_echo "$bin/go_echo" || die "go build of bench/net/go_echo failed"
  go_bin="$bin/go_echo"
fi

# ---- pinning -----------------------------------------------------------------
bench_pin
ncpu=$(nproc 2>/dev/null || echo 1)

# ---- bookkeeping: every server we start is killed on exit --------------------
bench_tmp net

stop_server() {  # PID
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)

# CPU ticks (utime+stime) of a process and its direct children (nginx's worker).
cpu_ticks() {  # PID
  local pid=$1 total=0 f line p rest
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue  # the process may be gone already
    p=${f#/proc/}; p=${p%/stat}
    rest=${line##*) }
    # Fields after the ")" of the command name: 2=ppid, 12=utime, 13=stime.
    # shellcheck disable=SC2086
    set -- $rest
    if [ "$p" = "$pid" ] || [ "$2" = "$pid" ]; then total=$((total + ${12} + ${13})); fi
  done
  echo "$total"
}

# Busy and total ticks of the whole machine so far ("busy total").
machine_ticks() {
  local user nice sys idle iowait irq softirq steal rest
  read -r _ user nice sys idle iowait irq softirq steal rest </proc/stat
  echo "$((user + nice + sys + irq + softirq + steal)) $((user + nice + sys + idle + iowait + irq + softirq + steal))"
}

# Waits (at most 10 s) until other processes use under 15% of the machine, so a
# burst of unrelated work (a compiler, a test run) does not land in a measurement.
quiet_down() {
  [ "$wait_quiet" -eq 1 ] || return 0
  local a b busy
  for _ in $(seq 20); do
    read -r -a a <<<"$(machine_ticks)"; sleep 0.5; read -r -a b <<<"$(machine_ticks)"
    busy=$(( (b[0] - a[0]) * 100 / ((b[1] - a[1]) > 0 ? (b[1] - a[1]) : 1) ))
    [ "$busy" -lt 15 ] && return 0
  done
  echo "  (the machine stayed ${busy}% busy with other work; measuring anyway)"
}

results="$tmp/results.jsonl"
: >"$results"
m0=(0 0)
srv_c0=0
begin_measure() {  # PID
  quiet_down
  read -r -a m0 <<<"$(machine_ticks)"
  srv_c0=$(cpu_ticks "$1")
}
# end_measure PID: prints "server_ticks machine_busy_ticks machine_total_ticks" for the run.
end_measure() {
  local c1 m1
  c1=$(cpu_ticks "$1")
  read -r -a m1 <<<"$(machine_ticks)"
  echo "$((c1 - srv_c0)) $((m1[0] - m0[0])) $((m1[1] - m0[1]))"
}

started_pid=""
started_port=""
# start_echo_server NAME CMD... : runs CMD plus "0 --port-file F" on the server CPU, waits for the port.
start_echo_server() {
  local name=$1; shift
  local pf="$tmp/$name.port"
  rm -f "$pf"
  "${srv_pin[@]}" "$@" 0 --port-file "$pf" >"$tmp/$name.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 100); do
    [ -s "$pf" ] && break
    kill -0 "$started_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -s "$pf" ]; then
    cat "$tmp/$name.log" >&2
    kill -0 "$started_pid" 2>/dev/null && die "$name did not start (no port after 10 s)"
    die "$name did not start (it exited)"
  fi
  started_port=$(tr -d '[:space:]' <"$pf")
}

# record KIND NAME REP OUTFILE "srv_ticks busy total" [LOAD_TIME_FILE]: one JSON line per run.
record() {
  python3 - "$@" "$clk_tck" "$ncpu" >>"$results" <<'EOF'
import json, os, re, sys
kind, name, rep, path, ticks, timef, hz, ncpu = sys.argv[1:9]
srv_ticks, busy, total = (int(x) for x in ticks.split())
hz, ncpu = int(hz), int(ncpu)
text = open(path).read()
row = {"kind": kind, "server": name, "rep": int(rep), "cpu_s": srv_ticks / hz}
if kind == "echo":
    doc = json.loads(text.strip().splitlines()[-1])
    row.update(rate=doc["round_trips_per_s"], ops=doc["total_round_trips"], wall_s=doc["total_seconds"],
               p50_us=doc["p50_us"], p99_us=doc["p99_us"], load_cpu_s=doc.get("load_cpu_s"))
elif kind == "handshake":
    # Every s_time client's "N connections in T real seconds" (T counts whole
    # seconds only), and the wall time of them all, measured around them.
    ops = sum(int(n) for n in re.findall(r"(\d+) connections in \d+ real seconds", text))
    wall = float(re.search(r"wall_s: ([\d.]+)", text).group(1))
    row.update(rate=ops / wall if wall else 0.0, ops=ops, wall_s=wall, load_cpu_s=None)
    if os.path.exists(timef):
        try:
            row["load_cpu_s"] = sum(float(x) for x in open(timef).read().split())
        except ValueError:
            pass
else:
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", text)
    row.update(rate=float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)), ops=int(m.group(1)),
               wall_s=float(m.group(2)) * (0.001 if m.group(3) == "ms" else 1.0), load_cpu_s=None)
    lat = re.search(r"Latency\s+([\d.]+)(us|ms|s)", text)
    if lat:
        row["avg_latency_us"] = float(lat.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[lat.group(2)]
    if os.path.exists(timef):
        try:
            row["load_cpu_s"] = sum(float(x) for x in open(timef).read().split()[-2:])
        except ValueError:
            pass
    errs = re.search(r"Socket errors: (.*)", text)
    row["socket_errors"] = errs.group(1) if errs else ""
# What everything else on the machine used meanwhile, in CPUs' worth (the
# server and the load generator taken out; softirq work is charged to them).
ours = srv_ticks / hz + (row["load_cpu_s"] or 0.0)
row["other"] = max(0.0, busy / hz - ours) / (total / hz) if total else None  # share of all CPUs
print(json.dumps(row))
EOF
}

# noisy_last: true when other processes used over 20% of the machine during the
# last recorded run; then that run is dropped so the caller can redo it.
noisy_last() {
  [ "$wait_quiet" -eq 1 ] || return 1
  local o
  o=$(tail -n1 "$results" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(100*(r.get("other") or 0)))')
  [ "$o" -gt 20 ] || return 1
  sed -i '$d' "$results"
  echo "  (other processes used ${o}% of the machine during that run: redoing it)"
}

run_echo() {  # NAME REP CMD...
  run_echo_once "$@"
  if noisy_last; then run_echo_once "$@"; fi
}

run_echo_once() {  # NAME REP CMD...
  local name=$1 rep=$2; shift 2
  start_echo_server "$name" "$@"
  local pid=$started_pid port=$started_port rc=0 ticks
  begin_measure "$pid"
  "${load_pin[@]}" "$bin/load_echo" --host 127.0.0.1 --port "$port" --connections "$conns" --size "$size" \
    --seconds "$seconds" --warmup "$warmup" >"$tmp/$name.$rep.out" 2>"$tmp/$name.$rep.err" || rc=$?
  ticks=$(end_measure "$pid")
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$tmp/$name.log" "$tmp/$name.$rep.err" >&2
    die "$name died during the load run"
  fi
  stop_server "$pid"
  if [ "$rc" -eq 3 ]; then
    cat "$tmp/$name.$rep.err" >&2
    echo "bench/run-net.sh: $name: the load generator saw a byte mismatch" >&2
    exit 3
  elif [ "$rc" -ne 0 ]; then
    cat "$tmp/$name.$rep.err" >&2
    die "$name: the load generator failed (exit $rc)"
  fi
  echo "  $name #$rep: $(head -n1 "$tmp/$name.$rep.out" | sed 's/^load_echo: [^,]*, //')"
  record echo "$name" "$rep" "$tmp/$name.$rep.out" "$ticks" ""
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

check_hello() {  # NAME PORT [https]: GET / must answer 200 with the body "hello\n"
  python3 - "$1" "$2" "${3:-http}" "$tmp/tls/ca.pem" <<'EOF' || exit 3
import ssl, sys, urllib.request
name, port, scheme, ca = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca) if scheme == "https" else None  # the certificate must verify
with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/", timeout=5, context=ctx) as r:
    body = r.read()
    if r.status != 200 or body != b"hello\n":
        sys.exit(f"bench/run-net.sh: {name}: GET / answered {r.status} {body!r}, expected 200 b'hello\\n'")
EOF
}

wait_port() {  # PORT PID
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || return 1
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' "$1" \
      2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# The 1 MiB file of the static row, and its check: the whole body, byte for byte.
static_file() {
  if [ ! -s "$tmp/static/big.bin" ]; then
    mkdir -p "$tmp/static"
    head -c 1048576 /dev/urandom >"$tmp/static/big.bin"
  fi
}
check_static() {  # NAME PORT
  python3 - "$1" "$2" "$tmp/static/big.bin" <<'EOF' || exit 3
import sys, urllib.request
name, port, path = sys.argv[1:4]
want = open(path, "rb").read()
with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/big.bin", timeout=5) as r:
    body = r.read()
    if r.status != 200 or body != want:
        sys.exit(f"bench/run-net.sh: {name}: GET /static/big.bin answered {r.status} with {len(body)} bytes"
                 f"{'' if len(body) != len(want) else ' (other bytes)'}, expected 200 and the file's {len(want)}")
EOF
}

run_wrk() {  # NAME REP PID PORT [https|static]
  local name=$1 rep=$2 pid=$3 port=$4 scheme=${5:-http} rc=0 ticks timer=() url kind
  kind=$scheme
  if [ "$scheme" = static ]; then
    scheme=http
    check_static "$name" "$port"
    url="http://127.0.0.1:$port/static/big.bin"
  else
    check_hello "$name" "$port" "$scheme"
    url="$scheme://127.0.0.1:$port/"
  fi
  rm -f "$tmp/wrk.time"
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%U %S" -o "$tmp/wrk.time")
  begin_measure "$pid"
  "${load_pin[@]}" "${timer[@]}" wrk -t1 -c"$conns" -d"${seconds}s" "$url" \
    >"$tmp/$name.$rep.out" 2>&1 || rc=$?
  ticks=$(end_measure "$pid")
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$tmp/$name.$rep.out" >&2
    die "$name died during the wrk run"
  fi
  [ "$rc" -eq 0 ] || { cat "$tmp/$name.$rep.out" >&2; die "$name: wrk failed (exit $rc)"; }
  if grep -q 'Non-2xx or 3xx responses' "$tmp/$name.$rep.out"; then
    cat "$tmp/$name.$rep.out" >&2
    echo "bench/run-net.sh: $name: wrk saw non-2xx answers" >&2
    exit 3
  fi
  echo "  $name #$rep: $(grep -E 'Requests/sec' "$tmp/$name.$rep.out" | tr -s ' ')$(grep -E 'Socket errors' "$tmp/$name.$rep.out" | sed 's/^ */, /')"
  record "$kind" "$name" "$rep" "$tmp/$name.$rep.out" "$ticks" "$tmp/wrk.time"
}

# MODE: http (wrk), static (wrk, GET of a 1 MiB file), https (wrk over TLS)
# or handshake (s_time, a new TLS connection per request).
run_weft_http() {  # REP [MODE]
  run_weft_http_once "$@"
  if noisy_last; then run_weft_http_once "$@"; fi
}

run_nginx() {  # REP [MODE]
  run_nginx_once "$@"
  if noisy_last; then run_nginx_once "$@"; fi
}

# run_load NAME REP PID PORT MODE: the load of MODE against a started server.
run_load() {
  case "$5" in
    http) run_wrk "$1" "$2" "$3" "$4" ;;
    https) run_wrk "$1" "$2" "$3" "$4" https ;;
    static) run_wrk "$1" "$2" "$3" "$4" static ;;
    handshake) run_handshakes "$1" "$2" "$3" "$4" ;;
  esac
}

run_weft_http_once() {  # REP [MODE]
  local mode=${2:-http} pf="$tmp/http.port" pid tls=()
  case "$mode" in
    http) ;;
    static) tls=(--root "$tmp/static") ;;  # plain HTTP: the file goes out with sendfile(2)
    *) tls=(--tls-cert "$tmp/tls/server.pem" --tls-key "$tmp/tls/server.key") ;;
  esac
  rm -f "$pf"
  "${srv_pin[@]}" "$build/examples/http_server" 127.0.0.1:0 --port-file "$pf" "${tls[@]}" >"$tmp/weft-http.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do [ -s "$pf" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  [ -s "$pf" ] || { cat "$tmp/weft-http.log" >&2; die "examples/http_server did not start"; }
  run_load "weft http_server" "$1" "$pid" "$(tr -d '[:space:]' <"$pf")" "$mode"
  stop_server "$pid"
}

run_nginx_once() {  # REP [MODE]
  local mode=${2:-http} dir="$tmp/nginx" port pid listen tls_conf=""
  mkdir -p "$dir"
  port=$(free_port)
  listen="127.0.0.1:$port"
  if [ "$mode" != http ] && [ "$mode" != static ]; then
    # No ssl_ciphers or ssl_ecdh_curve: OpenSSL's defaults, as weft's
    # tls_context takes them (both end up on TLSv1.3 with the same suite).
    listen="$listen ssl"
    tls_conf="ssl_certificate $tmp/tls/server.pem;
        ssl_certificate_key $tmp/tls/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;"
  fi
  # The static row's file lies in this script's private folder: nginx's worker
  # (which a root master makes "nobody") reads it as the user running this.
  local user_conf=""
  [ "$mode" = static ] && [ "$(id -u)" -eq 0 ] && user_conf="user $(id -un) $(id -gn);"
  cat >"$dir/nginx.conf" <<EOF
$user_conf
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    # weft's http_server keeps a connection open for any number of requests; so does this nginx.
    keepalive_requests 1000000000;
    keepalive_timeout 60s;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen $listen;
        $tls_conf
        location = / {
            default_type text/plain;
            return 200 "hello\n";
        }
        # The static row: the same file, sent with sendfile(2) as weft's server sends it.
        location /static/ {
            alias $tmp/static/;
            default_type application/octet-stream;
            sendfile on;
        }
    }
}
EOF
  # Master and its one worker both stay on the server CPU.
  "${srv_pin[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  if ! wait_port "$port" "$pid"; then
    cat "$dir/stdout.log" "$dir/error.log" >&2 2>/dev/null || true
    die "nginx did not start"
  fi
  run_load "nginx (1 worker)" "$1" "$pid" "$port" "$mode"
  stop_server "$pid"
}

# ---- TLS: make_certs, negotiated, run_handshakes ------------------------------
. "$(dirname "$0")/net-tls.sh"

# ---- runs ----------------------------------------------------------------------
echo "bench/run-net.sh: ${seconds}s runs (+${warmup}s warm-up), $conns connections x $size bytes," \
     "$reps repetition(s); $pin_note"

echo_servers=()
if wanted echo; then
  echo_servers=("weft" "raw epoll" "weft io_uring")
  [ -x "$bin/asio_echo" ] && echo_servers+=("Boost.Asio")
  [ -n "$go_bin" ] && echo_servers+=("Go")
fi

for rep in $(seq "$reps"); do
  # Rotate the order each repetition so a slow phase of a shared machine spreads out.
  n=${#echo_servers[@]}
  for k in $(seq 0 $((n - 1))); do
    s=${echo_servers[$(((k + rep - 1) % n))]}
    case "$s" in
      "weft") run_echo weft "$rep" env WEFT_REACTOR=epoll "$bin/weft_echo" ;;
      "weft io_uring") run_echo "weft io_uring" "$rep" env WEFT_REACTOR=io_uring "$bin/weft_echo" ;;
      "raw epoll") run_echo "raw epoll" "$rep" "$bin/epoll_echo" ;;
      "Boost.Asio") run_echo "Boost.Asio" "$rep" "$bin/asio_echo" ;;
      "Go") run_echo Go "$rep" env GOMAXPROCS=1 "$go_bin" ;;
    esac
  done
done

# Both servers of a row, in turns: the order flips each repetition.
run_pair() {  # REP MODE
  if [ $(($1 % 2)) -eq 1 ]; then run_weft_http "$1" "$2"; run_nginx "$1" "$2"
  else run_nginx "$1" "$2"; run_weft_http "$1" "$2"; fi
}

static_note=""
if ! wanted static; then
  static_note="static-file rows not selected (--only $only)"
elif [ -x "$build/examples/http_server" ] && have wrk && have nginx; then
  static_file
  for rep in $(seq "$reps"); do run_pair "$rep" static; done
else
  static_note="static-file comparison skipped: missing examples/http_server, wrk or nginx"
fi

http_note=""
if ! wanted http; then
  http_note="HTTP rows not selected (--only $only)"
elif [ -x "$build/examples/http_server" ] && have wrk && have nginx; then
  for rep in $(seq "$reps"); do run_pair "$rep" http; done
else
  missing=()
  [ -x "$build/examples/http_server" ] || missing+=("examples/http_server (libhttp-parser-dev)")
  have wrk || missing+=(wrk)
  have nginx || missing+=(nginx)
  http_note="HTTP comparison skipped: missing ${missing[*]}"
fi

# TLS: what each row needs, and why it is skipped when something lacks TLS.
tls_note=""   # both TLS rows
https_note=""  # the wrk row only
: >"$tmp/negotiated"
if ! wanted tls; then
  tls_note="TLS rows not selected (--only $only)"
else
  missing=()
  if [ ! -x "$build/examples/http_server" ]; then
    missing+=("examples/http_server (libhttp-parser-dev)")
  elif ! "$build/examples/http_server" --help | grep -q -- --tls-cert; then
    missing+=("TLS in examples/http_server (weft was built without OpenSSL: libssl-dev)")
  fi
  have openssl || missing+=("the openssl CLI")
  if ! have nginx; then
    missing+=(nginx)
  elif ! nginx -V 2>&1 | grep -q -- --with-http_ssl_module; then
    missing+=("TLS in nginx (built without http_ssl_module)")
  fi
  [ ${#missing[@]} -eq 0 ] || tls_note="TLS comparison skipped: missing ${missing[*]}"
  if [ -z "$tls_note" ] && ! make_certs; then
    cat "$tmp/tls/openssl.log" >&2
    tls_note="TLS comparison skipped: the openssl CLI could not make the certificates"
  fi
  # wrk links OpenSSL (libssl, or a copy built in); one without it cannot do https://.
  if ! have wrk; then
    https_note="HTTPS row skipped: missing wrk"
  elif ! { ldd "$(command -v wrk)" 2>/dev/null | grep -q libssl || grep -qa SSL_CTX_new "$(command -v wrk)"; }; then
    https_note="HTTPS row skipped: this wrk has no TLS"
  fi
  if [ -z "$tls_note" ]; then
    for rep in $(seq "$reps"); do
      [ -n "$https_note" ] || run_pair "$rep" https
      run_pair "$rep" handshake
    done
  fi
  [ -z "$https_note" ] || echo "bench/run-net.sh: $https_note"
  [ -z "$tls_note" ] || echo "bench/run-net.sh: $tls_note"
fi

mkdir -p "$build/net-results"
cp "$results" "$build/net-results/results.jsonl"

python3 - "$results" "$pin_note" "$quick" "$reps" "$seconds" "$conns" "$size" "$http_note" "$tls_note" \
  "$https_note" "$hs_clients" "$tmp/negotiated" "$only" "$static_note" <<'EOF'
import json, statistics, sys
path, pin, quick, reps, seconds, conns, size, http_note, tls_note, https_note, hs_clients, negotiated, only, \
    static_note = sys.argv[1:15]
rows = [json.loads(l) for l in open(path) if l.strip()]

def runs(kind, server):
    return [r for r in rows if r["kind"] == kind and r["server"] == server]

# Best of the repetitions: on a shared machine noise (other processes, a busy
# host) only ever slows a run down, so the fastest run is the best estimate of
# what the server can do; min..max shows how much the runs spread.
def best(kind, server):
    rs = runs(kind, server)
    return max(rs, key=lambda r: r["rate"]) if rs else None
def us_per_op(r): return 1e6 * r["cpu_s"] / r["ops"] if r and r["ops"] else None
def pct(r, key): return None if r is None or r.get(key) is None or not r["wall_s"] else 100 * r[key] / r["wall_s"]
def fmt_pct(v): return "n/a" if v is None else f"{v:.0f}%"

spec = [  # (label, kind, server, target for weft/peer or None)
    ("weft on epoll (fiber per connection, WEFT_REACTOR=epoll)", "echo", "weft", None),
    ("raw epoll, edge-triggered", "echo", "raw epoll", 0.95),
    ("weft with WEFT_REACTOR=io_uring (socket I/O in the ring)", "echo", "weft io_uring", None),
    ("Boost.Asio, 1 io_context thread", "echo", "Boost.Asio", None),
    ("Go, goroutine per conn, GOMAXPROCS=1", "echo", "Go", 1.3),
    ("weft examples/http_server", "http", "weft http_server", None),
    ("nginx, 1 worker", "http", "nginx (1 worker)", 1.0),
    ("weft http_server, 1 MiB static file (sendfile)", "static", "weft http_server", None),
    ("nginx, 1 worker, 1 MiB static file (sendfile on)", "static", "nginx (1 worker)", None),
    ("weft http_server --tls-cert, keep-alive", "https", "weft http_server", None),
    ("nginx, 1 worker, ssl, keep-alive", "https", "nginx (1 worker)", None),
    ("weft http_server, new TLS conn per GET", "handshake", "weft http_server", None),
    ("nginx, 1 worker, new TLS conn per GET", "handshake", "nginx (1 worker)", None),
]
weft_of = {"echo": "weft", "http": "weft http_server", "static": "weft http_server", "https": "weft http_server", "handshake": "weft http_server"}
echo_note = "" if "echo" in only.split(",") else f"echo rows not selected (--only {only})"
kind_note = {"echo": echo_note, "http": http_note, "static": static_note, "https": tls_note or https_note, "handshake": tls_note}
missing_note = {"Go": "go not installed", "Boost.Asio": "Boost not found"}
header = ("server", "best rate/s", "min..max", "srv us/op", "srv CPU", "load CPU", "other", "weft/peer",
          "by CPU/op", "target", "result")
table = [header]
notes = []
for label, kind, server, target in spec:
    b = best(kind, server)
    tgt = "-" if target is None else f">= {target:.2f}"
    if b is None:
        why = kind_note[kind] or missing_note.get(server) or "not run"
        table.append((f"[{kind}] {label}", "n/a", "", "", "", "", "", "", "", tgt,
                      why if "skipped" in why else "skipped: " + why))
        continue
    r = b["rate"]
    vals = [x["rate"] for x in runs(kind, server)]
    spread = f"{min(vals):.0f}..{max(vals):.0f}" if len(vals) > 1 else ""
    c = us_per_op(b)
    is_weft = server == weft_of[kind]
    wb = best(kind, weft_of[kind])
    w, wc = (wb["rate"], us_per_op(wb)) if wb else (None, None)
    ratio = None if is_weft or w is None else w / r
    cpu_ratio = None if is_weft or wc is None or c is None else c / wc
    load = pct(b, "load_cpu_s")
    # Where the load generator saturated its CPU (for either server), the
    # rate is its pace, not the server's: the server CPU per operation is
    # judged then (the peer's over weft's, against the same target).
    wload = pct(wb, "load_cpu_s") if wb else None
    by_cpu = cpu_ratio is not None and ((load is not None and load >= 90) or (wload is not None and wload >= 90))
    judged = cpu_ratio if by_cpu else ratio
    verdict = "" if judged is None or target is None else ("ok" if judged >= target else "MISSED") + (" (CPU/op)" if by_cpu else "")
    if load is not None and load >= 90:
        notes.append(f"[{kind}] {server}")
    unit = {"echo": "rt", "handshake": "hs"}.get(kind, "req")
    table.append((f"[{kind}] {label}", f"{r:,.0f} {unit}", spread, "n/a" if c is None else f"{c:.2f}",
                  fmt_pct(pct(b, "cpu_s")), fmt_pct(load), fmt_pct(None if b.get("other") is None else 100 * b["other"]),
                  "(weft)" if is_weft else ("n/a" if ratio is None else f"{ratio:.3f}"),
                  "" if is_weft else ("n/a" if cpu_ratio is None else f"{cpu_ratio:.3f}"), tgt, verdict))

widths = [max(len(r[i]) for r in table) for i in range(len(header))]
mode = "quick" if quick == "1" else "full"
print()
print(f"weft network load ({mode}): {reps} interleaved run(s) per server of {seconds} s, best run shown; "
      f"echo: {conns} connections x {size} B closed loop (bench/net/load_echo); "
      f"HTTP: wrk -t1 -c{conns} -d{seconds}s, GET / -> \"hello\\n\"; static: the same for GET of a 1 MiB file; "
      f"HTTPS: GET / over TLS; "
      f"hs (handshake): {hs_clients} x openssl s_time -new -www / (full handshake, one GET, close)")
print(f"{pin}; every server single-threaded; loopback 127.0.0.1")
print("best rate/s: round trips/s (echo), requests/s (HTTP, HTTPS) or handshakes/s (hs) of the fastest run, whose other columns follow; srv us/op: server CPU time (user+sys, incl. softirq it ran) "
      "per round trip, request or handshake; srv/load CPU: share of one CPU used by the server / the load generator; other: "
      "what other processes used of all CPUs meanwhile; weft/peer: weft's rate over the peer's; by CPU/op: the peer's "
      "srv us/op over weft's (> 1: weft cheaper); target and result judge weft/peer, or by CPU/op where the load generator "
      "used >= 90% of its CPU (marked '(CPU/op)')")
for i, row in enumerate(table):
    print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(row)).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
for line in open(negotiated).read().splitlines():
    print("TLS negotiated with " + line)
ring, raw = us_per_op(best("echo", "weft io_uring")), us_per_op(best("echo", "raw epoll"))
if ring and raw:
    print(f"[echo] weft on io_uring: {ring:.2f} srv us per round trip = {ring / raw:.3f}x raw epoll's "
          "(the target: <= 0.8x)")
for n in dict.fromkeys(x for x in (echo_note, http_note, static_note, tls_note, https_note) if x):
    print(n)
if notes:
    print("note: the load generator used >= 90% of its CPU against " + ", ".join(notes) +
          ": there it, not the server, may have set the pace; compare 'by CPU/op'")
EOF
