#!/usr/bin/env bash
# Starts examples/http_server on a free loopback port and checks its answers:
# keep-alive hello, static files, 404s (a traversal attempt, a directory, a
# FIFO, symbolic links that lead out of the root or to a directory), and
# 400 for a malformed request; that a request trickled in a byte at a time
# is cut off by --header-timeout (a slow but complete one is answered) and an
# idle connection by --idle-timeout; then that SIGTERM stops it cleanly; all of it
# with one worker and again with --workers 2. Where the server has TLS and
# openssl and curl are here, the same server with --tls-cert/--tls-key
# answers `curl --cacert` over HTTPS with a certificate from a CA made here.
# Usage: http-check.sh HTTP_SERVER
set -euo pipefail
server=$1
workers=${WEFT_HTTP_CHECK_WORKERS:-1}
if [ -z "${WEFT_HTTP_CHECK_WORKERS:-}" ]; then
  WEFT_HTTP_CHECK_WORKERS=1 "$0" "$server"
  exec env WEFT_HTTP_CHECK_WORKERS=2 "$0" "$server"
fi
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
mkdir "$dir/root"
printf 'static file body\n' > "$dir/root/file.txt"
mkdir "$dir/root/sub"             # not a regular file: 404
mkfifo "$dir/root/fifo"           # nor this, and opening it must not wait for a writer
head -c 300000 /dev/zero | tr '\0' 'z' > "$dir/root/big.txt"
printf 'outside the root\n' > "$dir/secret.txt"
ln -s "$dir/secret.txt" "$dir/root/out"   # leads out of the root: 404
ln -s ../secret.txt "$dir/root/up"        # the same, relative
ln -s sub "$dir/root/sublink"             # a directory: 404
ln -s file.txt "$dir/root/in"             # stays inside: served
"$server" 127.0.0.1:0 --root "$dir/root" --port-file "$dir/port" --workers "$workers" \
  --header-timeout 3 --idle-timeout 3 &
pid=$!
for _ in $(seq 1 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
[ -s "$dir/port" ] || { echo "http-check: the server did not start" >&2; exit 1; }
port=$(cat "$dir/port")
fail=0
# send REQUEST-BYTES EXPECTED-REGEX...: one connection, reads until the server closes or 2 s pass.
send() {
  local req=$1; shift
  local out
  out=$(exec 3<>"/dev/tcp/127.0.0.1/$port"; printf '%b' "$req" >&3; timeout 2 cat <&3 || true)
  for want in "$@"; do
    if ! grep -qE "$want" <<<"$out"; then
      echo "http-check: FAILED: expected /$want/ for request $(printf '%q' "$req"); got:"; echo "$out"; fail=1
    fi
  done
}
# Two pipelined keep-alive requests on one connection, the second closes it.
send 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
     'HTTP/1.1 200 OK' 'Connection: keep-alive' 'Connection: close'
n=$(exec 3<>"/dev/tcp/127.0.0.1/$port"; printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3; timeout 2 cat <&3 | grep -c '^hello' || true)
[ "$n" = 2 ] || { echo "http-check: FAILED: expected 2 hello bodies on one connection, got $n"; fail=1; }
send 'GET /static/file.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 'HTTP/1.1 200 OK' 'static file body'
send 'GET /static/sub HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 'HTTP/1.1 404'
send 'GET /static/sublink HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 'HTTP/1.1 404'
send 'GET /static/out HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 'HTTP/1.1 404'
send 'GET /static/up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 'HTTP/1.1 404'
send 'GET /static/in HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 'HTTP/1.1 200 OK' 'static file body'
send 'GET /static/fifo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 'HTTP/1.1 404'
send 'GET /static/big.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 'HTTP/1.1 200 OK' 'Content-Length: 300000'
send 'GET /static/../port HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 'HTTP/1.1 404'
send 'GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 'HTTP/1.1 404'
send 'THIS IS NOT HTTP\r\n\r\n' 'HTTP/1.1 400 Bad Request'
# Slow loris: a header byte every 0.3 s never finishes a request. The server
# must close the connection (after a 408) once 3 s have passed since its
# first byte; this waits up to 12 s for that, however slowly the machine runs.
closed=$(
  trap '' PIPE
  exec 4<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&4
  for _ in $(seq 1 40); do
    rc=0
    IFS= read -r -t 0.3 line <&4 || rc=$?
    [ $rc -eq 0 ] && { echo "answered: $line"; exit; }   # the 408
    [ $rc -le 128 ] && { echo "closed"; exit; }         # EOF or reset
    printf 'a' >&4 2>/dev/null || { echo "closed"; exit; }
  done
  echo "still open"
)
case $closed in
  closed|"answered: HTTP/1.1 408"*) ;;
  *) echo "http-check: FAILED: a request trickled a byte at a time was not cut off: $closed"; fail=1 ;;
esac
# Slow but complete within the header timeout: answered.
out=$(exec 3<>"/dev/tcp/127.0.0.1/$port"
      for part in 'GET / HTTP/1.1\r\n' 'Host: x\r\n' 'Connection: close\r\n' '\r\n'; do
        printf '%b' "$part" >&3; sleep 0.2
      done
      timeout 5 cat <&3 || true)
grep -q '^HTTP/1.1 200 OK' <<<"$out" || { echo "http-check: FAILED: a slow complete request: $out"; fail=1; }
# Idle: a connection that sends nothing is closed after --idle-timeout (3 s).
rc=0
(exec 3<>"/dev/tcp/127.0.0.1/$port"; timeout 12 cat <&3 >/dev/null) || rc=$?
[ $rc -eq 0 ] || { echo "http-check: FAILED: an idle connection was still open after 12 s (rc $rc)"; fail=1; }
# The server still serves after all that.
send 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' 'HTTP/1.1 200 OK'
# SIGTERM: the server stops accepting, lets open connections finish, exits 0.
kill -TERM "$pid"
for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then
  echo "http-check: FAILED: server still running 10 s after SIGTERM"; kill -KILL "$pid"; fail=1
fi
rc=0
wait "$pid" || rc=$?
pid=
[ $rc -eq 0 ] || { echo "http-check: FAILED: server exited with $rc after SIGTERM"; fail=1; }
# Bad command lines: a usage message and exit code 2.
for bad in "--tls-cert" "--tls-cert $dir/x.pem" "--tls-key $dir/x.key" "--tls-certs x" "--bogus"; do
  rc=0
  # shellcheck disable=SC2086
  "$server" $bad >/dev/null 2>&1 || rc=$?
  [ $rc -eq 2 ] || { echo "http-check: FAILED: '$bad' exited with $rc, not 2"; fail=1; }
done
# HTTPS, where the server was built with TLS.
if "$server" --help | grep -q -- --tls-cert && command -v openssl >/dev/null && command -v curl >/dev/null; then
  "$(dirname "$0")/make-test-certs.sh" "$dir" "weft http-check CA" >"$dir/openssl.log" 2>&1 ||
    { echo "http-check: FAILED: openssl could not make certificates"; cat "$dir/openssl.log"; exit 1; }
  rm -f "$dir/port"
  "$server" 127.0.0.1:0 --root "$dir/root" --port-file "$dir/port" --workers "$workers" \
    --tls-cert "$dir/server.pem" --tls-key "$dir/server.key" &
  pid=$!
  for _ in $(seq 1 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
  [ -s "$dir/port" ] || { echo "http-check: the TLS server did not start" >&2; exit 1; }
  port=$(cat "$dir/port")
  out=$(curl -sS --max-time 5 --cacert "$dir/ca.pem" "https://127.0.0.1:$port/" 2>&1 || true)
  grep -q '^hello' <<<"$out" || { echo "http-check: FAILED: HTTPS / by IP: $out"; fail=1; }
  out=$(curl -sS --max-time 5 --cacert "$dir/ca.pem" "https://localhost:$port/static/file.txt" 2>&1 || true)
  grep -q 'static file body' <<<"$out" || { echo "http-check: FAILED: HTTPS static file by name: $out"; fail=1; }
  n=$(curl -sS --max-time 5 --cacert "$dir/ca.pem" "https://127.0.0.1:$port/static/big.txt" 2>/dev/null | wc -c || true)
  [ "$n" -eq 300000 ] || { echo "http-check: FAILED: HTTPS big file: $n bytes"; fail=1; }
  # Not trusted without the CA: curl refuses (60: certificate problem), the server carries on.
  rc=0
  curl -sS --max-time 5 "https://127.0.0.1:$port/" >/dev/null 2>&1 || rc=$?
  [ $rc -eq 60 ] || { echo "http-check: FAILED: curl without the CA exited $rc, not 60"; fail=1; }
  out=$(curl -sS --max-time 5 --cacert "$dir/ca.pem" "https://127.0.0.1:$port/" 2>&1 || true)
  grep -q '^hello' <<<"$out" || { echo "http-check: FAILED: HTTPS after a refused client: $out"; fail=1; }
  kill -TERM "$pid"
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "http-check: FAILED: TLS server still running 10 s after SIGTERM"; kill -KILL "$pid"; fail=1
  fi
  rc=0
  wait "$pid" || rc=$?
  pid=
  [ $rc -eq 0 ] || { echo "http-check: FAILED: TLS server exited with $rc after SIGTERM"; fail=1; }
  [ $fail -eq 0 ] && echo "http-check: HTTPS answers as expected (curl --cacert)"
fi
[ $fail -eq 0 ] && echo "http-check: all answers as expected ($workers worker(s)), clean stop on SIGTERM"
exit $fail
