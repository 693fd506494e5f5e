// Call-stack capture for allocation records. Runs inside malloc: it never allocates, takes no
// lock, keeps errno, and never reads memory outside the calling thread's stack (frame-pointer
// walk). See docs/stacks.md for the measurements behind the two modes.
#pragma once
#include <cstdint>

namespace memf {

enum class UnwindMode : uint8_t {
  // Frame-pointer walk bounded by this thread's stack: ~1.5 ns a frame, exact through code built
  // with -fno-omit-frame-pointer; through code without frame pointers (Debian's libc and
  // libstdc++, most distribution binaries) it loses frames and may add a few stray ones.
  kFramePointer,
  // DWARF CFI unwinding (libgcc's _Unwind_Backtrace over .eh_frame): complete stacks through
  // any compiled code, ~100 ns a frame. Trusts the CFI: a corrupted stack can crash it.
  kPrecise,
};

// Deepest stack captured or stored anywhere in memf.
constexpr unsigned kMaxStackDepth = 128;

// Where a capture starts: pc is the first frame (a return address into the function whose
// caller chain is wanted) and frame is that function's frame pointer value (0 if unknown).
struct StackOrigin {
  uintptr_t pc;
  uintptr_t frame;
};

// Expands, in the function that is to be the top of the stack's caller (e.g. the exported
// malloc), to the return address into its caller and the caller's frame pointer (the rbp value
// saved by this function's own frame record). Forces a frame record in the expanding function
// only where it is evaluated (GCC shrink-wraps it into that path). Must be evaluated in the
// exported function itself, or in an always_inline function inlined into it.
#define MEMF_STACK_ORIGIN()                                          \
  (::memf::StackOrigin{reinterpret_cast<uintptr_t>(__builtin_return_address(0)), \
                       *static_cast<const uintptr_t*>(__builtin_frame_address(0))})

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

// The bounds [lo, hi) that frame-pointer walks of the calling thread are confined to, as cached
// for it (read on the thread's first capture); false when this thread's stack is unknown.
bool thread_stack_bounds(uintptr_t* lo, uintptr_t* hi);

}  // namespace memf
