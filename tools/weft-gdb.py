# gdb commands for weft programs, on a live process or a core file:
#   info fibers            every live fiber of every weft worker thread
#   fiber bt ID [ARGS]     backtrace of fiber #ID (ARGS go to `bt`, e.g. `full`)
#   fiber bt all           backtraces of every live fiber
# Load with `source tools/weft-gdb.py` (or `-x tools/weft-gdb.py`).
#
# Fibers are found only through names the runtime keeps for this purpose: the
# thread-local weft::detail::this_worker (null on threads that are not weft
# workers), its `all_` list linked by fiber::all_next, and `current_`. Where
# libweft has no debug info (a Release build), the exported table
# weft_debug_descriptor (src/sched/debug_layout.cpp) gives the list of live
# workers and the offsets of those fields instead. A
# parked fiber's `sp` points at the frame weft_switch pushed; its backtrace
# comes from gdb's own unwinder (through weft_switch's CFI) where registers may
# be written, otherwise from a frame-pointer walk (libweft is built with
# -fno-omit-frame-pointer), which is what a core file gets.
import os

import gdb

WORKER_VAR = "weft::detail::this_worker"
# The frame weft_switch saves: offsets from a parked fiber's saved sp of its
# frame pointer and its resume address. A copy of src/context/frame_layout.hpp,
# whose names for them are in SAVED_FRAME_SOURCE; the ctest test
# debug.gdb_frame_layout_matches (tests/debug/check_frame_layout.py) checks
# that the two agree.
SAVED_FRAME = {
    "x86_64": {"fp": 56, "pc": 64},   # 16 bytes MXCSR/x87 CW, r15 r14 r13 r12 rbx, rbp, return address
    "aarch64": {"fp": 80, "pc": 88},  # x19..x28, then x29 (fp) and x30 (lr); d8..d15 and fpcr above
}
SAVED_FRAME_SOURCE = {
    "x86_64": {"fp": "WEFT_FRAME_X86_64_RBP", "pc": "WEFT_FRAME_X86_64_RET"},
    "aarch64": {"fp": "WEFT_FRAME_AARCH64_X29", "pc": "WEFT_FRAME_AARCH64_X30"},
}
MAX_FIBERS = 1000000  # a corrupt (cyclic) list must not hang gdb
MAX_FRAMES = 256


class weft_error(gdb.GdbError):
    pass


# ---- reading the inferior ---------------------------------------------------

def _arch_object():
    try:
        return gdb.selected_inferior().architecture()  # gdb >= 12
    except (AttributeError, gdb.error):
        return gdb.selected_frame().architecture()


def _arch():
    return _arch_object().name()


def _is_x86_64(arch):
    return arch == "i386:x86-64"


def _is_aarch64(arch):
    return arch.startswith("aarch64")


def _read_u64(addr):
    mem = gdb.selected_inferior().read_memory(addr, 8)
    return int.from_bytes(bytes(mem), "little")


def _read_uint(addr, size, signed=False):
    mem = gdb.selected_inferior().read_memory(addr, size)
    return int.from_bytes(bytes(mem), "little", signed=signed)


def _read_c_string(addr, limit):
    if addr == 0:
        return ""
    try:
        raw = bytes(gdb.selected_inferior().read_memory(addr, limit))
    except gdb.error:
        return "<unreadable>"
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _c_string(value, limit=64):
    """A char array or const char* member as text ('' when null or unreadable)."""
    try:
        if value.type.strip_typedefs().code == gdb.TYPE_CODE_ARRAY:
            addr = int(value.address)
            limit = value.type.strip_typedefs().sizeof
        else:
            addr = int(value)
        if addr == 0:
            return ""
        raw = bytes(gdb.selected_inferior().read_memory(addr, limit))
    except gdb.error:
        return "<unreadable>"
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _enum_name(value):
    text = str(value)
    return text.rsplit("::", 1)[-1]


class _selection:
    """Restores the selected thread and frame on exit, whatever happened."""

    def __enter__(self):
        self.thread = gdb.selected_thread()
        try:
            self.frame = gdb.selected_frame()
        except gdb.error:
            self.frame = None
        return self

    def __exit__(self, *exc):
        try:
            if self.thread is not None and self.thread.is_valid():
                self.thread.switch()
                if self.frame is not None and self.frame.is_valid():
                    self.frame.select()
        except gdb.error:
            pass
        return False


class fiber_info:
    def __init__(self, thread, worker_addr, addr, f, is_current):
        self.thread = thread
        self.worker_addr = worker_addr
        self.addr = addr
        if isinstance(f, dict):  # read through the descriptor
            self.__dict__.update(f)
            self.is_current = is_current
            return
        self.id = int(f["id"])
        self.name = _c_string(f["name"])
        self.state = _enum_name(f["state"])
        self.wait = _enum_name(f["waiting_on"])  # weft::detail::wait_reason
        if self.wait == "none":
            self.wait = ""
        self.wait_fd = int(f["wait_fd"])
        self.sp = int(f["sp"])
        try:
            self.stack_lo = int(f["stk"]["lo"])
            self.stack_size = int(f["stk"]["size"])
        except gdb.error:
            self.stack_lo = self.stack_size = 0
        self.is_current = is_current

    def wait_text(self):
        text = self.wait
        if self.wait_fd >= 0:
            text = (text + " " if text else "") + "fd %d" % self.wait_fd
        return text


def _worker_of_selected_thread():
    """The selected thread's worker as a gdb.Value (pointer), or None."""
    # A symbol lookup, not parse_and_eval: the selected frame may be in C code
    # (libc on a thread that waits), where `weft::detail::...` does not parse.
    sym = gdb.lookup_global_symbol(WORKER_VAR) or gdb.lookup_static_symbol(WORKER_VAR)
    try:
        if sym is None:
            raise gdb.error("No symbol")
        w = sym.value(gdb.newest_frame()) if sym.needs_frame else sym.value()
    except gdb.error as e:
        msg = str(e)
        if msg == "No symbol":
            raise weft_error(
                "weft-gdb: no symbol %s: the program does not link weft, or libweft "
                "was built without debug info (build with -g, e.g. RelWithDebInfo)" % WORKER_VAR)
        raise weft_error("weft-gdb: cannot read %s on thread %d: %s (is libthread_db "
                         "available to gdb?)" % (WORKER_VAR, gdb.selected_thread().num, msg))
    if w.is_optimized_out:
        raise weft_error("weft-gdb: %s is optimized out; build libweft with -g" % WORKER_VAR)
    return None if int(w) == 0 else w


DESCRIPTOR = "weft_debug_descriptor"
DESCRIPTOR_VERSION = 1
# The fields of weft_debug_layout, version 1, in order (all naturally aligned).
DESCRIPTOR_FIELDS = [
    ("magic", 8), ("version", 4), ("size", 4), ("workers", 8),
    ("worker_next", 4), ("worker_tid", 4), ("worker_all", 4), ("worker_current", 4),
    ("fiber_id", 4), ("fiber_name", 4), ("fiber_name_size", 4), ("fiber_state", 4),
    ("fiber_waiting_on", 4), ("fiber_wait_fd", 4), ("fiber_sp", 4), ("fiber_stack_lo", 4),
    ("fiber_stack_size", 4), ("fiber_all_next", 4), ("state_count", 4), ("wait_count", 4),
    ("state_names", 8), ("wait_names", 8),
]


def _descriptor():
    """weft_debug_descriptor as a dict, or None when the program has none."""
    addr = _symbol_address(DESCRIPTOR)
    if addr is None or addr == 0:
        return None
    d = {}
    off = 0
    for name, size in DESCRIPTOR_FIELDS:
        if name == "magic":
            d[name] = bytes(gdb.selected_inferior().read_memory(addr, size))
        else:
            d[name] = _read_uint(addr + off, size)
        off += size
    if d["magic"] != b"weftdbg\0":
        raise weft_error("weft-gdb: %s at %#x does not look like weft's" % (DESCRIPTOR, addr))
    if d["version"] != DESCRIPTOR_VERSION or d["size"] != off:
        raise weft_error("weft-gdb: %s version %d (size %d); this script reads version %d: use the "
                         "tools/weft-gdb.py of the same weft" % (DESCRIPTOR, d["version"], d["size"],
                                                                 DESCRIPTOR_VERSION))
    def table(ptr, count):
        return [_read_c_string(_read_u64(ptr + 8 * i), 64) for i in range(count)]
    d["states"] = table(d["state_names"], d["state_count"])
    d["waits"] = table(d["wait_names"], d["wait_count"])
    return d


def _collect_by_descriptor(d):
    """collect_fibers() without libweft's debug info: the descriptor's worker list."""
    inferior = gdb.selected_inferior()
    threads = {t.ptid[1]: t for t in inferior.threads()}
    fibers = []
    workers = 0
    w = _read_u64(d["workers"])
    seen_workers = 0
    while w != 0 and seen_workers < 4096:
        seen_workers += 1
        thread = threads.get(_read_uint(w + d["worker_tid"], 4, signed=True))
        current = _read_u64(w + d["worker_current"])
        node = _read_u64(w + d["worker_all"])
        if thread is not None:
            workers += 1
        seen = 0
        while node != 0 and thread is not None:
            seen += 1
            if seen > MAX_FIBERS:
                gdb.write("weft-gdb: worker at %#x: more than %d fibers, list corrupt?\n" % (w, MAX_FIBERS))
                break
            try:
                state = _read_uint(node + d["fiber_state"], 1)
                wait = _read_uint(node + d["fiber_waiting_on"], 1)
                f = {
                    "id": _read_u64(node + d["fiber_id"]),
                    "name": _read_c_string(node + d["fiber_name"], d["fiber_name_size"]),
                    "state": d["states"][state] if state < len(d["states"]) else str(state),
                    "wait": d["waits"][wait] if wait < len(d["waits"]) else str(wait),
                    "wait_fd": _read_uint(node + d["fiber_wait_fd"], 4, signed=True),
                    "sp": _read_u64(node + d["fiber_sp"]),
                    "stack_lo": _read_u64(node + d["fiber_stack_lo"]),
                    "stack_size": _read_u64(node + d["fiber_stack_size"]),
                }
                if f["wait"] in ("none", ""):
                    f["wait"] = ""
                fibers.append(fiber_info(thread, w, node, f, node == current))
                node = _read_u64(node + d["fiber_all_next"])
            except gdb.error as e:
                gdb.write("weft-gdb: fiber at %#x unreadable: %s\n" % (node, e))
                break
        w = _read_u64(w + d["worker_next"])
    return fibers, workers


def _has_worker_debug_info():
    # WEFT_GDB_DESCRIPTOR=1: the descriptor even with debug info (its tests).
    if os.environ.get("WEFT_GDB_DESCRIPTOR") == "1":
        return False
    sym = gdb.lookup_global_symbol(WORKER_VAR) or gdb.lookup_static_symbol(WORKER_VAR)
    return sym is not None


def collect_fibers():
    """Every live fiber of every worker thread, ordered by thread then list order."""
    inferior = gdb.selected_inferior()
    if inferior.pid == 0 and not inferior.threads():
        raise weft_error("weft-gdb: no process or core file")
    if not _has_worker_debug_info():
        d = _descriptor()
        if d is None:
            raise weft_error("weft-gdb: the program does not link weft (no %s, no %s)"
                             % (WORKER_VAR, DESCRIPTOR))
        fibers, workers = _collect_by_descriptor(d)
        fibers.sort(key=lambda f: (f.thread.num, f.id))
        _check_core_holds_fibers(fibers)
        return fibers, workers
    fibers = []
    workers = 0
    with _selection():
        for thread in sorted(inferior.threads(), key=lambda t: t.num):
            thread.switch()
            w = _worker_of_selected_thread()
            if w is None:
                continue
            workers += 1
            worker = w.dereference()
            try:
                current = int(worker["current_"])
                node = worker["all_"]
            except gdb.error as e:
                raise weft_error("weft-gdb: worker at %#x on thread %d: %s (weft's worker layout "
                                 "changed?)" % (int(w), thread.num, e))
            seen = 0
            while int(node) != 0:
                seen += 1
                if seen > MAX_FIBERS:
                    gdb.write("weft-gdb: worker at %#x: more than %d fibers, list corrupt?\n"
                              % (int(w), MAX_FIBERS))
                    break
                try:
                    f = node.dereference()
                    fibers.append(fiber_info(thread, int(w), int(node), f, int(node) == current))
                    node = f["all_next"]
                except gdb.error as e:
                    gdb.write("weft-gdb: fiber at %#x unreadable: %s\n" % (int(node), e))
                    break
    fibers.sort(key=lambda f: (f.thread.num, f.id))
    _check_core_holds_fibers(fibers)
    return fibers, workers


def _check_core_holds_fibers(fibers):
    for f in fibers:
        if f.id == 0 and f.sp == 0 and f.name == "":
            # Fiber ids start at 1: a block of zeros is memory the core file
            # does not hold.
            raise weft_error(
                "weft-gdb: the fiber control block at %#x reads as zeros: this core file does not "
                "hold weft's stack memory. gdb's gcore cannot read stack slabs guarded with "
                "MADV_GUARD_INSTALL (Linux >= 6.13); use a core written by the kernel "
                "(ulimit -c unlimited, then SIGABRT/SIGQUIT) instead." % f.addr)


# ---- info fibers --------------------------------------------------------------

class info_fibers(gdb.Command):
    """List every live weft fiber: id, worker thread, state, what it waits on, name.
Usage: info fibers
A '*' marks the fiber running on its worker thread (use `bt` in that thread,
or `fiber bt ID`, for its stack)."""

    def __init__(self):
        super().__init__("info fibers", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        fibers, workers = collect_fibers()
        if workers == 0:
            gdb.write("No weft worker on any of the %d threads (weft::run not running?).\n"
                      % len(gdb.selected_inferior().threads()))
            return
        rows = [("", "Id", "Thread", "State", "Waits on", "Name")]
        for f in fibers:
            rows.append(("*" if f.is_current else "", str(f.id),
                         "%d (LWP %d)" % (f.thread.num, f.thread.ptid[1]),
                         f.state, f.wait_text(), '"%s"' % f.name))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            cells = [r[0].ljust(1)] + [r[i].rjust(widths[i]) if i == 1 else r[i].ljust(widths[i])
                                        for i in range(1, len(r))]
            gdb.write("  ".join(cells).rstrip() + "\n")
        gdb.write("%d fiber%s on %d worker thread%s.\n" % (
            len(fibers), "" if len(fibers) == 1 else "s", workers, "" if workers == 1 else "s"))


# ---- fiber bt -----------------------------------------------------------------

def _switch_resume_pc(arch):
    """The address in weft_switch right after the outgoing frame is complete
    (the store of the stack pointer into the fiber's slot): with pc there and
    sp at a fiber's saved sp, weft_switch's CFI describes the parked fiber."""
    start = _symbol_address("weft_switch")
    if start is None:
        return None
    for insn in _arch_object().disassemble(start, start + 160):
        asm = insn["asm"].replace(" ", "").replace("\t", "")
        if _is_x86_64(arch) and asm.startswith("mov") and asm.endswith("%rsp,(%rdi)"):
            return insn["addr"]
        if _is_aarch64(arch) and asm.startswith("str") and asm.endswith("x10,[x0]"):
            return insn["addr"]
    return None


def _bt_with_registers(f, bt_args):
    """gdb's `bt` of a parked fiber: the fiber's thread gets pc/sp of the
    fiber's switch frame for the duration, then its own back. Raises gdb.error
    when registers cannot be written (core files)."""
    arch = _arch()
    resume_pc = _switch_resume_pc(arch)
    if resume_pc is None:
        raise gdb.error("weft_switch not found (Boost.Context backend?)")
    f.thread.switch()
    gdb.newest_frame().select()
    frame0 = gdb.newest_frame()
    real_pc = int(frame0.read_register("pc"))
    real_sp = int(frame0.read_register("sp"))
    gdb.execute("set $sp = %#x" % f.sp, to_string=True)  # raises on a core file
    try:
        gdb.execute("set $pc = %#x" % resume_pc, to_string=True)
        return gdb.execute(("bt " + bt_args).strip(), to_string=True)
    finally:
        # Frame 0 again: writing $pc with an outer frame selected would
        # overwrite a return address on the stack instead.
        gdb.newest_frame().select()
        gdb.execute("set $pc = %#x" % real_pc, to_string=True)
        gdb.execute("set $sp = %#x" % real_sp, to_string=True)
        gdb.newest_frame().select()


def _describe_pc(pc, is_return_address):
    """'symbol+off at file:line' for pc (a return address is looked up at pc-1)."""
    look = pc - 1 if is_return_address else pc
    try:
        sym = gdb.execute("info symbol %#x" % look, to_string=True).strip()
    except gdb.error:
        sym = ""
    if not sym or sym.startswith("No symbol"):
        sym = "??"
    else:
        sym = sym.split(" in section ")[0]
        if is_return_address:  # info symbol counted from pc-1
            head, sep, off = sym.rpartition(" + ")
            if sep and off.isdigit():
                sym = "%s + %d" % (head, int(off) + 1)
    where = ""
    try:
        sal = gdb.find_pc_line(look)
        if sal.symtab is not None and sal.line:
            where = " at %s:%d" % (sal.symtab.filename, sal.line)
    except gdb.error:
        pass
    return sym + where


def _saved_frame(f):
    """(frame pointer, resume address) from the frame weft_switch saved at f.sp."""
    arch = _arch()
    if _is_x86_64(arch):
        layout = SAVED_FRAME["x86_64"]
    elif _is_aarch64(arch):
        layout = SAVED_FRAME["aarch64"]
    else:
        raise weft_error("weft-gdb: no saved-frame layout for %s" % arch)
    fp_slot, pc_slot = layout["fp"], layout["pc"]
    try:
        return _read_u64(f.sp + fp_slot), _read_u64(f.sp + pc_slot)
    except gdb.MemoryError as e:
        raise weft_error("weft-gdb: cannot read fiber #%d's saved frame at %#x: %s" % (f.id, f.sp, e))


def _symbol_address(name):
    try:
        return int(gdb.parse_and_eval("(unsigned long)&%s" % name))
    except gdb.error:
        return None


def _bt_frame_pointers(f):
    """A frame-pointer walk from the fiber's saved switch frame."""
    lo, hi = f.stack_lo, f.stack_lo + f.stack_size
    out = []
    fp, pc = _saved_frame(f)
    out.append("#0  %#018x in %s\n" % (pc, _describe_pc(pc, True)))
    stop = None
    while len(out) < MAX_FRAMES:
        if fp == 0:
            break  # weft_make_context starts every fiber with fp = 0
        if fp % 8 or (hi > lo and not lo <= fp < hi):
            stop = "frame pointer %#x outside the fiber's stack" % fp
            break
        try:
            ret = _read_u64(fp + 8)
            older = _read_u64(fp)
        except gdb.MemoryError:
            stop = "cannot read the frame at %#x" % fp
            break
        if ret == 0:
            break
        out.append("#%-2d %#018x in %s\n" % (len(out), ret, _describe_pc(ret, True)))
        if older != 0 and older <= fp:
            stop = "frame pointers stop growing at %#x" % fp
            break
        fp = older
    text = "".join(out)
    if stop:
        text += "(walk stopped: %s)\n" % stop
    return text


def fiber_backtrace(f, bt_args=""):
    """The text of fiber f's backtrace."""
    header = '%s fiber #%d "%s" (%s%s) on thread %d\n' % (
        "Running" if f.is_current else "Suspended", f.id, f.name, f.state,
        ", " + f.wait_text() if f.wait_text() else "", f.thread.num)
    with _selection():
        if f.is_current:
            f.thread.switch()
            return header + gdb.execute(("bt " + bt_args).strip(), to_string=True)
        if f.sp == 0:
            return header + "(no saved stack pointer)\n"
        # weft_make_context leaves the trampoline as the resume address of a
        # fiber that has never run: there is nothing to walk yet.
        if _saved_frame(f)[1] == _symbol_address("weft_trampoline"):
            return header + "(not started yet: it will begin in weft_trampoline)\n"
        try:
            return header + _bt_with_registers(f, bt_args)
        except weft_error:
            raise
        except gdb.error as e:
            note = "(gdb cannot set registers here: %s; frame-pointer walk)\n" % str(e).rstrip(".")
            return header + note + _bt_frame_pointers(f)


class fiber_prefix(gdb.Command):
    """Commands for weft fibers: fiber bt ID, fiber bt all."""

    def __init__(self):
        super().__init__("fiber", gdb.COMMAND_STACK, prefix=True)


class fiber_bt(gdb.Command):
    """Print the backtrace of a weft fiber.
Usage: fiber bt ID [BT-ARGS]   (ID from `info fibers`; BT-ARGS go to `bt`, e.g. full)
       fiber bt all
A parked fiber is unwound from the frame its last switch saved; on a core
file, where gdb cannot set registers, by walking frame pointers."""

    def __init__(self):
        super().__init__("fiber bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        argv = arg.split(None, 1)
        if not argv:
            raise weft_error("usage: fiber bt ID [BT-ARGS] | fiber bt all")
        fibers, workers = collect_fibers()
        if workers == 0:
            raise weft_error("weft-gdb: no weft worker thread in this process")
        rest = argv[1] if len(argv) > 1 else ""
        if argv[0] == "all":
            for f in fibers:
                gdb.write(fiber_backtrace(f, rest) + "\n")
            return
        try:
            want = int(argv[0].lstrip("#"), 0)
        except ValueError:
            raise weft_error("fiber bt: '%s' is not a fiber id" % argv[0])
        for f in fibers:
            if f.id == want:
                gdb.write(fiber_backtrace(f, rest))
                return
        raise weft_error("fiber bt: no live fiber #%d (see `info fibers`)" % want)


info_fibers()
fiber_prefix()
fiber_bt()
