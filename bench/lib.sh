# Shared by the bench/run-*.sh scripts (sourced): CPU pinning for server and
# load generator, a temp dir whose servers die with the script, and the
# build of a Go peer.

# Sets srv_pin, load_pin (command prefixes) and pin_note.
bench_pin() {
  srv_pin=()
  load_pin=()
  pin_note="not pinned (taskset missing or fewer than 2 CPUs)"
  if command -v taskset >/dev/null 2>&1 && [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ] &&
     taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
    srv_pin=(taskset -c 0)
    load_pin=(taskset -c 1)
    pin_note="server pinned to CPU 0, load generator to CPU 1 (taskset)"
  fi
}

# bench_tmp NAME: sets tmp to a fresh directory; every pid added to `pids`
# is killed, and tmp removed, when the script exits.
bench_tmp() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}

# bench_go_build DIR OUT: builds the Go program in bench/DIR as OUT, standard
# library only (no module downloads), with its caches in $build. Uses the
# caller's $root and $build; on failure prints the build's output and fails.
bench_go_build() {
  (cd "$root/bench/$1" &&
      GOCACHE="$build/go-cache" GOPATH="$build/go-path" GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local \
      go build -o "$2" .) >"$build/go-build.log" 2>&1 || { cat "$build/go-build.log" >&2; return 1; }
}
