// Call-stack capture for allocation records. Runs inside malloc: it never allocates, takes no
// lock, keeps errno, and never reads memory outside the calling thread's stack (frame-pointer
// walk). See docs/stacks.md for the measurements behind the two modes.
#pragma once
#include <cstdint>

#include "stack_origin.hpp"

namespace memf {

enum class UnwindMode : uint8_t {
  // Frame-pointer walk bounded by this thread's stack: ~1.5 ns a frame, exact through code built
  // with -fno-omit-frame-pointer; through code without frame pointers (Debian's libc and
  // libstdc++, most distribution binaries) it loses frames and may add a few stray ones.
  kFramePointer,
  // DWARF CFI unwinding: complete stacks through any compiled code with .eh_frame. Each return
  // address's rule is read once (cfi_rules.hpp), then ~10 ns a frame; a frame whose rule is not
  // plain (a signal frame, a CFA expression) hands the stack to libgcc's _Unwind_Backtrace
  // (~120 ns a frame). Trusts the CFI.
  kPrecise,
};

// Deepest stack captured or stored anywhere in memf.
constexpr unsigned kMaxStackDepth = 128;

// Captures the call stack of capture_stack's caller: frames[0] is a return address into the
// caller (exact in both modes), frames[1] into the caller's caller, and so on; `skip` drops that
// many leading frames. Returns the number of frames stored (<= max_depth). Every entry is a
// return address: symbolize pc - 1.
unsigned capture_stack(uintptr_t* frames, unsigned max_depth, unsigned skip,
                       UnwindMode mode = UnwindMode::kFramePointer);

// Captures the stack starting at origin (see MEMF_STACK_ORIGIN): frames[0] = origin.pc, then its
// callers. kFramePointer continues from origin.frame (only origin.pc if that is 0 or not on
// this thread's stack); kPrecise unwinds from here, drops the frames above origin.pc (memf's
// own) and records from it on (only origin.pc if it never appears).
unsigned capture_stack_from(const StackOrigin& origin, uintptr_t* frames, unsigned max_depth,
                            UnwindMode mode);

// The frame-pointer capture from origin that the stack depot is fed with, in one pass: leading
// frames inside [own_begin, own_end) (memf's own code) are left out, at most max_depth frames
// are kept, and *hash is the kept frames' StackHash (stack_depot.hpp), computed while walking.
// Returns the number of frames kept.
unsigned capture_frame_pointers_hashed(const StackOrigin& origin, uintptr_t* frames, unsigned max_depth,
                                       uintptr_t own_begin, uintptr_t own_end, uint64_t* hash);

// Start-up for the allocation paths' captures (allocation_stacks_init), before any of them:
// memf's own code [own_begin, own_end), which they leave out of a stack's front; and the exit and
// fork handlers of the threads' unwind states, without which precise captures walk with libgcc.
void stack_capture_init(uintptr_t own_begin, uintptr_t own_end);
// The allocation paths' capture: capture_frame_pointers_hashed from origin without memf's own
// leading frames, at most max_depth frames, answered from the thread's memo of the stack depot
// when it has the stack, else put into the depot. The stack's depot id; 0 for none.
uint32_t capture_frame_pointers_to_depot(const StackOrigin& origin, unsigned max_depth);

// The allocation paths' precise capture: capture_stack_from(origin, kPrecise) without memf's own
// leading frames, at most max_depth frames, put into the depot; a stack that is the calling
// thread's previous one, unchanged, is answered with its id without unwinding. 0 for none.
uint32_t capture_precise_to_depot(const StackOrigin& origin, unsigned max_depth);

// The calling thread's next precise capture unwinds its whole stack, without reusing the last
// walk's frames (measurements of a full walk: tools/bench/unwind_bench.cpp).
void stack_capture_forget_last_walk();

// The bounds [lo, hi) that frame-pointer walks of the calling thread are confined to, as cached
// for it (read on the thread's first capture); false when this thread's stack is unknown.
bool thread_stack_bounds(uintptr_t* lo, uintptr_t* hi);

}  // namespace memf
