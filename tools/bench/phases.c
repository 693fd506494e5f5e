/* phases: the program's working set comes and goes. Each phase allocates 64 MiB of 64-256 B
 * blocks, touches them, frees them all, then computes (allocates nothing) for GAP ms.
 * Measures what purging empty slabs costs or saves: time (page faults when purged memory is
 * touched again) and the resident set during the gaps.
 *
 *   phases [PHASES [GAP_MS]]      prints: seconds, mean RSS during gaps (MiB), checksum */
#include "bench_common.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static double rss_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

int main(int argc, char **argv)
{
    int phases = argc > 1 ? atoi(argv[1]) : 20;
    int gap_ms = argc > 2 ? atoi(argv[2]) : 200;
    enum { BLOCKS = 400000 };
    static void *blocks[BLOCKS];
    bench_rng r;
    uint64_t sum = 0;
    volatile uint64_t spin = 0;
    double gap_rss = 0, t0 = bench_now();
    bench_rng_seed(&r, 5);
    for (int phase = 0; phase < phases; phase++) {
        for (int i = 0; i < BLOCKS; i++) {
            size_t n = (size_t)bench_range(&r, 64, 256);
            unsigned char *p = malloc(n);
            p[0] = (unsigned char)i;
            p[n - 1] = (unsigned char)n;
            blocks[i] = p;
        }
        for (int i = 0; i < BLOCKS; i++) {
            sum += ((unsigned char *)blocks[i])[0];
            free(blocks[i]);
        }
        /* The gap: compute without allocating, then sample the resident set. */
        double until = bench_now() + gap_ms / 1000.0;
        while (bench_now() < until)
            spin += 1;
        gap_rss += rss_mib();
    }
    printf("%.3f s, gap rss %.1f MiB, checksum %llu\n", bench_now() - t0 - phases * gap_ms / 1000.0,
           gap_rss / phases, (unsigned long long)(sum & 0xff));
    return 0;
}
