#!/usr/bin/env python3
"""tools/weft-gdb.py's SAVED_FRAME table must agree with
src/context/frame_layout.hpp, the one description of the frame weft_switch
saves. Reads both files as text (weft-gdb.py needs gdb to run).

Usage: check_frame_layout.py src/context/frame_layout.hpp tools/weft-gdb.py
"""
import ast
import re
import sys


def header_macros(path):
    with open(path) as f:
        return {m.group(1): int(m.group(2), 0)
                for m in re.finditer(r"^\s*#\s*define\s+(WEFT_\w+)\s+(0x[0-9a-fA-F]+|\d+)\b", f.read(), re.M)}


def script_tables(path):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("SAVED_FRAME", "SAVED_FRAME_SOURCE"):
                found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


def main(header, script):
    macros = header_macros(header)
    tables = script_tables(script)
    errors = []
    for name in ("SAVED_FRAME", "SAVED_FRAME_SOURCE"):
        if name not in tables:
            errors.append("%s: no top-level %s table" % (script, name))
    if errors:
        return errors
    values, names = tables["SAVED_FRAME"], tables["SAVED_FRAME_SOURCE"]
    if set(values) != set(names):
        errors.append("SAVED_FRAME covers %s, SAVED_FRAME_SOURCE %s" % (sorted(values), sorted(names)))
    for arch in sorted(set(values) & set(names)):
        if set(values[arch]) != {"fp", "pc"} or set(names[arch]) != {"fp", "pc"}:
            errors.append("%s: want exactly the keys fp and pc" % arch)
            continue
        for key in ("fp", "pc"):
            macro = names[arch][key]
            if macro not in macros:
                errors.append("%s %s: %s is not defined in %s" % (arch, key, macro, header))
            elif macros[macro] != values[arch][key]:
                errors.append("%s %s: weft-gdb.py says %d, %s = %d in %s"
                              % (arch, key, values[arch][key], macro, macros[macro], header))
            else:
                print("ok: %s %s at %d (%s)" % (arch, key, values[arch][key], macro))
    return errors


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    errs = main(sys.argv[1], sys.argv[2])
    for e in errs:
        print("FAIL: " + e, file=sys.stderr)
    sys.exit(1 if errs else 0)
