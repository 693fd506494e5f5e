// Free lists of the allocator found corrupted: a free block (on a thread's bin, in a transfer
// batch, on a slab's list) whose link and mark no longer match (core/free_mark.hpp), because the
// program wrote into it after freeing it or ran over into it from the block before. Reported as
// one line (core/misuse.hpp); MEMF_ON_ERROR=abort (the default) ends the process there, =report
// drops the list from that block on: none of its blocks is handed out again.
#pragma once
#include "compiler.hpp"
#include "free_mark.hpp"

namespace memf {

// Reports block, a free block of cls that operation ("malloc", "free", ...) found corrupted;
// returns only under MEMF_ON_ERROR=report. The report may print stacks, which allocates: no
// allocator lock may be held.
MEMF_NOINLINE void report_corrupt_block(const void* block, unsigned cls, const char* operation);

// One checked step along a free list of cls (the slow paths'): the block after block, when
// block's pair holds and its link ends the list or leads to a block start of cls in the range.
bool next_free_of_class(const FreeBlock* block, unsigned cls, FreeBlock** next);

}  // namespace memf
