#!/usr/bin/env bash
# Cross-assembles the macOS (Mach-O) context-switch files on any host with clang
# and checks the resulting objects: Mach-O of the right CPU type, the three entry
# points defined as global text symbols, no undefined symbols (a missing leading
# underscore would show up as one), and, where llvm-objdump is available, that
# the arm64 file never touches x18 and that the functions whose CFI cannot be
# expressed as compact unwind are not given a compact encoding that would drop it.
#
# Usage: scripts/check-macho.sh        (CLANG=..., LLVM_NM=..., LLVM_OBJDUMP=... override)
# Exits non-zero on the first failed check.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
syms=(_weft_switch _weft_make_context _weft_trampoline)
# Functions whose CFI needs DWARF (remember/restore state, undefined return address).
dwarf_syms=(_weft_switch _weft_trampoline)

fail() { echo "check-macho: FAIL: $*" >&2; exit 1; }
note() { echo "check-macho: $*"; }

first_tool() {  # first of the named tools that exists, or nothing
  local t
  for t in "$@"; do
    [ -n "$t" ] || continue
    if command -v "$t" >/dev/null 2>&1; then command -v "$t"; return 0; fi
  done
  return 0
}

pick_tool() {  # var_name fallback...: an explicit $var_name must exist; else first fallback found
  local var=$1; shift
  local want=${!var:-}
  if [ -n "$want" ]; then
    command -v "$want" >/dev/null 2>&1 || fail "$var=$want not found"
    command -v "$want"
  else
    first_tool "$@"
  fi
}

CLANG=$(pick_tool CLANG clang clang-14)
[ -n "$CLANG" ] || fail "clang not found (set CLANG=...)"
NM=$(pick_tool LLVM_NM llvm-nm llvm-nm-14)
OBJDUMP=$(pick_tool LLVM_OBJDUMP llvm-objdump llvm-objdump-14)

tmp=$(mktemp -d /tmp/weft-check-macho.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Mach-O header, little-endian: magic 0xfeedfacf, then cputype.
check_header() {  # obj expected_cputype_hex(8 digits, as read little-endian)
  local obj=$1 want=$2 magic cpu
  magic=$(od -An -tx4 -N4 "$obj" | tr -d ' \n')
  cpu=$(od -An -tx4 -j4 -N4 "$obj" | tr -d ' \n')
  [ "$magic" = feedfacf ] || fail "$obj: not a 64-bit Mach-O object (magic $magic)"
  [ "$cpu" = "$want" ] || fail "$obj: Mach-O cputype $cpu, expected $want"
}

# Prints the compact-unwind encoding llvm-objdump reports for the entry that
# starts at address $2 (hex, no 0x), or nothing if there is none.
compact_encoding_at() {  # obj addr
  "$OBJDUMP" --unwind-info "$1" | awk -v want="$2" '
    /start:/ { s = $2; sub(/^0x/, "", s); s = tolower(s); sub(/^0+/, "", s); if (s == "") s = "0"; cur = s }
    /compact encoding:/ { if (cur == want) { print tolower($3); exit } }'
}

check_object() {  # src target cputype dwarf_mode_encoding
  local src=$1 target=$2 cpu=$3 dwarf_enc=$4
  local obj
  obj="$tmp/$(basename "${src%.S}").o"
  local defined undef s line addr
  [ -f "$root/$src" ] || fail "$src missing"
  note "assembling $src for $target"
  "$CLANG" -target "$target" -c "$root/$src" -o "$obj" || fail "$src: clang failed"
  [ -s "$obj" ] || fail "$src: clang produced no object"
  check_header "$obj" "$cpu"
  if command -v file >/dev/null 2>&1; then
    note "  $(file -b "$obj")"
  fi

  if [ -z "$NM" ]; then
    for s in "${syms[@]}"; do  # weak fallback: the name is at least in the string table
      grep -aq -- "$s" "$obj" || fail "$src: no $s in the object"
    done
    note "  llvm-nm not found: checked only the Mach-O header and that the symbol names occur"
    return 0
  fi

  defined=$("$NM" --defined-only --extern-only "$obj")
  for s in "${syms[@]}"; do
    line=$(awk -v s="$s" '$3 == s' <<<"$defined")
    [ -n "$line" ] || fail "$src: $s is not a defined global symbol"
    [ "$(awk '{print $2}' <<<"$line")" = T ] || fail "$src: $s is not a global text symbol ($line)"
    note "  ok: $line"
  done
  undef=$("$NM" --undefined-only "$obj")
  [ -z "$undef" ] || fail "$src: undefined symbols (missing underscore?): $(tr '\n' ' ' <<<"$undef")"

  if [ -z "$OBJDUMP" ]; then
    note "  llvm-objdump not found: skipped disassembly and unwind-info checks"
    return 0
  fi
  # Compact unwind cannot say "undefined return address" or remember/restore
  # state: such functions must have no compact entry (the linker then derives
  # one from __eh_frame and falls back to DWARF) or an explicit DWARF-mode one.
  for s in "${dwarf_syms[@]}"; do
    addr=$(awk -v s="$s" '$3 == s { a = tolower($1); sub(/^0+/, "", a); if (a == "") a = "0"; print a }' <<<"$defined")
    local enc
    enc=$(compact_encoding_at "$obj" "$addr")
    if [ -n "$enc" ] && [ "$enc" != "$dwarf_enc" ]; then
      fail "$src: $s has compact unwind encoding $enc, expected none or $dwarf_enc (DWARF)"
    fi
    note "  ok: $s unwind ${enc:-via __eh_frame (no compact entry)}"
  done
  "$OBJDUMP" --dwarf=frames "$obj" | grep -q "undefined" \
    || fail "$src: no CFI marks an undefined return address (outermost frame)"
}

check_object asm/switch_x86_64_sysv_macho.S x86_64-apple-macos11 01000007 0x04000000
check_object asm/switch_arm64_aapcs_macho.S arm64-apple-macos11 0100000c 0x03000000

if [ -n "$OBJDUMP" ]; then
  # x18 is the platform register on Apple arm64: never read or written.
  if "$OBJDUMP" -d --no-show-raw-insn "$tmp/switch_arm64_aapcs_macho.o" | grep -Eq '\b[xw]18\b'; then
    fail "asm/switch_arm64_aapcs_macho.S uses x18 (platform register)"
  fi
  note "ok: arm64 code does not touch x18"
fi
note "all Mach-O checks passed"
