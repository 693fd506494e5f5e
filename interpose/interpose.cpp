// libmemf.so's allocation symbols, glibc's mallinfo, and dlclose. Each forwards to one function in
// lib/ (the engine's; mallinfo to track/malloc_info, dlclose to track/unloaded_modules); nothing
// else belongs here. (The rest of libmemf.so's interface is lib/api/.)
#include <cstddef>
#include <new>

#include <memf/export.h>

#include "engine.hpp"
#include "malloc_info.hpp"
#include "release.hpp"
#include "unloaded_modules.hpp"

using memf::engine_free;
using memf::engine_malloc;

extern "C" MEMF_API void* malloc(size_t size) { return engine_malloc(size); }
extern "C" MEMF_API void free(void* p) { engine_free(p); }
extern "C" MEMF_API void cfree(void* p) { engine_free(p); }
extern "C" MEMF_API void* calloc(size_t count, size_t size) { return memf::engine_calloc(count, size); }
extern "C" MEMF_API void* realloc(void* p, size_t size) { return memf::engine_realloc(p, size); }
extern "C" MEMF_API void* reallocarray(void* p, size_t count, size_t size) { return memf::engine_reallocarray(p, count, size); }
extern "C" MEMF_API int posix_memalign(void** out, size_t alignment, size_t size) { return memf::engine_posix_memalign(out, alignment, size); }
extern "C" MEMF_API void* aligned_alloc(size_t alignment, size_t size) { return memf::engine_aligned_alloc(alignment, size); }
extern "C" MEMF_API void* memalign(size_t alignment, size_t size) { return memf::engine_memalign(alignment, size); }
extern "C" MEMF_API void* valloc(size_t size) { return memf::engine_valloc(size); }
extern "C" MEMF_API void* pvalloc(size_t size) { return memf::engine_pvalloc(size); }
extern "C" MEMF_API size_t malloc_usable_size(void* p) { return memf::engine_usable_size(p); }
extern "C" MEMF_API int malloc_trim(size_t) { return memf::engine_release_memory() > 0; }
// glibc's statistics, from memf's figures (track/malloc_info: the same layouts as <malloc.h>'s).
extern "C" MEMF_API memf::MallinfoSizes mallinfo2() { return memf::malloc_info_sizes(); }
extern "C" MEMF_API memf::MallinfoInts mallinfo() { return memf::malloc_info_ints(); }
// So that stacks through a library the program unloads keep its name and symbols.
extern "C" MEMF_API int dlclose(void* handle) { return memf::close_module(handle); }

// glibc's aliases: libmimalloc.so.2 exports them too, and they must not bind there.
extern "C" MEMF_API void* __libc_malloc(size_t size) { return engine_malloc(size); }
extern "C" MEMF_API void __libc_free(void* p) { engine_free(p); }
extern "C" MEMF_API void __libc_cfree(void* p) { engine_free(p); }
extern "C" MEMF_API void* __libc_calloc(size_t count, size_t size) { return memf::engine_calloc(count, size); }
extern "C" MEMF_API void* __libc_realloc(void* p, size_t size) { return memf::engine_realloc(p, size); }
extern "C" MEMF_API void* __libc_memalign(size_t alignment, size_t size) { return memf::engine_memalign(alignment, size); }
extern "C" MEMF_API void* __libc_valloc(size_t size) { return memf::engine_valloc(size); }
extern "C" MEMF_API void* __libc_pvalloc(size_t size) { return memf::engine_pvalloc(size); }

MEMF_API void* operator new(size_t size) { return memf::engine_new(size); }
MEMF_API void* operator new[](size_t size) { return memf::engine_new(size); }
MEMF_API void* operator new(size_t size, const std::nothrow_t&) noexcept { return memf::engine_new_nothrow(size); }
MEMF_API void* operator new[](size_t size, const std::nothrow_t&) noexcept { return memf::engine_new_nothrow(size); }
MEMF_API void* operator new(size_t size, std::align_val_t alignment) { return memf::engine_new_aligned(size, size_t(alignment)); }
MEMF_API void* operator new[](size_t size, std::align_val_t alignment) { return memf::engine_new_aligned(size, size_t(alignment)); }
MEMF_API void* operator new(size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept { return memf::engine_new_aligned_nothrow(size, size_t(alignment)); }
MEMF_API void* operator new[](size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept { return memf::engine_new_aligned_nothrow(size, size_t(alignment)); }

MEMF_API void operator delete(void* p) noexcept { engine_free(p); }
MEMF_API void operator delete[](void* p) noexcept { engine_free(p); }
MEMF_API void operator delete(void* p, const std::nothrow_t&) noexcept { engine_free(p); }
MEMF_API void operator delete[](void* p, const std::nothrow_t&) noexcept { engine_free(p); }
MEMF_API void operator delete(void* p, size_t) noexcept { engine_free(p); }
MEMF_API void operator delete[](void* p, size_t) noexcept { engine_free(p); }
MEMF_API void operator delete(void* p, std::align_val_t) noexcept { engine_free(p); }
MEMF_API void operator delete[](void* p, std::align_val_t) noexcept { engine_free(p); }
MEMF_API void operator delete(void* p, size_t, std::align_val_t) noexcept { engine_free(p); }
MEMF_API void operator delete[](void* p, size_t, std::align_val_t) noexcept { engine_free(p); }
MEMF_API void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { engine_free(p); }
MEMF_API void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { engine_free(p); }
