/* Helper module for the "dlopen" contract case: allocates in its
 * constructor, frees in its destructor, and hands blocks across the
 * module boundary in both directions. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CTOR_BLOCKS 64

static unsigned char *ctor_blocks[CTOR_BLOCKS];
static size_t ctor_sizes[CTOR_BLOCKS];
static char *ctor_string;
static int *fini_counter;

static unsigned char byte_at(size_t block, size_t i)
{
    return (unsigned char)(block * 31 + i * 7 + 1);
}

__attribute__((constructor)) static void contracts_dl_init(void)
{
    for (size_t b = 0; b < CTOR_BLOCKS; b++) {
        size_t n = (size_t)16 << (b % 15); /* 16 B .. 256 KiB */
        ctor_blocks[b] = malloc(n);
        if (!ctor_blocks[b])
            abort();
        ctor_sizes[b] = n;
        for (size_t i = 0; i < n; i++)
            ctor_blocks[b][i] = byte_at(b, i);
    }
    /* strdup allocates inside libc: that must reach the same allocator */
    ctor_string = strdup("allocated by the module constructor");
    if (!ctor_string)
        abort();
}

__attribute__((destructor)) static void contracts_dl_fini(void)
{
    for (size_t b = 0; b < CTOR_BLOCKS; b++) {
        for (size_t i = 0; i < ctor_sizes[b]; i++)
            if (ctor_blocks[b][i] != byte_at(b, i))
                abort();
        free(ctor_blocks[b]);
        ctor_blocks[b] = NULL;
    }
    free(ctor_string);
    ctor_string = NULL;
    if (fini_counter)
        ++*fini_counter;
}

void contracts_dl_set_fini_counter(int *c)
{
    fini_counter = c;
}

int contracts_dl_check_ctor_data(void)
{
    for (size_t b = 0; b < CTOR_BLOCKS; b++)
        for (size_t i = 0; i < ctor_sizes[b]; i++)
            if (ctor_blocks[b][i] != byte_at(b, i))
                return 1;
    return strcmp(ctor_string, "allocated by the module constructor") == 0 ? 0 : 2;
}

/* A block of n letters (not NUL-terminated), freed by the caller. */
char *contracts_dl_make(size_t n)
{
    char *s = (n % 3 == 0) ? calloc(n, 1) : malloc(n);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + i % 26);
    return s;
}

void *contracts_dl_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

void contracts_dl_take(void *p)
{
    free(p);
}
