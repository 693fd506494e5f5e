// Which part of the exiting thread's stack is still live when the leak check runs at exit.
#pragma once
#include <cstdint>

namespace memf {

// At exit the thread runs libc's exit path (exit, its handlers, the dynamic linker's fini, the
// destructors) on top of the frame that called exit, or of libc's start code when main returned.
// Everything below that caller is dead: main's frame after it returned, frames of functions that
// returned long ago. Their bytes stay until overwritten, and a conservative scan reading them
// keeps lost blocks "reachable" where LeakSanitizer and Valgrind call them lost.
//
// Returns the lowest address of the live part: just above the return address into libc's `exit`
// that its call into the exit handlers left on this thread's stack, found by reading the stack
// from sp up (unwinding cannot be relied on here: the exit path passes through crt code without
// unwind tables). 0 when there is none (exit not on this stack, or an exit that does not call):
// the caller then keeps its own stack pointer, the conservative choice.
uintptr_t live_stack_bottom_at_exit(uintptr_t sp);

}  // namespace memf
