// The C interface of include/memf/memf.h.
#include <memf/memf.h>

#include "engine.hpp"
#include "reporter.hpp"

#define MEMF_API extern "C" __attribute__((visibility("default")))

MEMF_API size_t memf_release_memory(void) { return memf::engine_release_memory(); }
MEMF_API void memf_print_stats(int fd) { memf::write_engine_stats(fd); }
