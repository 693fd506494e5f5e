/* mallinfo2() and mallinfo() under memf (LD_PRELOAD): the program's live bytes show, large
 * blocks in hblks/hblkhd and pool blocks in uordblks, as glibc splits them. Exits 0 when they do. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    enum { LARGE = 100, SMALL = 1000 };
    struct mallinfo2 before = mallinfo2();
    char *large[LARGE], *small[SMALL];
    for (int i = 0; i < LARGE; i++) {
        large[i] = malloc(1 << 20);
        memset(large[i], 1, 4096);
    }
    for (int i = 0; i < SMALL; i++)
        small[i] = malloc(100);
    struct mallinfo2 during = mallinfo2();
    struct mallinfo old = mallinfo();
    for (int i = 0; i < LARGE; i++)
        free(large[i]);
    for (int i = 0; i < SMALL; i++)
        free(small[i]);
    struct mallinfo2 after = mallinfo2();
    int ok = during.hblks >= before.hblks + LARGE && during.hblkhd >= before.hblkhd + (size_t)LARGE * (1 << 20) &&
             during.uordblks >= before.uordblks + (size_t)SMALL * 100 && during.arena >= during.uordblks &&
             (size_t)old.uordblks == during.uordblks && after.hblkhd < during.hblkhd &&
             after.uordblks < during.uordblks;
    printf("mallinfo2: hblks %zu, hblkhd %zu, uordblks %zu, arena %zu (before %zu/%zu/%zu; after %zu/%zu) %s\n",
           during.hblks, during.hblkhd, during.uordblks, during.arena, before.hblks, before.hblkhd, before.uordblks,
           after.hblkhd, after.uordblks, ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
}
