// Compiler and ABI facts every layer uses: branch hints, inlining, the TLS model, symbol
// visibility, the page size. No code.
#pragma once
#include <cstddef>
#include <cstdint>

#define MEMF_LIKELY(x) __builtin_expect(!!(x), 1)
#define MEMF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MEMF_NOINLINE __attribute__((noinline, noipa))
#define MEMF_ALWAYS_INLINE inline __attribute__((always_inline))
// Thread-locals of a library that may be preloaded: initial-exec, so that reaching one is a
// %fs-relative access with no __tls_get_addr call (which may allocate).
#define MEMF_TLS __attribute__((tls_model("initial-exec")))
// On the declarations of globals the fast paths read: lets the compiler address them directly
// (RIP-relative) instead of through the GOT.
#define MEMF_HIDDEN __attribute__((visibility("hidden")))

namespace memf {

constexpr size_t kPageSize = 4096;
// x86-64's transparent huge page.
constexpr size_t kHugePageSize = size_t(2) << 20;

constexpr size_t round_up(size_t n, size_t align) { return (n + align - 1) & ~(align - 1); }

}  // namespace memf
