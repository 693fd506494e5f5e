// Shared by the leak programs. Each program's leaks are known by construction; main ends by
// overwriting the stack below its own frame, so that no pointer to a lost block lingers in dead
// frames that the exit path reuses (a conservative scan would take it for a live reference,
// under memf and LeakSanitizer alike).
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

__attribute__((noinline)) static void clobber_stack(void) {
  volatile char buffer[64 * 1024];
  for (unsigned i = 0; i < sizeof buffer; ++i) buffer[i] = 0;
}

// Keeps the compiler from proving a store dead.
static inline void escape(void* p) { __asm__ volatile("" : : "r"(p) : "memory"); }

#ifdef __cplusplus
}
#endif
