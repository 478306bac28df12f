# gdb script for check_bt.sh: stop inside a fiber and walk its stack.
#   gdb -batch -nx -x bt_check.gdb ./bt_target
# Prints sections between "@@<NAME>-BEGIN" and "@@<NAME>-END" markers;
# check_bt.sh asserts on them. In batch mode gdb stops reading this file at
# the first command that errors, so anything that may legitimately error
# (walking `up` past the outermost frame) runs in Python under try/except.
set pagination off
set width 0
set height 0
set confirm off
set print thread-events off
set print inferior-events off
set print frame-arguments scalars
set backtrace limit 200

# fns(): after each `bt`, the same walk through gdb's Python API, one frame a
# line ("FN <level> <function>"), then how the walk ended ("STOP <reason>"):
# function names without arguments to match on, and gdb's own verdict on the
# outermost frame ("outermost" is the clean end; "previous frame inner to this
# frame (corrupt stack?)" and friends are not).
python
import gdb

def fns():
    f = gdb.newest_frame()
    level = 0
    while True:
        gdb.write("FN %d %s\n" % (level, f.name() or "??"))
        try:
            older = f.older()
        except gdb.error as e:
            gdb.write("STOP error: %s\n" % e)
            return
        if older is None or level >= 200:
            gdb.write("STOP %s\n" % gdb.frame_stop_reason_string(f.unwind_stop_reason()))
            return
        f = older
        level += 1
end

break weft_bt_here
run

# 1. The backtrace from the breakpoint, on fiber "walker".
echo @@BT-BEGIN\n
bt
python fns()
echo @@BT-END\n

# 2. `up-silently` (`up` without printing) from frame 0 until gdb refuses: every step must succeed, the walk
#    must end at weft_trampoline with "Initial frame selected; you cannot go up."
python
import gdb

gdb.write("@@UP-BEGIN\n")
gdb.execute("frame 0", to_string=True)
steps = 0
while steps < 100:
    try:
        gdb.execute("up-silently", to_string=True)
    except gdb.error as e:
        gdb.write("UP-STOP: %s\n" % e)
        break
    steps += 1
    f = gdb.selected_frame()
    sal = f.find_sal()
    where = "%s:%d" % (sal.symtab.filename, sal.line) if sal.symtab else "?"
    kind = " (inlined)" if f.type() == gdb.INLINE_FRAME else ""
    gdb.write("UP %d: pc=%#x %s at %s%s\n" % (steps, f.pc(), f.name(), where, kind))
gdb.write("UP-STEPS: %d\n" % steps)
gdb.write("@@UP-END\n")
gdb.execute("frame 0", to_string=True)
end

# 3. `finish` out of weft_bt_here lands back in level_three, and the
#    backtrace from there is still clean.
echo @@FINISH-BEGIN\n
finish
echo @@FINISH-END\n
echo @@BT2-BEGIN\n
bt
python fns()
echo @@BT2-END\n

# 4. The parked fiber "parked": it is not a thread gdb knows, so point rsp at
#    its saved stack pointer and pc into weft_switch just after the frame is
#    saved (the instruction that stores rsp); the switch's CFI must then walk
#    back through the scheduler into the fiber and stop at weft_trampoline.
#    The real pc and sp are restored before the program continues.
python
import gdb

gdb.write("@@PARKED-BEGIN\n")
try:
    arch = gdb.selected_frame().architecture()
    if arch.name() != "i386:x86-64":
        gdb.write("PARKED-SKIP: no parked-fiber walk for %s\n" % arch.name())
    else:
        h = gdb.parse_and_eval("weft_bt_parked")
        if int(h) == 0:
            raise gdb.GdbError("weft_bt_parked is null")
        fib = h.dereference()["f_"].dereference()
        gdb.write("PARKED-FIBER: name=%s state=%s\n" % (fib["name"].string(), fib["state"]))
        saved_sp = int(fib["sp"])
        start = int(gdb.parse_and_eval("(long)&weft_switch"))
        at = None
        for insn in arch.disassemble(start, start + 64):
            asm = insn["asm"].replace(" ", "")
            if asm.startswith("mov") and asm.endswith("%rsp,(%rdi)"):
                at = insn["addr"]
                break
        if at is None:
            raise gdb.GdbError("no 'mov %rsp,(%rdi)' in weft_switch")
        gdb.write("PARKED-SP: %#x PC: weft_switch+%d\n" % (saved_sp, at - start))
        gdb.execute("frame 0", to_string=True)
        real_pc = int(gdb.parse_and_eval("$pc"))
        real_sp = int(gdb.parse_and_eval("$sp"))
        try:
            gdb.execute("set $sp = %#x" % saved_sp)
            gdb.execute("set $pc = %#x" % at)
            gdb.write(gdb.execute("bt", to_string=True))
            fns()
        finally:
            gdb.execute("frame 0", to_string=True)
            gdb.execute("set $pc = %#x" % real_pc)
            gdb.execute("set $sp = %#x" % real_sp)
            gdb.write("PARKED-RESTORED\n")
except Exception as e:
    gdb.write("PARKED-ERROR: %s\n" % e)
gdb.write("@@PARKED-END\n")
end

# 5. The program must still run to completion after all this.
delete
echo @@CONT-BEGIN\n
continue
echo @@CONT-END\n
