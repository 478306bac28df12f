#!/usr/bin/env bash
# ctest fixtures of the hook tests: servers started on a free loopback port in
# a temp dir, their state (port, pid, dir) in a file the tests read.
# Usage: fixture.sh redis-start STATE_DIR
#        fixture.sh http-start STATE_DIR HTTP_SERVER BIG_FILE_NAME BIG_FILE_SIZE
#        fixture.sh stop STATE_DIR
set -euo pipefail
cmd=$1 state=$2

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
  redis-start)
    command -v redis-server >/dev/null || { echo "fixture: redis-server not installed" >&2; exit 1; }
    rm -rf "$state"; mkdir -p "$state"
    dir=$(mktemp -d "${TMPDIR:-/tmp}/weft-redis.XXXXXX")
    echo "$dir" >"$state/dir"
    # A free port can be taken between the probe and redis' bind: try a few.
    for _ in 1 2 3 4 5; do
      port=$(free_port)
      redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save '' --appendonly no \
        --maxclients 4096 </dev/null >/dev/null 2>&1 || true
      for _ in $(seq 50); do
        if [ -s "$dir/redis.pid" ] && redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
          echo "$port" >"$state/port"
          cp "$dir/redis.pid" "$state/pid"
          echo "fixture: redis-server on 127.0.0.1:$port (pid $(cat "$state/pid"))"
          exit 0
        fi
        sleep 0.1
      done
      [ -s "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
      rm -f "$dir/redis.pid"
    done
    cat "$dir/redis.log" >&2 2>/dev/null || true
    echo "fixture: redis-server did not start" >&2
    exit 1
    ;;
  http-start)
    server=$3 big_name=$4 big_size=$5
    rm -rf "$state"; mkdir -p "$state"
    dir=$(mktemp -d "${TMPDIR:-/tmp}/weft-http.XXXXXX")
    echo "$dir" >"$state/dir"
    mkdir "$dir/root"
    # The same bytes curl_test expects: 'a' + (i*7 + i/251) % 26.
    python3 -c 'import sys; n=int(sys.argv[2]); open(sys.argv[1],"wb").write(bytes(97 + (i*7 + i//251) % 26 for i in range(n)))' \
      "$dir/root/$big_name" "$big_size"
    # setsid and no inherited output: ctest must not wait for the server to exit.
    setsid "$server" 127.0.0.1:0 --root "$dir/root" --port-file "$dir/port" </dev/null >"$dir/server.log" 2>&1 &
    echo $! >"$state/pid"
    for _ in $(seq 100); do
      if [ -s "$dir/port" ]; then
        cp "$dir/port" "$state/port"
        echo "fixture: http_server on 127.0.0.1:$(cat "$state/port") (pid $(cat "$state/pid"))"
        exit 0
      fi
      sleep 0.05
    done
    cat "$dir/server.log" >&2 || true
    echo "fixture: http_server did not start" >&2
    exit 1
    ;;
  stop)
    if [ -s "$state/pid" ]; then
      pid=$(cat "$state/pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    [ -s "$state/dir" ] && rm -rf "$(cat "$state/dir")"
    rm -rf "$state"
    echo "fixture: stopped"
    ;;
  *) echo "fixture.sh: unknown command $cmd" >&2; exit 2 ;;
esac
