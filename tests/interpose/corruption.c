/* A program that writes into memory it freed (argv[1] = "use-after-free": the 8 bytes at the
 * start of a freed 32 B block) or runs over the end of a live block into the freed one after it
 * ("overflow"), then allocates again. Under memf the corruption is reported before any link it
 * damaged is followed; with MEMF_ON_ERROR=report the program goes on (argv[2] rounds of further
 * allocations, each block's contents checked) and prints the addresses it was given. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Laundered through a volatile, so that the compiler cannot drop the writes after free. */
static char *volatile g_laundered;

static char *launder(char *p)
{
    g_laundered = p;
    return g_laundered;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "use-after-free";
    const int rounds = argc > 2 ? atoi(argv[2]) : 0;
    char *a = malloc(32), *b = malloc(32);
    printf("freed %p %p\n", (void *)a, (void *)b);
    fflush(stdout);
    if (strcmp(mode, "overflow") == 0) {
        /* b is freed; a, live and just below it, is written 48 bytes long. */
        free(b);
        memset(launder(a), 'A', 48);
        free(a);
    } else {
        free(a);
        free(b);
        memcpy(launder(b), "AAAAAAAA", 8);
    }
    char *c = malloc(32), *d = malloc(32);
    printf("got %p %p\n", (void *)c, (void *)d);
    for (int round = 0; round < rounds; ++round) {
        enum { kBlocks = 1000 };
        unsigned char *blocks[kBlocks];
        for (int i = 0; i < kBlocks; ++i) {
            size_t size = 16 + (size_t)(i % 32) * 8;
            blocks[i] = malloc(size);
            if (!blocks[i]) return 2;
            memset(blocks[i], (i + round) & 0xff, size);
        }
        for (int i = 0; i < kBlocks; ++i) {
            size_t size = 16 + (size_t)(i % 32) * 8;
            for (size_t k = 0; k < size; ++k)
                if (blocks[i][k] != ((i + round) & 0xff)) {
                    fprintf(stderr, "block %d overwritten\n", i);
                    return 3;
                }
            free(blocks[i]);
        }
    }
    printf("done\n");
    return 0;
}
