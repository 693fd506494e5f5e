/* A C program that links memf as its allocator: its mallocs must be memf's (counted in memf's
 * statistics, malloc bound in libmemf). Prints "memf is the allocator" and exits 0, else 1. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memf/memf.h>

int main(void)
{
    memf_stats before, after;
    if (memf_get_stats(&before) != 0)
        return 1;
    void *blocks[1000];
    for (int i = 0; i < 1000; i++)
        blocks[i] = malloc(40);
    if (memf_get_stats(&after) != 0)
        return 1;
    for (int i = 0; i < 1000; i++)
        free(blocks[i]);
    Dl_info info;
    const char *module = dladdr((void *)malloc, &info) ? info.dli_fname : "?";
    if (after.allocations - before.allocations < 1000 || !strstr(module, "libmemf")) {
        printf("not memf: %llu allocations counted, malloc from %s\n",
               (unsigned long long)(after.allocations - before.allocations), module);
        return 1;
    }
    printf("memf is the allocator (C): %llu allocations counted, malloc from %s\n",
           (unsigned long long)(after.allocations - before.allocations), strrchr(module, '/') + 1);
    return 0;
}
