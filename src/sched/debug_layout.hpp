// What a debugger needs to find weft's fibers without libweft's debug info
// (a Release build): a list of every live worker, and weft_debug_descriptor,
// an exported, versioned table of the offsets and enumerator names that
// tools/weft-gdb.py reads. The script prefers the debug info when it has it.
#pragma once

namespace weft::detail {

class worker;

// On the worker's own thread, when it starts and when it ends.
void debug_register(worker* w) noexcept;
void debug_unregister(worker* w) noexcept;

}  // namespace weft::detail
