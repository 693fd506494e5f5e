// The thread pointer: where the calling thread's TLS is anchored (x86-64: %fs:0, the TCB; static
// TLS sits below it, variant II).
#pragma once
#include <cstdint>

namespace memf {

inline uintptr_t thread_pointer() {
#if defined(__x86_64__)
  uintptr_t tp;
  asm("mov %%fs:0, %0" : "=r"(tp));
  return tp;
#else
  return uintptr_t(__builtin_thread_pointer());
#endif
}

}  // namespace memf
