// Stacks in error reports: with MEMF_STACKS on, a report of a double free or an invalid pointer
// (core/misuse) is followed by the stack of the bad call and, where it was recorded, the stack
// that allocated the block, as AddressSanitizer's reports read.
#pragma once

#include "misuse.hpp"

namespace memf {

// The lines after the report's own, written to stderr: the call's stack from the program's
// frame that made it (memf's own frames left out), then "  allocated at:" and the allocation
// stack. Allocates (symbolizing); never called with an allocator lock held.
void write_misuse_stacks(const MisuseReport& report);

}  // namespace memf
