// libmemf.so's allocation symbols. Each forwards to one engine function in lib/engine.hpp;
// nothing else belongs here.
#include <cstddef>
#include <new>

#include "engine.hpp"

#define MEMF_EXPORT extern "C" __attribute__((visibility("default")))
#define MEMF_EXPORT_CXX __attribute__((visibility("default")))

using memf::engine_free;
using memf::engine_malloc;

MEMF_EXPORT void* malloc(size_t size) { return engine_malloc(size); }
MEMF_EXPORT void free(void* p) { engine_free(p); }
MEMF_EXPORT void cfree(void* p) { engine_free(p); }
MEMF_EXPORT void* calloc(size_t count, size_t size) { return memf::engine_calloc(count, size); }
MEMF_EXPORT void* realloc(void* p, size_t size) { return memf::engine_realloc(p, size); }
MEMF_EXPORT void* reallocarray(void* p, size_t count, size_t size) { return memf::engine_reallocarray(p, count, size); }
MEMF_EXPORT int posix_memalign(void** out, size_t alignment, size_t size) { return memf::engine_posix_memalign(out, alignment, size); }
MEMF_EXPORT void* aligned_alloc(size_t alignment, size_t size) { return memf::engine_aligned_alloc(alignment, size); }
MEMF_EXPORT void* memalign(size_t alignment, size_t size) { return memf::engine_memalign(alignment, size); }
MEMF_EXPORT void* valloc(size_t size) { return memf::engine_valloc(size); }
MEMF_EXPORT void* pvalloc(size_t size) { return memf::engine_pvalloc(size); }
MEMF_EXPORT size_t malloc_usable_size(void* p) { return memf::engine_usable_size(p); }
MEMF_EXPORT int malloc_trim(size_t) { return memf::engine_release_memory() > 0; }

// glibc's aliases: libmimalloc.so.2 exports them too, and they must not bind there.
MEMF_EXPORT void* __libc_malloc(size_t size) { return engine_malloc(size); }
MEMF_EXPORT void __libc_free(void* p) { engine_free(p); }
MEMF_EXPORT void __libc_cfree(void* p) { engine_free(p); }
MEMF_EXPORT void* __libc_calloc(size_t count, size_t size) { return memf::engine_calloc(count, size); }
MEMF_EXPORT void* __libc_realloc(void* p, size_t size) { return memf::engine_realloc(p, size); }
MEMF_EXPORT void* __libc_memalign(size_t alignment, size_t size) { return memf::engine_memalign(alignment, size); }
MEMF_EXPORT void* __libc_valloc(size_t size) { return memf::engine_valloc(size); }
MEMF_EXPORT void* __libc_pvalloc(size_t size) { return memf::engine_pvalloc(size); }

MEMF_EXPORT_CXX void* operator new(size_t size) { return memf::engine_new(size); }
MEMF_EXPORT_CXX void* operator new[](size_t size) { return memf::engine_new(size); }
MEMF_EXPORT_CXX void* operator new(size_t size, const std::nothrow_t&) noexcept { return memf::engine_new_nothrow(size); }
MEMF_EXPORT_CXX void* operator new[](size_t size, const std::nothrow_t&) noexcept { return memf::engine_new_nothrow(size); }
MEMF_EXPORT_CXX void* operator new(size_t size, std::align_val_t alignment) { return memf::engine_new_aligned(size, size_t(alignment)); }
MEMF_EXPORT_CXX void* operator new[](size_t size, std::align_val_t alignment) { return memf::engine_new_aligned(size, size_t(alignment)); }
MEMF_EXPORT_CXX void* operator new(size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept { return memf::engine_new_aligned_nothrow(size, size_t(alignment)); }
MEMF_EXPORT_CXX void* operator new[](size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept { return memf::engine_new_aligned_nothrow(size, size_t(alignment)); }

MEMF_EXPORT_CXX void operator delete(void* p) noexcept { engine_free(p); }
MEMF_EXPORT_CXX void operator delete[](void* p) noexcept { engine_free(p); }
MEMF_EXPORT_CXX void operator delete(void* p, const std::nothrow_t&) noexcept { engine_free(p); }
MEMF_EXPORT_CXX void operator delete[](void* p, const std::nothrow_t&) noexcept { engine_free(p); }
MEMF_EXPORT_CXX void operator delete(void* p, size_t) noexcept { engine_free(p); }
MEMF_EXPORT_CXX void operator delete[](void* p, size_t) noexcept { engine_free(p); }
MEMF_EXPORT_CXX void operator delete(void* p, std::align_val_t) noexcept { engine_free(p); }
MEMF_EXPORT_CXX void operator delete[](void* p, std::align_val_t) noexcept { engine_free(p); }
MEMF_EXPORT_CXX void operator delete(void* p, size_t, std::align_val_t) noexcept { engine_free(p); }
MEMF_EXPORT_CXX void operator delete[](void* p, size_t, std::align_val_t) noexcept { engine_free(p); }
MEMF_EXPORT_CXX void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { engine_free(p); }
MEMF_EXPORT_CXX void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { engine_free(p); }
