/* Shared helpers for the memf benchmark workloads.
 *
 * Every workload takes an optional first argument, a scale factor
 * (default 1.0), that multiplies its operation count, so the runner can do
 * short smoke runs with the same programs.  Each program prints one
 * summary line of key=value pairs on stdout; the runner reads
 * "final_rss_kib" and "checksum" from it when present. */
#ifndef MEMF_BENCH_COMMON_H
#define MEMF_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline double bench_scale(int argc, char **argv)
{
    if (argc > 1) {
        double s = atof(argv[1]);
        if (s > 0.0)
            return s;
    }
    return 1.0;
}

static inline uint64_t bench_scaled(uint64_t base, double scale)
{
    double v = (double)base * scale;
    return v < 1.0 ? 1 : (uint64_t)v;
}

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: fast, deterministic, good enough for choosing sizes. */
typedef struct { uint64_t s; } bench_rng;

static inline void bench_rng_seed(bench_rng *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (r->s == 0)
        r->s = 1;
}

static inline uint64_t bench_next(bench_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [lo, hi]. */
static inline uint64_t bench_range(bench_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + (bench_next(r) >> 11) % (hi - lo + 1);
}

/* Resident set size now, from /proc/self/statm, in KiB. */
static inline long bench_rss_kib(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Keeps the compiler from eliding an allocation/free pair. */
#define BENCH_ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

#ifdef __cplusplus
}
#endif

#endif
