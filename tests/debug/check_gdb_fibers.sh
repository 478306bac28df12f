#!/usr/bin/env bash
# Checks tools/weft-gdb.py against gdb_target (ctest: debug.gdb_fibers_live, debug.gdb_fibers_core).
#   tests/debug/check_gdb_fibers.sh live|core path/to/gdb_target [gdb] [weft-gdb.py]
# live: gdb stops gdb_target in weft_gdb_stop_here; `info fibers` must list
#   main (running), sleeper, receiver, reader, joiner and fresh with their
#   states and waits; `fiber bt ID` must unwind each parked fiber into the
#   function it is parked in and down to weft_trampoline; the registers are
#   the same afterwards and the program runs to its normal end.
# core: the same checks on core files of the same stop: the one gdb's gcore
#   writes and, when the kernel writes core files into the working directory,
#   the kernel's. gcore cannot read stack slabs guarded with MADV_GUARD_INSTALL
#   (Linux >= 6.13); such a gcore file is not checked, a kernel core is.
# Exits 0 on success, 1 on failure (printing gdb's output), 77 (skipped) when
# gdb is missing, may not ptrace, or no usable core file could be written.
set -uo pipefail

mode=${1:?usage: check_gdb_fibers.sh live|core path/to/gdb_target [gdb] [weft-gdb.py]}
target=${2:?usage: check_gdb_fibers.sh live|core path/to/gdb_target [gdb] [weft-gdb.py]}
gdb=${3:-gdb}
here=$(cd "$(dirname "$0")" && pwd)
tool=${4:-$here/../../tools/weft-gdb.py}

if ! command -v "$gdb" >/dev/null 2>&1; then
  echo "SKIP: gdb not found ($gdb)"
  exit 77
fi
[[ -x $target ]] || { echo "FAIL: $target is not an executable"; exit 1; }
target=$(cd "$(dirname "$target")" && pwd)/$(basename "$target")
[[ -f $tool ]] || { echo "FAIL: $tool not found"; exit 1; }
tool=$(cd "$(dirname "$tool")" && pwd)/$(basename "$tool")

# LeakSanitizer cannot work under ptrace; the rest of ASan can.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

runner=()
command -v timeout >/dev/null 2>&1 && runner=(timeout 100)
run_gdb() {  # gdb-script [target-or-core args...]
  local script=$1
  shift
  ${runner[@]+"${runner[@]}"} "$gdb" -batch -nx -ex "source $tool" -ex "source $here/gdb_fibers_check.py" \
    -x "$script" "$@" 2>&1
}

failures=()
fail() { failures+=("$*"); }
section() { awk -v b="@@$2-BEGIN" -v e="@@$2-END" '$0==e{p=0} p{print} $0==b{p=1}' <<<"$1"; }

skip_if_no_ptrace() {  # gdb-output
  if grep -qE 'ptrace: Operation not permitted|Could not trace the inferior' <<<"$1" &&
     ! grep -q 'Breakpoint 1, ' <<<"$1"; then
    echo "$1"
    echo "SKIP: gdb cannot run and trace $target here (ptrace not permitted?)"
    exit 77
  fi
}

# The `info fibers` and `fiber bt` checks, shared by live and core runs.
check_fibers() {  # label gdb-output
  local label=$1 out=$2 info bt count
  info=$(section "$out" INFO)
  grep -q '^ERROR' <<<"$info" && fail "$label: info fibers: $(grep '^ERROR' <<<"$info")"
  # name  state-ERE  wait-ERE (empty: any)
  local spec=(
    'main|running|'
    'sleeper|sleeping|sleep'
    'receiver|blocked|channel_recv'
    'reader|blocked|fd_read fd [0-9]+'
    'joiner|blocked|join'
    'fresh|ready|'
  )
  local s name state wait line
  for s in "${spec[@]}"; do
    name=${s%%|*}; s=${s#*|}; state=${s%%|*}; wait=${s#*|}
    line=$(grep -E "\"$name\"\$" <<<"$info")
    if [[ -z $line ]]; then fail "$label: info fibers has no \"$name\""; continue; fi
    grep -qE "[[:space:]]$state[[:space:]]" <<<"$line" || fail "$label: \"$name\" is not $state: $line"
    [[ -z $wait ]] || grep -qE "$wait" <<<"$line" || fail "$label: \"$name\" does not wait on /$wait/: $line"
  done
  grep -qE '^\*.*"main"$' <<<"$info" || fail "$label: \"main\" is not marked as the running fiber"
  count=$(grep -E '^[0-9]+ fibers? on [0-9]+ worker' <<<"$info")
  [[ -n $count ]] || fail "$label: no fiber count line"

  bt=$(section "$out" BT-main)
  grep -q 'weft_gdb_stop_here' <<<"$bt" || fail "$label: fiber bt of main lacks weft_gdb_stop_here"
  local pair fn
  for pair in sleeper:gdb_parked_in_sleep receiver:gdb_parked_in_channel_recv \
              reader:gdb_parked_in_socket_read joiner:gdb_parked_in_join; do
    name=${pair%%:*}; fn=${pair#*:}
    bt=$(section "$out" "BT-$name")
    grep -q '^ERROR' <<<"$bt" && { fail "$label: fiber bt of $name: $(grep '^ERROR' <<<"$bt")"; continue; }
    grep -qE "^#[0-9]+ .*\\b$fn\\b" <<<"$bt" || fail "$label: fiber bt of $name has no frame in $fn"
    grep -E '^#[0-9]+ ' <<<"$bt" | tail -1 | grep -q weft_trampoline ||
      fail "$label: fiber bt of $name does not end at weft_trampoline"
    grep -qE 'Backtrace stopped|walk stopped' <<<"$bt" && fail "$label: fiber bt of $name stopped early"
    (( $(grep -cE '^#[0-9]+ ' <<<"$bt") <= 64 )) || fail "$label: fiber bt of $name is too long"
  done
  grep -q 'not started yet' <<<"$(section "$out" BT-fresh)" ||
    fail "$label: fiber bt of fresh does not say it has not started"
  grep -q 'no live fiber #987654321' <<<"$(section "$out" NOFIBER)" ||
    fail "$label: an unknown id does not give 'no live fiber'"
  grep -qF "$count" <<<"$(section "$out" OTHER-THREAD)" ||
    fail "$label: info fibers from the non-weft thread differs: $(section "$out" OTHER-THREAD | tail -1)"
}

report() {  # outputs...
  if (( ${#failures[@]} > 0 )); then
    printf '%s\n' "$@"
    echo
    echo "----- weft-gdb.py check FAILED ($mode, $target) -----"
    printf '  - %s\n' "${failures[@]}"
    exit 1
  fi
}

case $mode in
live)
  out=$(run_gdb "$here/gdb_fibers_live.gdb" "$target")
  skip_if_no_ptrace "$out"
  grep -q 'Breakpoint 1, weft_gdb_stop_here' <<<"$out" || fail "the breakpoint in weft_gdb_stop_here was never hit"
  check_fibers live "$out"
  grep -q '^REGS .* SAME$' <<<"$out" || fail "registers differ after the checks: $(grep '^REGS' <<<"$out")"
  cont=$(section "$out" CONT)
  grep -q 'gdb_target done' <<<"$cont" || fail "the program did not finish after the checks"
  grep -q 'exited normally' <<<"$cont" || fail "the program did not exit normally"
  report "$out"
  section "$out" INFO
  section "$out" BT-reader
  echo "PASS: info fibers and fiber bt on the live process"
  ;;
core)
  ulimit -c unlimited 2>/dev/null || true
  dump=$(run_gdb "$here/gdb_fibers_dump.gdb" "$target")
  skip_if_no_ptrace "$dump"
  grep -q 'Breakpoint 1, weft_gdb_stop_here' <<<"$dump" || { echo "$dump"; echo "FAIL: never stopped"; exit 1; }
  cores=()
  if [[ -s gdb_target.gcore ]]; then
    if ! grep -q 'Saved corefile' <<<"$(section "$dump" GCORE)"; then
      echo "note: gcore did not finish; its core is not checked"
    elif grep -q 'Memory read failed' <<<"$(section "$dump" GCORE)"; then
      echo "note: gcore could not read all memory (stack slabs behind MADV_GUARD_INSTALL guards); its core is not checked"
    else
      cores+=(gdb_target.gcore)
    fi
  fi
  for c in core core.*; do [[ -s $c ]] && cores+=("$c"); done
  if (( ${#cores[@]} == 0 )); then
    echo "$dump"
    echo "SKIP: no complete core file (gcore incomplete; the kernel writes cores to '$(cat /proc/sys/kernel/core_pattern 2>/dev/null)')"
    exit 77
  fi
  outs=()
  for c in "${cores[@]}"; do
    out=$(run_gdb "$here/gdb_fibers_core.gdb" "$target" "$c")
    check_fibers "core $c" "$out"
    outs+=("===== $c" "$out")
    echo "checked core file: $c"
  done
  report "$dump" "${outs[@]}"
  section "${outs[1]}" INFO
  section "${outs[1]}" BT-reader
  echo "PASS: info fibers and fiber bt on ${#cores[@]} core file(s)"
  ;;
*)
  echo "usage: check_gdb_fibers.sh live|core path/to/gdb_target [gdb] [weft-gdb.py]"
  exit 2
  ;;
esac
