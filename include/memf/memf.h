/* memf's C interface. Link with -lmemf (pkg-config memf) or run under LD_PRELOAD=libmemf.so. */
#ifndef MEMF_MEMF_H
#define MEMF_MEMF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns to the OS what memf can give back without touching live blocks: the calling thread's
 * cache, blocks parked between threads, empty pool slabs, cached huge mappings and mimalloc's
 * free pages. Returns the bytes given back by memf's own pools and mapping cache. */
size_t memf_release_memory(void);

/* Writes memf's allocator statistics (the MEMF_STATS=1 summary) to file descriptor fd. */
void memf_print_stats(int fd);

#ifdef __cplusplus
}
#endif

#endif
