#!/usr/bin/env bash
# Checks the ELF switch object inside libweft.a: its .note.gnu.property must
# carry the control-flow protection the asm claims (x86-64: IBT and not SHSTK;
# AArch64: BTI), its code the landing pads (endbr64 / bti), and its entry
# points must be hidden (internal to the library).
#
# Usage: scripts/check-switch-notes.sh path/to/libweft.a [READELF] [OBJDUMP]
# Exits non-zero on the first failed check. Registered as the ctest test
# context.switch_object_notes for ELF builds with the hand-written switch.
set -euo pipefail

lib=${1:?usage: check-switch-notes.sh libweft.a [readelf] [objdump]}
READELF=${2:-readelf}
OBJDUMP=${3:-objdump}
fail() { echo "check-switch-notes: FAIL: $*" >&2; exit 1; }
note() { echo "check-switch-notes: $*"; }

[ -f "$lib" ] || fail "$lib not found"
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
tmp=$(mktemp -d /tmp/weft-check-notes.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
member=$(ar t "$lib" | grep -E '^switch_.*_elf\.S\.o$' | head -1) || true
[ -n "$member" ] || fail "$lib has no switch_*_elf.S.o member"
(cd "$tmp" && ar x "$lib" "$member")
obj="$tmp/$member"

notes=$("$READELF" -n "$obj")
machine=$("$READELF" -h "$obj" | awk -F: '/Machine:/ { gsub(/^ +/, "", $2); print $2 }')
grep -q 'NT_GNU_PROPERTY_TYPE_0' <<<"$notes" || fail "$member: no .note.gnu.property (NT_GNU_PROPERTY_TYPE_0)"
case "$machine" in
  *X86-64*)
    props=$(grep -E 'x86 feature:' <<<"$notes") || fail "$member: no x86 feature property"
    grep -q 'IBT' <<<"$props" || fail "$member: x86 feature property without IBT: $props"
    if grep -q 'SHSTK' <<<"$props"; then
      fail "$member: claims SHSTK, but the switch does not switch shadow stacks: $props"
    fi
    pads=endbr64
    ;;
  *AArch64*)
    props=$(grep -E 'AArch64 feature:' <<<"$notes") || fail "$member: no AArch64 feature property"
    grep -q 'BTI' <<<"$props" || fail "$member: AArch64 feature property without BTI: $props"
    pads='bti|hint.*#0x2[24]'
    ;;
  *) fail "$member: unexpected machine '$machine'" ;;
esac
note "ok: $member ($machine):$(sed 's/^ *Properties://' <<<"$props")"

syms=$("$READELF" -sW "$obj")
for s in weft_switch weft_make_context weft_trampoline; do
  line=$(awk -v s="$s" '$8 == s' <<<"$syms")
  [ -n "$line" ] || fail "$member: no symbol $s"
  grep -q ' HIDDEN ' <<<"$line" || fail "$member: $s is not hidden: $line"
  if command -v "$OBJDUMP" >/dev/null 2>&1; then
    # The first instruction of each entry point is its landing pad.
    first=$("$OBJDUMP" -d --no-show-raw-insn "$obj" |
            awk -v s="<$s>:" '$2 == s { getline; print; exit }')
    grep -Eq "$pads" <<<"$first" || fail "$member: $s does not start with a landing pad: $first"
  fi
done
note "ok: weft_switch, weft_make_context, weft_trampoline hidden$(command -v "$OBJDUMP" >/dev/null && echo ", each starting with a landing pad")"
