/* Run set-user-ID root by an unprivileged user with the caller's MEMF_* settings in its
 * environment (tests/linked/setuid.sh): memf must honour none of them. argv[1]:
 *   double-free  frees a block twice: must abort (MEMF_ON_ERROR=report would let it go on);
 *   limit        malloc(40) must succeed (MEMF_LIMIT=1 MEMF_LIMIT_ACTION=fail would fail it);
 *   leak         leaks a block and exits 0 (MEMF_LEAK_CHECK=1 MEMF_LEAK_EXITCODE=77 would make it
 *                77, print the leak with addresses, and MEMF_REPORT would write a file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile g_block;

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (geteuid() != 0) {
        fprintf(stderr, "setuid_probe: not running set-user-ID root (euid %d)\n", (int)geteuid());
        return 3;
    }
    if (strcmp(mode, "double-free") == 0) {
        g_block = malloc(48);
        free(g_block);
        free(g_block);
        printf("went on after a double free\n");
        return 0;
    }
    if (strcmp(mode, "limit") == 0) {
        void *p = malloc(40);
        printf("malloc(40) %s\n", p ? "succeeded" : "failed");
        free(p);
        return p ? 0 : 1;
    }
    if (strcmp(mode, "leak") == 0) {
        g_block = malloc(123);
        g_block = NULL;
        return 0;
    }
    return 2;
}
