/* A double free of a block of the size given (argv[1]), made in release_twice() on a block from
 * make_block(), then a check that the heap still hands out distinct blocks. check_errors.py runs
 * it under memf with different settings and reads its stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*volatile free_fn)(void *) = free;

__attribute__((noinline)) static char *make_block(size_t size)
{
    char *p = malloc(size);
    memset(p, 7, size < 4096 ? size : 4096);
    return p;
}

__attribute__((noinline)) static void release_twice(char *p)
{
    free_fn(p);
    printf("FREED %p\n", (void *)p);
    fflush(stdout);
    free_fn(p);
}

int main(int argc, char **argv)
{
    size_t size = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    release_twice(make_block(size));
    printf("CONTINUED\n");
    fflush(stdout);
    /* after a reported double free: no block is handed out twice */
    enum { K = 64 };
    char *v[K];
    for (int i = 0; i < K; i++) {
        v[i] = malloc(size);
        if (!v[i])
            return 3;
        memset(v[i], i, size < 4096 ? size : 4096);
    }
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++)
            if (v[i] == v[j]) {
                printf("TWICE %p\n", (void *)v[i]);
                return 4;
            }
    for (int i = 0; i < K; i++)
        free(v[i]);
    printf("HEAP-OK\n");
    return 0;
}
