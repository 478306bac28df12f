#!/usr/bin/env bash
# Checks that gdb walks a fiber's stack correctly (ctest: debug.gdb_backtrace_in_fiber).
#   tests/debug/check_bt.sh path/to/bt_target [gdb]
# Runs bt_check.gdb on bt_target, which stops in weft_bt_here() on fiber
# "walker", and asserts on its output:
#   - bt: weft_bt_here <- level_three <- level_two <- level_one <- the fiber's
#     lambda <- worker::fiber_entry <- weft_trampoline, in that order, ending
#     at weft_trampoline (the switch marks it outermost with .cfi_undefined rip):
#     no "Backtrace stopped ...", no ?? frames, a bounded number of frames;
#   - `up` steps through the same frames and stops at weft_trampoline with
#     "Initial frame selected; you cannot go up.";
#   - `finish` returns into level_three and bt is still clean from there;
#   - the parked fiber (in sleep_for), unwound from its saved stack pointer
#     through weft_switch's CFI, ends at weft_trampoline too (x86-64 only);
#   - the program then runs to completion.
# Exits 0 on success, 1 on failure (printing the whole gdb output), and 77
# (ctest SKIP_RETURN_CODE) when gdb is missing or may not ptrace.
set -uo pipefail

target=${1:?usage: check_bt.sh path/to/bt_target [gdb]}
gdb=${2:-gdb}
here=$(cd "$(dirname "$0")" && pwd)
max_frames=32

if ! command -v "$gdb" >/dev/null 2>&1; then
  echo "SKIP: gdb not found ($gdb)"
  exit 77
fi
if [[ ! -x $target ]]; then
  echo "FAIL: $target is not an executable"
  exit 1
fi

# The walk is checked by the names and lines of weft's own frames: without
# libweft's debug info (a plain Release build) there are none to check. The
# fiber list and backtraces of tools/weft-gdb.py need none (debug.gdb_fibers_*).
if "$gdb" -batch -nx -ex 'info line weft::detail::worker::fiber_entry' "$target" 2>&1 |
   head -1 | grep -q '^No line number information'; then
  echo "SKIP: libweft has no debug info (built without -g): no named frames to check"
  exit 77
fi

# LeakSanitizer cannot work under ptrace; the rest of ASan can.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

runner=()
command -v timeout >/dev/null 2>&1 && runner=(timeout 100)
out=$(${runner[@]+"${runner[@]}"} "$gdb" -batch -nx -x "$here/bt_check.gdb" "$target" 2>&1)
gdb_rc=$?

if grep -qE 'ptrace: Operation not permitted|Could not trace the inferior' <<<"$out" &&
   ! grep -q '^Breakpoint 1, weft_bt_here' <<<"$out"; then
  echo "$out"
  echo "SKIP: gdb cannot run and trace $target here (ptrace not permitted?)"
  exit 77
fi

failures=()
fail() { failures+=("$*"); }

# Lines between @@NAME-BEGIN and @@NAME-END.
section() { awk -v b="@@$1-BEGIN" -v e="@@$1-END" '$0==e{p=0} p{print} $0==b{p=1}' <<<"$out"; }
# The "#N ..." frame lines of a section (gdb's bt).
frames() { section "$1" | grep -E '^#[0-9]+ '; }
# The function names of a section's frames, one a line (bt_check.gdb's fns()).
fnames() { section "$1" | sed -n 's/^FN [0-9]* //p'; }
# 1-based line of the first line matching an ERE, 0 if none.
line_of() { grep -nE -- "$2" <<<"$1" | head -1 | cut -d: -f1 | grep . || echo 0; }

# A walk that must end cleanly at weft_trampoline, both as gdb's `bt` prints
# it and as its Python API sees it.
check_clean_walk() {  # section-name
  local name=$1 sec fr fn n last stop
  sec=$(section "$name")
  fr=$(frames "$name")
  fn=$(fnames "$name")
  n=$(grep -c . <<<"$fr")
  if (( n == 0 )); then fail "$name: no frames"; return; fi
  (( n <= max_frames )) || fail "$name: $n frames, more than $max_frames"
  [[ $(grep -c . <<<"$fn") == "$n" ]] || fail "$name: bt shows $n frames, the Python walk $(grep -c . <<<"$fn")"
  last=$(tail -1 <<<"$fr")
  grep -qE '^#[0-9]+ +(0x[0-9a-f]+ in )?weft_trampoline \(' <<<"$last" ||
    fail "$name: last frame is not weft_trampoline: $last"
  [[ $(tail -1 <<<"$fn") == weft_trampoline ]] || fail "$name: the Python walk ends at $(tail -1 <<<"$fn")"
  stop=$(sed -n 's/^STOP //p' <<<"$sec")
  [[ $stop == outermost ]] || fail "$name: the walk ended with '$stop', not 'outermost'"
  grep -q '??' <<<"$fr" && fail "$name: frames without a symbol (??)"
  grep -qE 'in 0x0+ |0x0+ in ' <<<"$fr" && fail "$name: a null frame"
  grep -q 'Backtrace stopped' <<<"$sec" && fail "$name: $(grep 'Backtrace stopped' <<<"$sec" | head -1)"
  grep -q 'More stack frames follow' <<<"$sec" && fail "$name: backtrace truncated"
}

# Asserts that frames whose function names match the EREs come in this order,
# each strictly below (older than) the one before.
check_order() {  # section-name ERE...
  local name=$1 fn prev=0 prev_re='the top' i re
  fn=$(fnames "$name")
  shift
  for re in "$@"; do
    i=$(tail -n +$((prev + 1)) <<<"$fn" | grep -nE -- "$re" | head -1 | cut -d: -f1)
    if [[ -z $i ]]; then
      if [[ $(line_of "$fn" "$re") != 0 ]]; then
        fail "$name: frame /$re/ is not below /$prev_re/"
      else
        fail "$name: no frame matching /$re/"
      fi
    else
      prev=$((prev + i))
      prev_re=$re
    fi
  done
}

lambda_re='operator\(\)|lambda|_FUN|__invoke'
walker_order=('^level_three$' '^level_two$' '^level_one$' "$lambda_re" '::worker::fiber_entry$' '^weft_trampoline$')

grep -q '^Breakpoint 1, weft_bt_here' <<<"$out" || fail "the breakpoint in weft_bt_here was never hit"

# 1. bt at the breakpoint.
check_clean_walk BT
[[ $(fnames BT | head -1) == weft_bt_here ]] || fail "BT: frame #0 is not weft_bt_here"
check_order BT '^weft_bt_here$' "${walker_order[@]}"
n_bt=$(frames BT | grep -c .)

# 2. up, frame by frame.
up=$(section UP)
grep -q 'UP-STOP: Initial frame selected; you cannot go up' <<<"$up" ||
  fail "UP: the walk did not end with 'Initial frame selected; you cannot go up.'"
steps=$(sed -n 's/^UP-STEPS: //p' <<<"$up")
[[ $steps == $((n_bt - 1)) ]] || fail "UP: $steps steps up, bt has $n_bt frames"
last_up=$(grep -E '^UP [0-9]+:' <<<"$up" | tail -1)
grep -q ' weft_trampoline at ' <<<"$last_up" || fail "UP: last frame reached is not weft_trampoline: $last_up"
grep -q ' None at ' <<<"$up" && fail "UP: a frame without a function"

# 3. finish, then bt again.
grep -qE '(^| )level_three \(' <<<"$(section FINISH)" || fail "FINISH: did not return into level_three"
check_clean_walk BT2
[[ $(fnames BT2 | head -1) == level_three ]] || fail "BT2: frame #0 after finish is not level_three"
check_order BT2 "${walker_order[@]}"

# 4. the parked fiber, unwound from inside weft_switch.
parked=$(section PARKED)
if grep -q '^PARKED-SKIP' <<<"$parked"; then
  grep '^PARKED-SKIP' <<<"$parked"
else
  grep -q '^PARKED-ERROR' <<<"$parked" && fail "PARKED: $(grep '^PARKED-ERROR' <<<"$parked")"
  grep -q '^PARKED-RESTORED' <<<"$parked" || fail "PARKED: registers were not restored"
  check_clean_walk PARKED
  [[ $(fnames PARKED | head -1) == weft_switch ]] || fail "PARKED: frame #0 is not weft_switch"
  check_order PARKED '^weft_switch$' '::worker::(park|yield)$' 'sleep_until|sleep_for|yield' \
    "$lambda_re" '::worker::fiber_entry$' '^weft_trampoline$'
fi

# 5. the program ran to its end.
cont=$(section CONT)
grep -q 'bt_target done' <<<"$cont" || fail "CONT: the program did not finish after the checks"
grep -q 'exited normally' <<<"$cont" || fail "CONT: the program did not exit normally"
(( gdb_rc == 0 )) || fail "gdb exited with status $gdb_rc"

if (( ${#failures[@]} > 0 )); then
  echo "$out"
  echo
  echo "----- gdb backtrace check FAILED ($target) -----"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
frames BT
echo "parked fiber:"
frames PARKED
echo "PASS: gdb walks fibers down to weft_trampoline ($n_bt frames at the breakpoint, up/finish fine)"
