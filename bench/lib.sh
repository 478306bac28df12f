# Shared by bench/run-net.sh and bench/run-hook.sh (sourced): CPU pinning for
# server and load generator, and a temp dir whose servers die with the script.

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
