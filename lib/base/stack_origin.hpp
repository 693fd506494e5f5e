// Where a captured call stack starts, as an allocator entry point sees it: the return address
// into its caller and the caller's frame pointer. The entry point (engine/) takes it; the stack
// capture (track/) walks from it.
#pragma once
#include <cstdint>

namespace memf {

// pc is the first frame (a return address into the function whose caller chain is wanted),
// frame is that function's frame pointer value (0 if unknown), and sp its stack pointer at pc,
// as it is once the callee has returned (0 if unknown): with sp the DWARF unwinder can start at
// the caller instead of unwinding memf's own frames to find it.
struct StackOrigin {
  uintptr_t pc;
  uintptr_t frame;
  uintptr_t sp = 0;
};

}  // namespace memf

// Expands, in the function that is to be the top of the stack's caller (e.g. the exported
// malloc), to the return address into its caller, the caller's frame pointer (the rbp value
// saved by this function's own frame record) and the caller's stack pointer (just above the
// return address, which sits above that record). Forces a frame record in the expanding function
// only where it is evaluated (GCC shrink-wraps it into that path). Must be evaluated in the
// exported function itself, in an always_inline function inlined into it, or in a function it
// tail-calls (whose frame record then sits on the same return address).
#define MEMF_STACK_ORIGIN()                                                                 \
  (::memf::StackOrigin{reinterpret_cast<uintptr_t>(__builtin_return_address(0)),            \
                       *static_cast<const uintptr_t*>(__builtin_frame_address(0)),          \
                       reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) + 2 * sizeof(uintptr_t)})
