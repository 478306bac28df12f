// Names for code addresses in fiber dumps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace weft::detail {

// "0x<pc> in <function> at <file>:<line>" for each return address pcs[i]
// (looked up at pc - 1, which is still inside the call), into out[i]. With
// libdw (elfutils, found at configure time) functions are named from each
// module's symbol table and lines from its DWARF, so static functions of an
// executable linked without -rdynamic get names too; without it, or where
// libdw knows nothing of a pc, through dladdr, which sees only dynamically
// exported symbols. libdw runs on a short-lived helper thread: it needs more
// stack than a fiber, or the signal stack of a SIGQUIT dump, may have.
void symbolize(const std::uintptr_t* pcs, std::size_t n, std::string* out);

}  // namespace weft::detail
