# shellcheck shell=bash disable=SC2154  # the globals come from run-net.sh
# Sourced by bench/run-net.sh: the certificates of its TLS rows and the
# handshake load (openssl s_time). Uses run-net.sh's tmp, seconds,
# hs_clients, load_pin, begin_measure/end_measure, check_hello and record.

# A CA and a server certificate for 127.0.0.1 and localhost (EC P-256), as
# scripts/make-test-certs.sh makes them; every TLS row uses this one.
make_certs() {
  mkdir -p "$tmp/tls"
  "$root/scripts/make-test-certs.sh" "$tmp/tls" "weft bench CA" >"$tmp/tls/openssl.log" 2>&1
}

# negotiated NAME PORT: records the protocol and cipher the server picks for
# OpenSSL's default client (what wrk and s_time are), once per server.
negotiated() {
  local got
  got=$(openssl s_client -connect "127.0.0.1:$2" -CAfile "$tmp/tls/ca.pem" </dev/null 2>/dev/null |
        sed -n 's/^New, \(.*\), Cipher is \(.*\)/\1 \2/p' | head -n1)
  grep -q "^$1:" "$tmp/negotiated" 2>/dev/null || echo "$1: ${got:-unknown}" >>"$tmp/negotiated"
}

# run_handshakes NAME REP PID PORT: $hs_clients `openssl s_time -new` at
# once, each connecting, handshaking in full (no session reuse), sending
# "GET / HTTP/1.0" and reading the answer until the server closes, in a loop
# for $seconds s (s_time counts whole seconds: a run lasts up to 1 s longer;
# the rate uses the wall time measured here).
run_handshakes() {
  local name=$1 rep=$2 pid=$3 port=$4 rc=0 ticks k t0 t1 timer=() spids=()
  check_hello "$name" "$port" https
  negotiated "$name" "$port"
  : >"$tmp/hs.time"
  begin_measure "$pid"
  t0=$(date +%s.%N)
  for k in $(seq "$hs_clients"); do
    [ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%U %S" -o "$tmp/hs.$k.time")
    "${load_pin[@]}" "${timer[@]}" openssl s_time -connect "127.0.0.1:$port" -new -time "$seconds" -www / \
      >"$tmp/hs.$k.out" 2>&1 &
    spids+=($!)
  done
  for k in "${spids[@]}"; do wait "$k" || rc=$?; done
  t1=$(date +%s.%N)
  ticks=$(end_measure "$pid")
  if ! kill -0 "$pid" 2>/dev/null; then die "$name died during the handshake run"; fi
  cat "$tmp"/hs.[0-9]*.out >"$tmp/$name.hs.$rep.out"
  rm -f "$tmp"/hs.[0-9]*.out
  [ "$rc" -eq 0 ] || { cat "$tmp/$name.hs.$rep.out" >&2; die "$name: openssl s_time failed (exit $rc)"; }
  # s_time reads each answer; one without the hello body means a wrong answer.
  if grep -qE 'bytes read 0$|^0 connections in' "$tmp/$name.hs.$rep.out"; then
    cat "$tmp/$name.hs.$rep.out" >&2
    echo "bench/run-net.sh: $name: s_time read nothing back" >&2
    exit 3
  fi
  echo "wall_s: $(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$t0" "$t1")" \
    >>"$tmp/$name.hs.$rep.out"
  for k in $(seq "$hs_clients"); do cat "$tmp/hs.$k.time" >>"$tmp/hs.time" 2>/dev/null || true; done
  record handshake "$name" "$rep" "$tmp/$name.hs.$rep.out" "$ticks" "$tmp/hs.time"
  echo "  $name #$rep: $(tail -n1 "$results" | python3 -c 'import json,sys; r=json.load(sys.stdin)
print("%.0f handshakes/s (%d in %.2f s, %s clients)" % (r["rate"], r["ops"], r["wall_s"], sys.argv[1]))' "$hs_clients")"
}
