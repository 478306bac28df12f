# Drives tools/weft-gdb.py for check_gdb_fibers.sh, at gdb_target's stop (live
# or in a core file): prints `info fibers`, `fiber bt ID` of each named fiber
# (the ID taken from `info fibers`), an unknown ID, and `info fibers` from the
# plain (non-weft) thread, between "@@NAME-BEGIN" / "@@NAME-END" markers.
import re

import gdb

FIBER_NAMES = ["main", "sleeper", "receiver", "reader", "joiner", "fresh"]


def _section(name, fn):
    gdb.write("@@%s-BEGIN\n" % name)
    try:
        gdb.write(fn())
    except gdb.error as e:  # GdbError included
        gdb.write("ERROR: %s\n" % e)
    gdb.write("@@%s-END\n" % name)


def _regs():
    f = gdb.newest_frame()
    return "pc=%#x sp=%#x" % (int(f.read_register("pc")), int(f.read_register("sp")))


def weft_check():
    gdb.execute("thread 1", to_string=True)
    before = _regs()
    info = gdb.execute("info fibers", to_string=True)
    _section("INFO", lambda: info)
    for name in FIBER_NAMES:
        m = re.search(r'^\*?\s+(\d+)\s.*"%s"\s*$' % re.escape(name), info, re.M)
        if not m:
            _section("BT-" + name, lambda: "ERROR: %s is not in info fibers\n" % name)
            continue
        _section("BT-" + name, lambda: gdb.execute("fiber bt " + m.group(1), to_string=True))
    _section("NOFIBER", lambda: gdb.execute("fiber bt 987654321", to_string=True))
    # From a thread with no worker, stopped in libc (C, not C++, frames).
    for t in gdb.selected_inferior().threads():
        if t.num != 1:
            t.switch()
            _section("OTHER-THREAD", lambda: gdb.execute("info fibers", to_string=True))
            break
    gdb.execute("thread 1", to_string=True)
    after = _regs()
    gdb.write("REGS before %s after %s %s\n" % (before, after, "SAME" if before == after else "CHANGED"))
