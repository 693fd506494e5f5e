// Where a captured call stack starts, as an allocator entry point sees it: the return address
// into its caller and the caller's frame pointer. The entry point (engine/) takes it; the stack
// capture (track/) walks from it.
#pragma once
#include <cstdint>

namespace memf {

// pc is the first frame (a return address into the function whose caller chain is wanted) and
// frame is that function's frame pointer value (0 if unknown).
struct StackOrigin {
  uintptr_t pc;
  uintptr_t frame;
};

}  // namespace memf

// Expands, in the function that is to be the top of the stack's caller (e.g. the exported
// malloc), to the return address into its caller and the caller's frame pointer (the rbp value
// saved by this function's own frame record). Forces a frame record in the expanding function
// only where it is evaluated (GCC shrink-wraps it into that path). Must be evaluated in the
// exported function itself, or in an always_inline function inlined into it.
#define MEMF_STACK_ORIGIN()                                                      \
  (::memf::StackOrigin{reinterpret_cast<uintptr_t>(__builtin_return_address(0)), \
                       *static_cast<const uintptr_t*>(__builtin_frame_address(0))})
