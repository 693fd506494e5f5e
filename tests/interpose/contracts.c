/*
 * Contract tests for the interposed allocator entry points.
 *
 * Usage: contracts CASE      (CASE names are listed with --list)
 *
 * Environment:
 *   MEMF_LIB      path of the allocator library to preload (required).
 *                 The special value "none" runs the cases against the
 *                 system allocator, to check the tests themselves.
 *   CONTRACTS_DL  path of the helper module for the "dlopen" case.
 *
 * The program first runs as a launcher without any preload.  It re-executes
 * itself with LD_PRELOAD=$MEMF_LIB (the "child"), waits for it with a time
 * limit and judges the result.  The child first verifies that malloc really
 * resolves into $MEMF_LIB, then runs the case and exits 0 on success.
 *
 * Bad-input cases (bad_*) are run twice: once with the default error mode
 * (expected: death by SIGABRT) and once with MEMF_ON_ERROR=report (expected:
 * the process carries on and its heap still works).  In both runs stderr
 * must hold exactly one line starting with "memf: error:" that names the
 * offending address in 0x-hex form.
 */
#define _GNU_SOURCE
#include "contracts.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* helpers                                                                  */

const char *contract_case_name = "?";

__attribute__((noreturn)) static void fail_vmsg(const char *file, int line, const char *cond, const char *fmt,
                      va_list ap)
{
    char buf[1536];
    int n = snprintf(buf, sizeof buf, "FAIL [%s] %s:%d: ", contract_case_name, file, line);
    if (n >= 0 && (size_t)n < sizeof buf)
        n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    if (cond && n >= 0 && (size_t)n < sizeof buf)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "  [check: %s]", cond);
    if (n < 0 || (size_t)n >= sizeof buf - 1)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    /* write(2) only: the heap may be the thing that is broken */
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
    _exit(1);
}

void contract_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_vmsg(file, line, NULL, fmt, ap);
}

void contract_fail_cond(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_vmsg(file, line, cond, fmt, ap);
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t rng_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ULL;
    return mix64(*state);
}

static inline uint64_t pattern_word(uint64_t seed, size_t word_index)
{
    return mix64(seed * 0x2545f4914f6cdd1dULL + word_index + 1);
}

void pattern_fill(void *p, size_t n, uint64_t seed)
{
    unsigned char *b = p;
    size_t words = n / 8;
    for (size_t w = 0; w < words; w++) {
        uint64_t v = pattern_word(seed, w);
        __builtin_memcpy(b + w * 8, &v, 8);
    }
    if (n % 8) {
        uint64_t v = pattern_word(seed, words);
        memcpy(b + words * 8, &v, n % 8);
    }
}

size_t pattern_check(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    size_t words = n / 8;
    for (size_t w = 0; w < words; w++) {
        uint64_t v = pattern_word(seed, w), got;
        __builtin_memcpy(&got, b + w * 8, 8);
        if (got != v) {
            for (size_t i = 0; i < 8; i++)
                if (b[w * 8 + i] != ((unsigned char *)&v)[i])
                    return w * 8 + i;
        }
    }
    if (n % 8) {
        uint64_t v = pattern_word(seed, words);
        for (size_t i = 0; i < n % 8; i++)
            if (b[words * 8 + i] != ((unsigned char *)&v)[i])
                return words * 8 + i;
    }
    return (size_t)-1;
}

/* A prefix of a pattern filled with `seed` matches the same pattern.
 * Fill [from, to) of a block so that [0, to) is pattern `seed`. */
static void pattern_extend(void *p, size_t from, size_t to, uint64_t seed)
{
    if (to <= from)
        return;
    size_t start = from & ~(size_t)7;
    unsigned char tmp[8];
    if (start < from) {
        uint64_t v = pattern_word(seed, start / 8);
        memcpy(tmp, &v, 8);
        size_t end = start + 8 < to ? start + 8 : to;
        memcpy((unsigned char *)p + from, tmp + (from - start), end - from);
        from = end;
    }
    if (from < to) {
        /* from is now 8-aligned in block coordinates */
        size_t words = (to - from) / 8;
        for (size_t w = 0; w < words; w++) {
            uint64_t v = pattern_word(seed, from / 8 + w);
            __builtin_memcpy((unsigned char *)p + from + w * 8, &v, 8);
        }
        size_t rest = (to - from) % 8;
        if (rest) {
            uint64_t v = pattern_word(seed, from / 8 + words);
            memcpy((unsigned char *)p + from + words * 8, &v, rest);
        }
    }
}

static size_t zero_check(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return i;
    return (size_t)-1;
}

size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        contract_fail(__FILE__, __LINE__, "cannot open /proc/self/statm: %s", strerror(errno));
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (n != 2)
        contract_fail(__FILE__, __LINE__, "cannot parse /proc/self/statm");
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

#define MiB ((size_t)1 << 20)
#define PAGE ((size_t)sysconf(_SC_PAGESIZE))

static bool is_aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* Expected minimum alignment of malloc(n) on x86-64: 16 for n >= 16, else
 * the largest power of two <= n, at least... every allocator here gives 8. */
static size_t min_malloc_align(size_t n)
{
    return n >= 16 ? 16 : 8;
}

/* Calls through a volatile pointer so the compiler cannot reason about
 * (or warn at compile time about) deliberately bad frees. */
static void (*volatile free_fn)(void *) = free;

/* Sizes that cross every plausible size-class and path boundary. */
static const size_t k_sizes[] = {
    1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 96, 100, 127,
    128, 129, 192, 255, 256, 257, 384, 511, 512, 513, 768, 1000, 1023, 1024,
    1025, 1536, 2047, 2048, 2049, 3000, 4095, 4096, 4097, 6000, 8191, 8192,
    8193, 10000, 16383, 16384, 16385, 32768, 65535, 65536, 65537, 100000,
    131072, 262143, 262145, 524288, 1048575, 1048576, 1048577, 2097152 + 3,
    4194304, 8388608 + 100,
};
#define N_SIZES (sizeof k_sizes / sizeof k_sizes[0])

static const char *memf_lib_env(void)
{
    const char *lib = getenv("MEMF_LIB");
    return (lib && *lib) ? lib : NULL;
}

static bool baseline_mode(void)
{
    const char *lib = memf_lib_env();
    return lib && strcmp(lib, "none") == 0;
}

/* The file a symbol (as the dynamic linker resolves it for this process)
 * comes from, canonicalised; NULL if it does not resolve. */
static char *symbol_file(const char *name, char *out, size_t outsz)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    if (!sym)
        return NULL;
    Dl_info info;
    if (!dladdr(sym, &info) || !info.dli_fname)
        return NULL;
    char *rp = realpath(info.dli_fname, NULL);
    snprintf(out, outsz, "%s", rp ? rp : info.dli_fname);
    free(rp);
    return out;
}

static void expect_symbol_in_lib(const char *name, bool required)
{
    if (baseline_mode())
        return;
    char lib_real[PATH_MAX], where[PATH_MAX];
    if (!realpath(memf_lib_env(), lib_real))
        contract_fail(__FILE__, __LINE__, "realpath(%s): %s", memf_lib_env(), strerror(errno));
    if (!symbol_file(name, where, sizeof where)) {
        if (required)
            contract_fail(__FILE__, __LINE__, "symbol %s does not resolve in this process", name);
        return;
    }
    CHECK(strcmp(where, lib_real) == 0,
          "symbol %s resolves into %s, not into the preloaded %s: calls to it "
          "would mix allocators", name, where, lib_real);
}

struct tls_search {
    const char *path;   /* realpath of the preloaded library */
    bool found;
    size_t tls_bytes;   /* its PT_TLS segment's size in memory */
};

static int find_tls_segment(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct tls_search *search = arg;
    char real[PATH_MAX];
    if (!info->dlpi_name || !info->dlpi_name[0] || !realpath(info->dlpi_name, real) ||
        strcmp(real, search->path) != 0)
        return 0;
    search->found = true;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_TLS)
            search->tls_bytes = info->dlpi_phdr[i].p_memsz;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* heap health check used after errors and in several cases                 */

struct blk {
    unsigned char *p;
    size_t n;
};

static int blk_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct blk *)a)->p;
    uintptr_t y = (uintptr_t)((const struct blk *)b)->p;
    return x < y ? -1 : x > y;
}

/* Allocates `count` blocks (mostly small, a few large), fills each with a
 * pattern, checks that no two blocks overlap and that every pattern
 * survived, then frees them in a shuffled order.  Any failure is fatal. */
static void heap_workout(size_t count, uint64_t seed)
{
    struct blk *b = calloc(count, sizeof *b);
    CHECK(b != NULL, "calloc of the bookkeeping array failed");
    uint64_t rs = seed;
    for (size_t i = 0; i < count; i++) {
        uint64_t r = rng_next(&rs);
        size_t n;
        if (r % 2000 == 0)
            n = 65536 + (size_t)(r >> 20) % MiB;
        else if (r % 100 == 0)
            n = 512 + (size_t)(r >> 20) % 65536;
        else
            n = 1 + (size_t)(r >> 20) % 512;
        b[i].p = malloc(n);
        CHECK(b[i].p != NULL, "malloc(%zu) returned NULL (block %zu)", n, i);
        b[i].n = n;
        pattern_fill(b[i].p, n, seed + i);
    }
    for (size_t i = 0; i < count; i++) {
        size_t bad = pattern_check(b[i].p, b[i].n, seed + i);
        CHECK(bad == (size_t)-1, "block %zu (%p, %zu bytes) corrupted at byte %zu",
              i, (void *)b[i].p, b[i].n, bad);
    }
    /* overlap check on a sorted copy */
    struct blk *s = malloc(count * sizeof *s);
    CHECK(s != NULL, "malloc of the sort array failed");
    memcpy(s, b, count * sizeof *s);
    qsort(s, count, sizeof *s, blk_cmp);
    for (size_t i = 1; i < count; i++)
        CHECK(s[i - 1].p + s[i - 1].n <= s[i].p,
              "blocks overlap: %p (+%zu) and %p", (void *)s[i - 1].p, s[i - 1].n,
              (void *)s[i].p);
    free(s);
    /* shuffled free */
    for (size_t i = count; i > 1; i--) {
        size_t j = (size_t)(rng_next(&rs) % i);
        struct blk t = b[i - 1];
        b[i - 1] = b[j];
        b[j] = t;
    }
    for (size_t i = 0; i < count; i++)
        free(b[i].p);
    free(b);
}

/* ------------------------------------------------------------------------ */
/* cases                                                                    */

static int case_symbols(void)
{
    static const char *const required[] = {
        "malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
        "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
        "cfree",
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        expect_symbol_in_lib(required[i], true);
    return 0;
}

static int case_symbols_cxx(void)
{
    static const char *const ops[] = {
        "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
        "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
        "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
        "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm",
        "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
        "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t",
        "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
        "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        expect_symbol_in_lib(ops[i], true);
    return 0;
}

/* glibc zeroes every module's static TLS for each new thread, in pages that a fresh thread stack
 * has not touched yet: each KiB there costs programs that start many threads page faults
 * (mimalloc-bench's mleak made 50% more of them when memf's TLS was 5.4 KiB). memf keeps its
 * thread state that is not on the fast path out of static TLS. */
static int case_tls_size(void)
{
    if (baseline_mode())
        return 0;
    struct tls_search search = { 0 };
    char lib_real[PATH_MAX];
    if (!realpath(memf_lib_env(), lib_real))
        contract_fail(__FILE__, __LINE__, "realpath(%s): %s", memf_lib_env(), strerror(errno));
    search.path = lib_real;
    dl_iterate_phdr(find_tls_segment, &search);
    CHECK(search.found, "%s is not among the loaded objects", lib_real);
    CHECK(search.tls_bytes > 0, "%s has no TLS segment", lib_real);
    CHECK(search.tls_bytes <= 2560, "%s has %zu bytes of static TLS (at most 2560 expected)", lib_real,
          search.tls_bytes);
    return 0;
}

static int case_malloc_basic(void)
{
    /* malloc(0): non-NULL, unique, freeable */
    void *z1 = malloc(0), *z2 = malloc(0);
    CHECK(z1 != NULL && z2 != NULL, "malloc(0) returned NULL");
    CHECK(z1 != z2, "two live malloc(0) blocks share the address %p", z1);
    free(z1);
    free(z2);

    /* free(NULL) is a no-op and leaves errno alone; so does a normal free */
    errno = EDOM;
    free(NULL);
    CHECK(errno == EDOM, "free(NULL) changed errno to %d", errno);
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu",
          malloc_usable_size(NULL));
    for (size_t i = 0; i < N_SIZES; i++) {
        void *p = malloc(k_sizes[i]);
        CHECK(p != NULL, "malloc(%zu) returned NULL", k_sizes[i]);
        errno = EDOM;
        free(p);
        CHECK(errno == EDOM, "free of a %zu-byte block changed errno to %d", k_sizes[i], errno);
    }

    /* every size: aligned, usable >= requested, whole usable size writable */
    void *keep[N_SIZES];
    for (size_t i = 0; i < N_SIZES; i++) {
        size_t n = k_sizes[i];
        unsigned char *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu) returned NULL", n);
        CHECK(is_aligned(p, min_malloc_align(n)), "malloc(%zu) = %p is not %zu-aligned", n,
              (void *)p, min_malloc_align(n));
        size_t u = malloc_usable_size(p);
        CHECK(u >= n, "malloc_usable_size = %zu < requested %zu", u, n);
        pattern_fill(p, u, 1000 + i);
        keep[i] = p;
    }
    for (size_t i = 0; i < N_SIZES; i++) {
        size_t u = malloc_usable_size(keep[i]);
        size_t bad = pattern_check(keep[i], u, 1000 + i);
        CHECK(bad == (size_t)-1, "block of %zu bytes (usable %zu) corrupted at %zu after "
              "filling its neighbours", k_sizes[i], u, bad);
        free(keep[i]);
    }

    /* cfree: exported by memf for old binaries; behaves as free */
    void (*cfree_fn)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
    if (!baseline_mode())
        CHECK(cfree_fn != NULL, "cfree is not exported");
    if (cfree_fn) {
        for (int round = 0; round < 3; round++) {
            void *ptrs[256];
            for (int i = 0; i < 256; i++) {
                ptrs[i] = malloc(48);
                CHECK(ptrs[i] != NULL, "malloc(48) returned NULL");
                pattern_fill(ptrs[i], 48, (uint64_t)i);
            }
            for (int i = 0; i < 256; i++) {
                CHECK(pattern_check(ptrs[i], 48, (uint64_t)i) == (size_t)-1, "block corrupted");
                cfree_fn(ptrs[i]);
            }
        }
        cfree_fn(NULL);
        void *big = malloc(3 * MiB);
        CHECK(big != NULL, "malloc(3 MiB) failed");
        cfree_fn(big);
    }
    heap_workout(20000, 77);
    return 0;
}

static int case_usable(void)
{
    /* Many neighbours of one size filled to their full usable size: a
     * usable size that overstates the block would corrupt a neighbour. */
    enum { K = 64 };
    for (size_t i = 0; i < N_SIZES; i++) {
        size_t n = k_sizes[i];
        int k = n > 1024 * 1024 ? 4 : K;
        unsigned char *p[K];
        size_t u[K];
        for (int j = 0; j < k; j++) {
            p[j] = malloc(n);
            CHECK(p[j] != NULL, "malloc(%zu) returned NULL", n);
            u[j] = malloc_usable_size(p[j]);
            CHECK(u[j] >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, u[j]);
            pattern_fill(p[j], u[j], (uint64_t)(i * 1000 + (size_t)j));
        }
        for (int j = 0; j < k; j++) {
            size_t bad = pattern_check(p[j], u[j], (uint64_t)(i * 1000 + (size_t)j));
            CHECK(bad == (size_t)-1, "malloc(%zu) block %d (usable %zu) corrupted at byte %zu",
                  n, j, u[j], bad);
            CHECK(malloc_usable_size(p[j]) == u[j], "usable size of a live block changed");
        }
        for (int j = 0; j < k; j++)
            free(p[j]);
    }
    /* the same for calloc, realloc and the aligned forms */
    for (size_t i = 0; i < N_SIZES; i += 3) {
        size_t n = k_sizes[i];
        void *a = calloc(1, n);
        void *b = realloc(NULL, n);
        void *c = memalign(64, n);
        void *d = NULL;
        CHECK(posix_memalign(&d, 256, n) == 0, "posix_memalign(256, %zu) failed", n);
        void *all[4] = { a, b, c, d };
        for (int j = 0; j < 4; j++) {
            CHECK(all[j] != NULL, "allocation %d of %zu bytes failed", j, n);
            size_t u = malloc_usable_size(all[j]);
            CHECK(u >= n, "usable %zu < %zu (form %d)", u, n, j);
            pattern_fill(all[j], u, (uint64_t)j);
        }
        for (int j = 0; j < 4; j++) {
            size_t u = malloc_usable_size(all[j]);
            CHECK(pattern_check(all[j], u, (uint64_t)j) == (size_t)-1,
                  "form %d block of %zu corrupted", j, n);
            free(all[j]);
        }
    }
    return 0;
}

static void expect_enomem_null(void *p, const char *what, size_t arg)
{
    int e = errno;
    CHECK(p == NULL, "%s(%#zx) returned %p instead of NULL", what, arg, p);
    CHECK(e == ENOMEM, "%s(%#zx) left errno = %d (%s), expected ENOMEM", what, arg, e,
          strerror(e));
}

static int case_huge(void)
{
    const size_t huge[] = {
        SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, SIZE_MAX / 2, (size_t)PTRDIFF_MAX + 1,
        (size_t)PTRDIFF_MAX, (size_t)1 << 62, (size_t)1 << 48,
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        size_t n = huge[i];
        errno = 0;
        expect_enomem_null(malloc(n), "malloc", n);
        errno = 0;
        expect_enomem_null(calloc(1, n), "calloc(1, n)", n);
        errno = 0;
        expect_enomem_null(calloc(n, 1), "calloc(n, 1)", n);
        errno = 0;
        expect_enomem_null(realloc(NULL, n), "realloc(NULL, n)", n);
        errno = 0;
        expect_enomem_null(aligned_alloc(64, n), "aligned_alloc(64, n)", n);
        errno = 0;
        expect_enomem_null(memalign(4096, n), "memalign(4096, n)", n);
        errno = 0;
        expect_enomem_null(valloc(n), "valloc", n);
        errno = 0;
        expect_enomem_null(pvalloc(n), "pvalloc", n);
        void *q = (void *)0x1;
        int rc = posix_memalign(&q, 64, n);
        CHECK(rc == ENOMEM, "posix_memalign(64, %#zx) returned %d, expected ENOMEM", n, rc);
        CHECK(q == (void *)0x1 || q == NULL, "failed posix_memalign stored %p", q);

        /* realloc to a huge size fails and leaves the block untouched */
        for (size_t k = 0; k < 3; k++) {
            size_t small = k == 0 ? 40 : k == 1 ? 5000 : 2 * MiB;
            unsigned char *p = malloc(small);
            CHECK(p != NULL, "malloc(%zu) failed", small);
            pattern_fill(p, small, 99);
            errno = 0;
            void *r = realloc(p, n);
            expect_enomem_null(r, "realloc(p, n)", n);
            CHECK(pattern_check(p, small, 99) == (size_t)-1,
                  "failed realloc(p, %#zx) damaged the original %zu-byte block", n, small);
            p = realloc(p, small * 2);
            CHECK(p != NULL, "realloc after a failed realloc returned NULL");
            CHECK(pattern_check(p, small, 99) == (size_t)-1, "contents lost after failed realloc");
            free(p);
        }
    }
    /* an alignment that cannot be satisfied */
    void *q = (void *)0x1;
    int rc = posix_memalign(&q, (size_t)1 << 63, 8);
    CHECK(rc == ENOMEM, "posix_memalign(1<<63, 8) returned %d, expected ENOMEM", rc);
    /* the heap is fine afterwards */
    heap_workout(20000, 5);
    return 0;
}

static int case_calloc(void)
{
    static const size_t ovf[][2] = {
        { SIZE_MAX, 2 },
        { 2, SIZE_MAX },
        { (size_t)1 << 32, (size_t)1 << 32 },
        { ((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1 },
        { SIZE_MAX / 2 + 1, 2 },
        { (size_t)1 << 63, 4 },
        { 65537, ((size_t)1 << 48) + 7 },
        { SIZE_MAX / 3 + 1, 3 },
        { SIZE_MAX / 16 + 1, 16 },
    };
    for (size_t i = 0; i < sizeof ovf / sizeof ovf[0]; i++) {
        errno = 0;
        void *p = calloc(ovf[i][0], ovf[i][1]);
        int e = errno;
        CHECK(p == NULL, "calloc(%#zx, %#zx) overflows but returned %p", ovf[i][0], ovf[i][1], p);
        CHECK(e == ENOMEM, "calloc(%#zx, %#zx) set errno %d, expected ENOMEM", ovf[i][0],
              ovf[i][1], e);
    }
    void *z = calloc(0, 16), *z2 = calloc(16, 0), *z3 = calloc(0, 0);
    CHECK(z && z2 && z3, "calloc with a zero argument returned NULL");
    free(z);
    free(z2);
    free(z3);

    static const size_t sizes[] = {
        1, 8, 15, 16, 24, 48, 64, 100, 128, 255, 256, 512, 1000, 1024, 2048, 4000,
        4096, 8191, 8192, 8193, 16384, 40000, 65536, 100000, 262144, MiB, 2 * MiB + 17,
        4 * MiB, 16 * MiB, 64 * MiB,
    };
    const size_t ns = sizeof sizes / sizeof sizes[0];
    /* fresh memory */
    for (size_t i = 0; i < ns; i++) {
        unsigned char *p = calloc(1, sizes[i]);
        CHECK(p != NULL, "calloc(1, %zu) failed", sizes[i]);
        size_t bad = zero_check(p, sizes[i]);
        CHECK(bad == (size_t)-1, "fresh calloc(1, %zu) not zero at byte %zu", sizes[i], bad);
        free(p);
    }
    /* reused memory: dirty blocks of the same size, free them, calloc again */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < ns; i++) {
            size_t n = sizes[i];
            int k = n <= 65536 ? 200 : n <= 4 * MiB ? 8 : 2;
            unsigned char **v = malloc((size_t)k * sizeof *v);
            CHECK(v != NULL, "malloc failed");
            for (int j = 0; j < k; j++) {
                v[j] = malloc(n);
                CHECK(v[j] != NULL, "malloc(%zu) failed", n);
                memset(v[j], 0xA5, malloc_usable_size(v[j]));
            }
            for (int j = 0; j < k; j++)
                free(v[j]);
            for (int j = 0; j < k; j++) {
                /* vary the factorisation of the size */
                if (j % 3 == 0)
                    v[j] = calloc(1, n);
                else if (j % 3 == 1)
                    v[j] = calloc(n, 1);
                else
                    v[j] = n % 8 == 0 ? calloc(n / 8, 8) : calloc(1, n);
                CHECK(v[j] != NULL, "calloc(%zu) failed", n);
                size_t bad = zero_check(v[j], n);
                CHECK(bad == (size_t)-1,
                      "calloc(%zu) on reused memory is not zero at byte %zu (round %d, block %d)",
                      n, bad, round, j);
            }
            for (int j = 0; j < k; j++) {
                memset(v[j], 0x5A, n);
                free(v[j]);
            }
            free(v);
        }
    }
    /* blocks freed after realloc-shrinking are also zeroed when reused */
    for (int i = 0; i < 500; i++) {
        unsigned char *p = malloc(4096);
        CHECK(p != NULL, "malloc failed");
        memset(p, 0xFF, 4096);
        p = realloc(p, 32);
        CHECK(p != NULL, "realloc shrink failed");
        free(p);
        unsigned char *q = calloc(32, 1);
        CHECK(q && zero_check(q, 32) == (size_t)-1, "calloc(32) not zero after realloc reuse");
        unsigned char *r = calloc(4096, 1);
        CHECK(r && zero_check(r, 4096) == (size_t)-1, "calloc(4096) not zero");
        memset(q, 0xEE, 32);
        memset(r, 0xEE, 4096);
        free(q);
        free(r);
    }
    return 0;
}

static int case_realloc(void)
{
    /* realloc(NULL, n) behaves as malloc(n) */
    for (size_t i = 0; i < N_SIZES; i++) {
        size_t n = k_sizes[i];
        unsigned char *p = realloc(NULL, n);
        CHECK(p != NULL, "realloc(NULL, %zu) returned NULL", n);
        CHECK(malloc_usable_size(p) >= n, "realloc(NULL, %zu): usable %zu", n,
              malloc_usable_size(p));
        CHECK(is_aligned(p, min_malloc_align(n)), "realloc(NULL, %zu) misaligned", n);
        pattern_fill(p, n, n);
        CHECK(pattern_check(p, n, n) == (size_t)-1, "pattern lost");
        free(p);
    }
    void *p0 = realloc(NULL, 0);
    CHECK(p0 != NULL, "realloc(NULL, 0) returned NULL (should act as malloc(0))");
    free(p0);

    /* grow then shrink across the whole size range; neighbours are
     * allocated between steps so the block cannot always stay in place */
    static const size_t chain[] = {
        16, 24, 33, 64, 100, 255, 256, 1000, 4096, 8191, 8192, 8193, 20000, 65536,
        131079, MiB, 3 * MiB + 5, 16 * MiB, 64 * MiB,
    };
    const size_t nc = sizeof chain / sizeof chain[0];
    for (int round = 0; round < 2; round++) {
        uint64_t seed = 4242 + (uint64_t)round;
        unsigned char *p = malloc(chain[0]);
        CHECK(p != NULL, "malloc failed");
        pattern_fill(p, chain[0], seed);
        size_t cur = chain[0];
        void *neigh[2 * sizeof chain / sizeof chain[0]];
        size_t nn = 0;
        for (size_t step = 1; step < 2 * nc - 1; step++) {
            size_t next = step < nc ? chain[step] : chain[2 * nc - 2 - step];
            if (round == 1) {
                neigh[nn] = malloc(cur);
                CHECK(neigh[nn] != NULL, "neighbour malloc failed");
                memset(neigh[nn], 0xCC, cur);
                nn++;
            }
            unsigned char *q = realloc(p, next);
            CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", cur, next);
            size_t keep = cur < next ? cur : next;
            size_t bad = pattern_check(q, keep, seed);
            CHECK(bad == (size_t)-1, "realloc(%zu -> %zu) lost contents at byte %zu", cur, next,
                  bad);
            CHECK(malloc_usable_size(q) >= next, "usable %zu < %zu after realloc",
                  malloc_usable_size(q), next);
            pattern_extend(q, keep, next, seed);
            p = q;
            cur = next;
        }
        CHECK(pattern_check(p, cur, seed) == (size_t)-1, "final pattern lost");
        free(p);
        for (size_t i = 0; i < nn; i++)
            free(neigh[i]);
    }

    /* realloc to the same size, and random chains */
    uint64_t rs = 11;
    for (int chainno = 0; chainno < 40; chainno++) {
        size_t cur = 1 + rng_next(&rs) % 300;
        unsigned char *p = malloc(cur);
        CHECK(p != NULL, "malloc failed");
        pattern_fill(p, cur, (uint64_t)chainno);
        for (int step = 0; step < 200; step++) {
            uint64_t r = rng_next(&rs);
            size_t next;
            switch (r % 5) {
            case 0: next = cur; break;
            case 1: next = 1 + (r >> 8) % 64; break;
            case 2: next = 1 + (r >> 8) % 2048; break;
            case 3: next = 1 + (r >> 8) % 100000; break;
            default: next = cur + 1 + (r >> 8) % 64; break;
            }
            unsigned char *q = realloc(p, next);
            CHECK(q != NULL, "realloc(%zu -> %zu) failed", cur, next);
            size_t keep = cur < next ? cur : next;
            size_t bad = pattern_check(q, keep, (uint64_t)chainno);
            CHECK(bad == (size_t)-1, "chain %d step %d: realloc(%zu -> %zu) lost byte %zu",
                  chainno, step, cur, next, bad);
            pattern_extend(q, keep, next, (uint64_t)chainno);
            p = q;
            cur = next;
        }
        free(p);
    }

    /* realloc(p, 0) frees p, returns NULL and leaves errno alone */
    static const size_t zs[] = { 1, 64, 5000, 100000, 4 * MiB };
    for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++) {
        void *p = malloc(zs[i]);
        CHECK(p != NULL, "malloc failed");
        memset(p, 1, zs[i]);
        errno = EDOM;
        void *r = realloc(p, 0);
        int e = errno;
        CHECK(r == NULL, "realloc(p /* %zu bytes */, 0) returned %p, expected NULL "
              "(p freed, as glibc does)", zs[i], r);
        CHECK(e == EDOM, "realloc(p, 0) changed errno to %d", e);
    }
    /* ... and really frees it: 1.25 GiB of touched blocks must not pile up */
    size_t rss0 = rss_bytes();
    for (int i = 0; i < 20000; i++) {
        void *p = malloc(65536);
        CHECK(p != NULL, "malloc(64 KiB) failed at %d", i);
        memset(p, 7, 65536);
        CHECK(realloc(p, 0) == NULL, "realloc(p, 0) returned non-NULL");
    }
    for (int i = 0; i < 200000; i++) {
        void *p = malloc(1024);
        CHECK(p != NULL, "malloc(1 KiB) failed at %d", i);
        memset(p, 7, 1024);
        CHECK(realloc(p, 0) == NULL, "realloc(p, 0) returned non-NULL");
    }
    size_t rss1 = rss_bytes();
    CHECK(rss1 < rss0 + 64 * MiB, "RSS grew from %zu to %zu bytes: realloc(p, 0) does not "
          "free p", rss0, rss1);
    return 0;
}

static int case_reallocarray(void)
{
    unsigned char *p = reallocarray(NULL, 10, 10);
    CHECK(p != NULL, "reallocarray(NULL, 10, 10) returned NULL");
    CHECK(malloc_usable_size(p) >= 100, "usable size too small");
    pattern_fill(p, 100, 3);
    p = reallocarray(p, 100, 50);
    CHECK(p != NULL, "reallocarray grow failed");
    CHECK(pattern_check(p, 100, 3) == (size_t)-1, "reallocarray lost contents");
    pattern_fill(p, 5000, 4);

    static const size_t ovf[][2] = {
        { SIZE_MAX / 2 + 1, 2 },
        { (size_t)1 << 32, (size_t)1 << 32 },
        { 2, SIZE_MAX },
        { SIZE_MAX, SIZE_MAX },
        { 3, SIZE_MAX / 3 + 1 },
        { 1, SIZE_MAX },                 /* no overflow, just too big */
        { (size_t)1 << 31, (size_t)1 << 31 },  /* 2^62 bytes: too big */
    };
    for (size_t i = 0; i < sizeof ovf / sizeof ovf[0]; i++) {
        size_t u = malloc_usable_size(p);
        errno = 0;
        void *r = reallocarray(p, ovf[i][0], ovf[i][1]);
        int e = errno;
        CHECK(r == NULL, "reallocarray(p, %#zx, %#zx) returned %p", ovf[i][0], ovf[i][1], r);
        CHECK(e == ENOMEM, "reallocarray(p, %#zx, %#zx) set errno %d, expected ENOMEM",
              ovf[i][0], ovf[i][1], e);
        CHECK(pattern_check(p, 5000, 4) == (size_t)-1,
              "failed reallocarray damaged the original block");
        CHECK(malloc_usable_size(p) == u, "failed reallocarray changed the usable size");
    }
    /* the original block is still fully usable */
    p = reallocarray(p, 2, 100000);
    CHECK(p != NULL, "reallocarray after failures returned NULL");
    CHECK(pattern_check(p, 5000, 4) == (size_t)-1, "contents lost");
    memset(p, 0, 200000);
    p = reallocarray(p, 4, 8);
    CHECK(p != NULL, "reallocarray shrink failed");
    free(p);
    /* reallocarray(NULL, overflow) */
    errno = 0;
    void *r = reallocarray(NULL, SIZE_MAX / 2 + 1, 4);
    expect_enomem_null(r, "reallocarray(NULL, SIZE_MAX/2+1, 4)", 0);
    heap_workout(10000, 8);
    return 0;
}

static int case_posix_memalign(void)
{
    static const size_t bad[] = {
        0, 1, 2, 3, 4, 5, 6, 7, 12, 20, 24, 40, 48, 96, 100, 1000, 4095, 4097,
        3 * 4096, SIZE_MAX, SIZE_MAX - 7, ((size_t)1 << 63) + 8, 7 * sizeof(void *),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *q = (void *)0x1234;
        errno = EDOM;
        int rc = posix_memalign(&q, bad[i], 64);
        int e = errno;
        CHECK(rc == EINVAL, "posix_memalign(alignment %#zx) returned %d, expected EINVAL", bad[i],
              rc);
        CHECK(e == EDOM, "posix_memalign(alignment %#zx) changed errno to %d", bad[i], e);
        CHECK(q == (void *)0x1234 || q == NULL, "failed posix_memalign stored %p", q);
    }
    static const size_t sizes[] = {
        0, 1, 7, 8, 15, 16, 17, 63, 64, 100, 255, 4095, 4096, 4097, 8192, 12345, 65536,
        MiB + 1, 3 * MiB,
    };
    const size_t ns = sizeof sizes / sizeof sizes[0];
    for (size_t a = sizeof(void *); a <= MiB; a *= 2) {
        void *v[sizeof sizes / sizeof sizes[0]];
        for (size_t i = 0; i < ns; i++) {
            v[i] = NULL;
            errno = EDOM;
            int rc = posix_memalign(&v[i], a, sizes[i]);
            CHECK(rc == 0, "posix_memalign(%zu, %zu) returned %d", a, sizes[i], rc);
            CHECK(errno == EDOM, "successful posix_memalign changed errno");
            CHECK(v[i] != NULL, "posix_memalign(%zu, %zu) stored NULL", a, sizes[i]);
            CHECK(is_aligned(v[i], a), "posix_memalign(%zu, %zu) = %p is misaligned", a,
                  sizes[i], v[i]);
            for (size_t j = 0; j < i; j++)
                CHECK(v[j] != v[i], "posix_memalign(%zu, %zu) returned %p, which is still in "
                      "use (posix_memalign(%zu, %zu))", a, sizes[i], v[i], a, sizes[j]);
            size_t u = malloc_usable_size(v[i]);
            CHECK(u >= sizes[i], "posix_memalign(%zu, %zu): usable %zu", a, sizes[i], u);
            pattern_fill(v[i], u, a + i);
        }
        for (size_t i = 0; i < ns; i++) {
            size_t u = malloc_usable_size(v[i]);
            size_t badb = pattern_check(v[i], u, a + i);
            CHECK(badb == (size_t)-1, "posix_memalign(%zu, %zu) block corrupted at %zu", a,
                  sizes[i], badb);
        }
        /* aligned blocks can be realloc'ed (alignment need not be kept) */
        for (size_t i = 0; i < ns; i++) {
            if (sizes[i] == 0)
                continue;
            void *r = realloc(v[i], sizes[i] * 2 + 1);
            CHECK(r != NULL, "realloc of an aligned block failed");
            CHECK(pattern_check(r, sizes[i], a + i) == (size_t)-1,
                  "realloc of an aligned block lost contents");
            v[i] = r;
        }
        for (size_t i = 0; i < ns; i++)
            free(v[i]);
    }
    /* very large alignments with small sizes */
    for (size_t a = 2 * MiB; a <= 32 * MiB; a *= 2) {
        void *q = NULL;
        int rc = posix_memalign(&q, a, 100);
        CHECK(rc == 0 && q != NULL && is_aligned(q, a), "posix_memalign(%zu, 100) failed (%d)",
              a, rc);
        memset(q, 1, 100);
        free(q);
    }
    return 0;
}

static int case_aligned_forms(void)
{
    static const size_t sizes[] = {
        1, 8, 24, 64, 100, 256, 1000, 4096, 5000, 8192, 65536, 100000, 2 * MiB + 1,
    };
    const size_t ns = sizeof sizes / sizeof sizes[0];
    const size_t page = PAGE;
    for (size_t a = 8; a <= MiB; a *= 2) {
        for (size_t i = 0; i < ns; i++) {
            size_t n = sizes[i];
            /* aligned_alloc: C17 allows any size */
            void *p = aligned_alloc(a, n);
            CHECK(p != NULL, "aligned_alloc(%zu, %zu) returned NULL", a, n);
            CHECK(is_aligned(p, a), "aligned_alloc(%zu, %zu) = %p misaligned", a, n, p);
            CHECK(malloc_usable_size(p) >= n, "aligned_alloc usable too small");
            memset(p, 0x11, malloc_usable_size(p));
            /* a size that is a multiple of the alignment (C11 wording) */
            size_t n2 = ((n + a - 1) / a) * a;
            void *p2 = aligned_alloc(a, n2);
            CHECK(p2 != NULL, "aligned_alloc(%zu, %zu) returned NULL", a, n2);
            CHECK(is_aligned(p2, a), "aligned_alloc(%zu, %zu) = %p misaligned", a, n2, p2);
            memset(p2, 0x22, n2);
            void *m = memalign(a, n);
            CHECK(m != NULL, "memalign(%zu, %zu) returned NULL", a, n);
            CHECK(is_aligned(m, a), "memalign(%zu, %zu) = %p misaligned", a, n, m);
            CHECK(malloc_usable_size(m) >= n, "memalign usable too small");
            memset(m, 0x33, malloc_usable_size(m));
            const unsigned char *pc = p;
            for (size_t k = 0; k < n; k++)
                CHECK(pc[k] == 0x11, "aligned_alloc block overwritten by a neighbour");
            free(p);
            free(p2);
            free(m);
        }
    }
    for (size_t i = 0; i < ns; i++) {
        size_t n = sizes[i];
        void *v = valloc(n);
        CHECK(v != NULL, "valloc(%zu) returned NULL", n);
        CHECK(is_aligned(v, page), "valloc(%zu) = %p not page-aligned", n, v);
        CHECK(malloc_usable_size(v) >= n, "valloc usable too small");
        memset(v, 0x44, malloc_usable_size(v));

        void *pv = pvalloc(n);
        size_t rounded = (n + page - 1) / page * page;
        CHECK(pv != NULL, "pvalloc(%zu) returned NULL", n);
        CHECK(is_aligned(pv, page), "pvalloc(%zu) = %p not page-aligned", n, pv);
        CHECK(malloc_usable_size(pv) >= rounded,
              "pvalloc(%zu): usable %zu < size rounded up to the page (%zu)", n,
              malloc_usable_size(pv), rounded);
        /* writing the whole rounded size must be safe */
        pattern_fill(pv, rounded, n);
        const unsigned char *vc = v;
        for (size_t k = 0; k < n; k++)
            CHECK(vc[k] == 0x44, "valloc block overwritten by a neighbour");
        CHECK(pattern_check(pv, rounded, n) == (size_t)-1, "pvalloc block corrupted");
        free(v);
        free(pv);
    }
    void *pv0 = pvalloc(0);
    CHECK(pv0 != NULL && is_aligned(pv0, page), "pvalloc(0) = %p", pv0);
    free(pv0);
    void *v0 = valloc(0);
    CHECK(v0 != NULL && is_aligned(v0, page), "valloc(0) = %p", v0);
    free(v0);
    heap_workout(10000, 9);
    return 0;
}

/* --- fork while other threads allocate --------------------------------- */

static atomic_int g_stop;
static atomic_long g_worker_ops;

static void *fork_worker(void *arg)
{
    uint64_t rs = (uint64_t)(uintptr_t)arg;
    enum { SLOTS = 256 };
    unsigned char *slot[SLOTS] = { 0 };
    size_t len[SLOTS] = { 0 };
    long ops = 0;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        uint64_t r = rng_next(&rs);
        size_t i = r % SLOTS;
        if (slot[i]) {
            size_t bad = pattern_check(slot[i], len[i], (uintptr_t)slot[i]);
            CHECK(bad == (size_t)-1, "worker block corrupted at byte %zu", bad);
            free(slot[i]);
            slot[i] = NULL;
        } else {
            size_t n = (r >> 16) % 1000 == 0 ? 200000 : 1 + (r >> 16) % 2000;
            slot[i] = malloc(n);
            CHECK(slot[i] != NULL, "worker malloc(%zu) failed", n);
            len[i] = n;
            pattern_fill(slot[i], n, (uintptr_t)slot[i]);
        }
        ops++;
    }
    for (size_t i = 0; i < SLOTS; i++)
        free(slot[i]);
    atomic_fetch_add(&g_worker_ops, ops);
    return NULL;
}

static void *child_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        void *p = malloc((size_t)(i % 700) + 1);
        if (!p)
            return (void *)1;
        memset(p, 3, (size_t)(i % 700) + 1);
        free(p);
    }
    return NULL;
}

static void fork_child_work(int iter)
{
    alarm(30);  /* a deadlocked allocator after fork shows up as SIGALRM */
    uint64_t rs = 1000 + (uint64_t)iter;
    enum { SLOTS = 512 };
    unsigned char *slot[SLOTS] = { 0 };
    size_t len[SLOTS] = { 0 };
    for (int op = 0; op < 10000; op++) {
        uint64_t r = rng_next(&rs);
        size_t i = r % SLOTS;
        if (slot[i]) {
            size_t bad = pattern_check(slot[i], len[i], (uintptr_t)i);
            CHECK(bad == (size_t)-1, "child %d: block corrupted at %zu", iter, bad);
            if (r & 0x10000) {
                size_t n = 1 + (r >> 20) % 5000;
                unsigned char *q = realloc(slot[i], n);
                CHECK(q != NULL, "child realloc failed");
                size_t keep = n < len[i] ? n : len[i];
                CHECK(pattern_check(q, keep, (uintptr_t)i) == (size_t)-1, "child realloc lost data");
                pattern_extend(q, keep, n, (uintptr_t)i);
                slot[i] = q;
                len[i] = n;
            } else {
                free(slot[i]);
                slot[i] = NULL;
            }
        } else {
            size_t n = (r >> 20) % 500 == 0 ? 300000 : 1 + (r >> 20) % 3000;
            slot[i] = (r & 0x20000) ? calloc(1, n) : malloc(n);
            CHECK(slot[i] != NULL, "child malloc(%zu) failed", n);
            len[i] = n;
            pattern_fill(slot[i], n, (uintptr_t)i);
        }
    }
    for (int i = 0; i < SLOTS; i++)
        free(slot[i]);
    /* a thread created in the child also gets a working allocator */
    pthread_t t;
    CHECK(pthread_create(&t, NULL, child_thread, NULL) == 0, "pthread_create in child failed");
    void *ret = (void *)1;
    pthread_join(t, &ret);
    CHECK(ret == NULL, "thread in the forked child failed to allocate");
    _exit(0);
}

static int case_fork(void)
{
    enum { WORKERS = 2, FORKS = 60 };
    pthread_t w[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&w[i], NULL, fork_worker, (void *)(uintptr_t)(i + 1)) == 0,
              "pthread_create failed");
    for (int f = 0; f < FORKS; f++) {
        /* the parent keeps allocating too, so locks are likely held */
        void *tmp[64];
        for (int k = 0; k < 64; k++) {
            tmp[k] = malloc((size_t)(k * 37 + f) % 4000 + 1);
            CHECK(tmp[k] != NULL, "malloc failed");
        }
        pid_t pid = fork();
        CHECK(pid >= 0, "fork failed: %s", strerror(errno));
        if (pid == 0)
            fork_child_work(f);
        for (int k = 0; k < 64; k++)
            free(tmp[k]);
        int st = 0;
        CHECK(waitpid(pid, &st, 0) == pid, "waitpid failed");
        if (WIFSIGNALED(st))
            contract_fail(__FILE__, __LINE__, "forked child %d killed by signal %d (%s)%s", f,
                          WTERMSIG(st), strsignal(WTERMSIG(st)),
                          WTERMSIG(st) == SIGALRM ? ": it hung, the allocator deadlocked after fork" : "");
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forked child %d exited with status %d", f,
              WEXITSTATUS(st));
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);
    CHECK(atomic_load(&g_worker_ops) > 0, "worker threads did not run");
    return 0;
}

/* --- dlopen / dlclose -------------------------------------------------- */

typedef char *(*dl_make_fn)(size_t);
typedef void (*dl_take_fn)(void *);
typedef void *(*dl_realloc_fn)(void *, size_t);
typedef int (*dl_check_fn)(void);
typedef void (*dl_counter_fn)(int *);

static void *must_sym(void *h, const char *name)
{
    dlerror();
    void *s = dlsym(h, name);
    CHECK(s != NULL, "dlsym(%s): %s", name, dlerror());
    return s;
}

static int case_dlopen(void)
{
    const char *path = getenv("CONTRACTS_DL");
    CHECK(path && *path, "CONTRACTS_DL (path of the helper module) is not set");
    enum { ROUNDS = 300 };
    int fini_count = 0;
    char *survivors[ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
        void *h = dlopen(path, RTLD_NOW | (round % 2 ? RTLD_LOCAL : RTLD_GLOBAL));
        CHECK(h != NULL, "dlopen(%s): %s", path, dlerror());
        dl_make_fn make = (dl_make_fn)must_sym(h, "contracts_dl_make");
        dl_take_fn take = (dl_take_fn)must_sym(h, "contracts_dl_take");
        dl_realloc_fn rea = (dl_realloc_fn)must_sym(h, "contracts_dl_realloc");
        dl_check_fn check = (dl_check_fn)must_sym(h, "contracts_dl_check_ctor_data");
        dl_counter_fn counter = (dl_counter_fn)must_sym(h, "contracts_dl_set_fini_counter");
        counter(&fini_count);
        CHECK(check() == 0, "memory allocated in the module's constructor was damaged");

        /* module -> main: allocated there, used and freed here */
        for (size_t n = 1; n < 300000; n = n * 3 + 1) {
            char *s = make(n);
            CHECK(s != NULL, "module failed to allocate %zu bytes", n);
            for (size_t k = 0; k < n; k++)
                CHECK(s[k] == (char)('a' + k % 26), "module string corrupted");
            if (n & 1)
                free(s);
            else {
                s = realloc(s, n * 2);
                CHECK(s != NULL, "realloc of a module block failed");
                free(s);
            }
        }
        /* main -> module: allocated here, realloc'ed and freed there */
        for (size_t n = 1; n < 300000; n = n * 3 + 1) {
            unsigned char *p = malloc(n);
            CHECK(p != NULL, "malloc failed");
            pattern_fill(p, n, n);
            p = rea(p, n + 100);
            CHECK(p != NULL, "module realloc failed");
            CHECK(pattern_check(p, n, n) == (size_t)-1, "module realloc lost contents");
            take(p);
        }
        /* a block from the module outlives the module */
        survivors[round] = make(100 + (size_t)round);
        CHECK(survivors[round] != NULL, "module allocation failed");
        int before = fini_count;
        CHECK(dlclose(h) == 0, "dlclose: %s", dlerror());
        CHECK(fini_count == before + 1, "module destructor did not run on dlclose (count %d)",
              fini_count);
    }
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t k = 0; k < 100 + (size_t)round; k++)
            CHECK(survivors[round][k] == (char)('a' + k % 26),
                  "block allocated by an unloaded module was corrupted");
        free(survivors[round]);
    }
    heap_workout(10000, 12);
    return 0;
}

/* --- many short-lived threads ------------------------------------------ */

#define HANDOFF 64
static unsigned char *g_handoff[2][8][HANDOFF];
static size_t g_handoff_len[2][8][HANDOFF];

struct thr_arg {
    int wave, idx;
    int failed;
};

static void *short_thread(void *varg)
{
    struct thr_arg *a = varg;
    uint64_t rs = (uint64_t)a->wave * 131 + (uint64_t)a->idx;
    int prev = (a->wave + 1) % 2, cur = a->wave % 2;
    /* free what a thread of the previous wave (now exited) left behind */
    for (int k = 0; k < HANDOFF; k++) {
        unsigned char *p = g_handoff[prev][a->idx][k];
        if (p) {
            if (pattern_check(p, g_handoff_len[prev][a->idx][k], (uintptr_t)p) != (size_t)-1) {
                a->failed = 1;
                return NULL;
            }
            free(p);
            g_handoff[prev][a->idx][k] = NULL;
        }
    }
    enum { N = 3000 };
    unsigned char **v = malloc(N * sizeof *v);
    size_t *len = malloc(N * sizeof *len);
    if (!v || !len) {
        a->failed = 2;
        return NULL;
    }
    for (int i = 0; i < N; i++) {
        uint64_t r = rng_next(&rs);
        size_t n = i % 500 == 0 ? 100000 : i % 50 == 0 ? 1 + (r >> 8) % 16384 : 1 + (r >> 8) % 1024;
        v[i] = malloc(n);
        if (!v[i]) {
            a->failed = 3;
            return NULL;
        }
        len[i] = n;
        pattern_fill(v[i], n, (uintptr_t)v[i]);
    }
    for (int i = 0; i < N; i++) {
        if (pattern_check(v[i], len[i], (uintptr_t)v[i]) != (size_t)-1) {
            a->failed = 4;
            return NULL;
        }
        if (i < HANDOFF) {
            g_handoff[cur][a->idx][i] = v[i];
            g_handoff_len[cur][a->idx][i] = len[i];
        } else {
            free(v[i]);
        }
    }
    free(v);
    free(len);
    return NULL;
}

static int case_threads(void)
{
    enum { WAVES = 250, PER_WAVE = 8, WARMUP = 25 };
    size_t rss_warm = 0, rss_peak = 0;
    for (int wave = 0; wave < WAVES; wave++) {
        pthread_t t[PER_WAVE];
        struct thr_arg args[PER_WAVE];
        for (int i = 0; i < PER_WAVE; i++) {
            args[i] = (struct thr_arg){ wave, i, 0 };
            int rc = pthread_create(&t[i], NULL, short_thread, &args[i]);
            CHECK(rc == 0, "pthread_create (wave %d) failed: %s", wave, strerror(rc));
        }
        for (int i = 0; i < PER_WAVE; i++) {
            pthread_join(t[i], NULL);
            CHECK(args[i].failed == 0, "thread %d of wave %d failed (code %d: 1 = handed-off "
                  "block corrupted, 3 = malloc failed, 4 = block corrupted)",
                  i, wave, args[i].failed);
        }
        size_t rss = rss_bytes();
        if (wave == WARMUP)
            rss_warm = rss;
        if (wave > WARMUP && rss > rss_peak)
            rss_peak = rss;
    }
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < PER_WAVE; i++)
            for (int k = 0; k < HANDOFF; k++)
                free(g_handoff[s][i][k]);
    /* 2000 threads each touched ~1.5 MiB; if exited threads' caches were
     * not reclaimed the RSS would keep climbing with every wave. */
    CHECK(rss_peak < rss_warm + 48 * MiB,
          "RSS grew from %zu KiB after %d waves to %zu KiB over %d waves of exited threads: "
          "thread caches are not reclaimed", rss_warm / 1024, WARMUP, rss_peak / 1024, WAVES);
    printf("threads: %d threads, RSS after warm-up %zu KiB, peak later %zu KiB\n",
           WAVES * PER_WAVE, rss_warm / 1024, rss_peak / 1024);
    return 0;
}

/* --- bad input (memf-specific diagnostics) ------------------------------ */

static char g_global_buf[256] __attribute__((aligned(64)));

static void announce(const char *what, const void *addr)
{
    printf("ADDR %p %s\n", addr, what);
    fflush(stdout);
}

static void after_error(void)
{
    printf("CONTINUED\n");
    fflush(stdout);
    heap_workout(100000, 31337);
    printf("HEAP-OK\n");
    fflush(stdout);
}

/* None of the 1000 blocks of `size` may overlap [lo, lo+len). */
static void expect_no_overlap(size_t size, const unsigned char *lo, size_t len)
{
    enum { K = 1000 };
    unsigned char *v[K];
    for (int i = 0; i < K; i++) {
        v[i] = malloc(size);
        CHECK(v[i] != NULL, "malloc(%zu) failed", size);
        CHECK(v[i] + size <= lo || v[i] >= lo + len,
              "malloc(%zu) returned %p which overlaps the block at %p that is still in use",
              size, (void *)v[i], (const void *)lo);
    }
    for (int i = 0; i < K; i++)
        free(v[i]);
}

static int case_bad_double_free(void)
{
    /* warm the size class so the block comes from the thread cache */
    for (int i = 0; i < 100; i++)
        free(malloc(64));
    unsigned char *p = malloc(64);
    CHECK(p != NULL, "malloc failed");
    memset(p, 1, 64);
    free(p);
    announce("double free of a 64-byte block", p);
    free_fn(p);
    printf("CONTINUED-BEFORE-CHECK\n");
    fflush(stdout);
    /* the heap must not hand out the same block twice */
    unsigned char *a = malloc(64), *b = malloc(64);
    CHECK(a != NULL && b != NULL, "malloc after double free failed");
    CHECK(a != b, "after a reported double free two mallocs returned the same block %p",
          (void *)a);
    enum { K = 2000 };
    struct blk v[K];
    for (int i = 0; i < K; i++) {
        v[i].p = malloc(64);
        v[i].n = 64;
        CHECK(v[i].p != NULL, "malloc failed");
        CHECK(v[i].p != a && v[i].p != b, "block handed out twice after double free");
    }
    qsort(v, K, sizeof v[0], blk_cmp);
    for (int i = 1; i < K; i++)
        CHECK(v[i].p != v[i - 1].p, "malloc returned %p twice after a double free",
              (void *)v[i].p);
    for (int i = 0; i < K; i++)
        free(v[i].p);
    free(a);
    free(b);
    after_error();
    return 0;
}

static int case_bad_interior_free(void)
{
    unsigned char *p = malloc(64);
    CHECK(p != NULL, "malloc failed");
    pattern_fill(p, 64, 17);
    announce("free of an interior pointer (p+8) of a 64-byte block", p + 8);
    free_fn(p + 8);
    printf("CONTINUED-BEFORE-CHECK\n");
    fflush(stdout);
    /* the block was not freed: contents intact and never handed out */
    CHECK(pattern_check(p, 64, 17) == (size_t)-1, "the block behind the interior pointer was "
          "modified");
    expect_no_overlap(64, p, 64);
    CHECK(pattern_check(p, 64, 17) == (size_t)-1, "the block was overwritten");
    free(p);
    after_error();
    return 0;
}

static int case_bad_free_stack(void)
{
    unsigned char buf[256] __attribute__((aligned(64)));
    pattern_fill(buf, sizeof buf, 5);
    announce("free of a stack address", buf + 64);
    free_fn(buf + 64);
    printf("CONTINUED-BEFORE-CHECK\n");
    fflush(stdout);
    CHECK(pattern_check(buf, sizeof buf, 5) == (size_t)-1, "the stack buffer was modified");
    expect_no_overlap(64, buf, sizeof buf);
    after_error();
    return 0;
}

static int case_bad_free_global(void)
{
    pattern_fill(g_global_buf, sizeof g_global_buf, 6);
    announce("free of a global", g_global_buf + 64);
    free_fn(g_global_buf + 64);
    printf("CONTINUED-BEFORE-CHECK\n");
    fflush(stdout);
    CHECK(pattern_check(g_global_buf, sizeof g_global_buf, 6) == (size_t)-1,
          "the global buffer was modified");
    expect_no_overlap(64, (unsigned char *)g_global_buf, sizeof g_global_buf);
    after_error();
    return 0;
}

static int case_bad_free_mmap(void)
{
    size_t len = 4 * PAGE;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap failed");
    pattern_fill(m, len, 7);
    announce("free of a pointer from mmap", m + PAGE);
    free_fn(m + PAGE);
    printf("CONTINUED-BEFORE-CHECK\n");
    fflush(stdout);
    CHECK(pattern_check(m, len, 7) == (size_t)-1, "the mmap'ed region was modified");
    expect_no_overlap(4096, m, len);
    CHECK(munmap(m, len) == 0, "munmap failed: the region is no longer a whole mapping");
    after_error();
    return 0;
}

/* ------------------------------------------------------------------------ */
/* C++ cases live in contracts_cxx.cpp                                      */

int case_cxx_forms(void);
int case_cxx_huge(void);
int case_cxx_new_handler(void);

struct case_def {
    const char *name;
    int (*fn)(void);
    bool bad;       /* bad-input case: judged on its death / report */
    bool pool;      /* bad case on a pool block: message names a size class */
    int timeout;    /* seconds for one child run */
};

static const struct case_def k_cases[] = {
    { "symbols", case_symbols, false, false, 30 },
    { "symbols_cxx", case_symbols_cxx, false, false, 30 },
    { "tls_size", case_tls_size, false, false, 30 },
    { "malloc_basic", case_malloc_basic, false, false, 60 },
    { "usable", case_usable, false, false, 60 },
    { "huge", case_huge, false, false, 60 },
    { "calloc", case_calloc, false, false, 120 },
    { "realloc", case_realloc, false, false, 120 },
    { "reallocarray", case_reallocarray, false, false, 60 },
    { "posix_memalign", case_posix_memalign, false, false, 60 },
    { "aligned_forms", case_aligned_forms, false, false, 60 },
    { "cxx_forms", case_cxx_forms, false, false, 60 },
    { "cxx_huge", case_cxx_huge, false, false, 60 },
    { "cxx_new_handler", case_cxx_new_handler, false, false, 60 },
    { "fork", case_fork, false, false, 120 },
    { "dlopen", case_dlopen, false, false, 120 },
    { "threads", case_threads, false, false, 120 },
    { "bad_double_free", case_bad_double_free, true, true, 60 },
    { "bad_interior_free", case_bad_interior_free, true, true, 60 },
    { "bad_free_stack", case_bad_free_stack, true, false, 60 },
    { "bad_free_global", case_bad_free_global, true, false, 60 },
    { "bad_free_mmap", case_bad_free_mmap, true, false, 60 },
};
#define N_CASES (sizeof k_cases / sizeof k_cases[0])

/* ------------------------------------------------------------------------ */
/* launcher                                                                 */

struct child_result {
    int status;         /* from waitpid */
    bool timed_out;
    char *out, *err;    /* captured stdout / stderr (NUL-terminated) */
    size_t out_len, err_len;
};

static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf) {
            perror("realloc");
            exit(2);
        }
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs this program as the child for `c` with the given error mode
 * (NULL: leave MEMF_ON_ERROR unset).  stdout and stderr are captured
 * when `capture` is set, else inherited. */
static struct child_result run_child(const struct case_def *c, const char *on_error, bool capture)
{
    struct child_result res = { 0 };
    int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
    if (capture && (pipe(outp) != 0 || pipe(errp) != 0)) {
        perror("pipe");
        exit(2);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        if (capture) {
            dup2(outp[1], 1);
            dup2(errp[1], 2);
            close(outp[0]);
            close(outp[1]);
            close(errp[0]);
            close(errp[1]);
        }
        struct rlimit nocore = { 0, 0 };
        setrlimit(RLIMIT_CORE, &nocore);
        setenv("CONTRACTS_CHILD", "1", 1);
        if (on_error)
            setenv("MEMF_ON_ERROR", on_error, 1);
        else
            unsetenv("MEMF_ON_ERROR");
        if (!baseline_mode())
            setenv("LD_PRELOAD", memf_lib_env(), 1);
        execl("/proc/self/exe", "contracts", c->name, (char *)NULL);
        perror("exec /proc/self/exe");
        _exit(127);
    }
    char *out = NULL, *err = NULL;
    size_t ol = 0, oc = 0, el = 0, ec = 0;
    append(&out, &ol, &oc, "", 0);
    append(&err, &el, &ec, "", 0);
    double deadline = now_s() + c->timeout;
    if (capture) {
        close(outp[1]);
        close(errp[1]);
        struct pollfd fds[2] = { { outp[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } };
        int open_fds = 2;
        while (open_fds > 0) {
            double left = deadline - now_s();
            if (left <= 0) {
                res.timed_out = true;
                break;
            }
            int pr = poll(fds, 2, (int)(left * 1000) + 1);
            if (pr < 0 && errno != EINTR) {
                perror("poll");
                exit(2);
            }
            for (int i = 0; i < 2; i++) {
                if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                char buf[4096];
                ssize_t n = read(fds[i].fd, buf, sizeof buf);
                if (n <= 0) {
                    close(fds[i].fd);
                    fds[i].fd = -1;
                    open_fds--;
                } else if (i == 0) {
                    append(&out, &ol, &oc, buf, (size_t)n);
                } else {
                    append(&err, &el, &ec, buf, (size_t)n);
                }
            }
        }
        for (int i = 0; i < 2; i++)
            if (fds[i].fd >= 0)
                close(fds[i].fd);
    }
    for (;;) {
        pid_t w = waitpid(pid, &res.status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            perror("waitpid");
            exit(2);
        }
        if (res.timed_out || now_s() > deadline) {
            res.timed_out = true;
            kill(pid, SIGKILL);
            waitpid(pid, &res.status, 0);
            break;
        }
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    res.out = out;
    res.err = err;
    res.out_len = ol;
    res.err_len = el;
    return res;
}

static void describe_status(int st, char *buf, size_t n)
{
    if (WIFEXITED(st))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, n, "ended with wait status %#x", st);
}

/* Parses "ADDR 0x... what" from the child's stdout. */
static bool parse_announced(const char *out, uintptr_t *addr)
{
    const char *a = strstr(out, "ADDR ");
    if (!a)
        return false;
    char *end;
    unsigned long long v = strtoull(a + 5, &end, 16);
    if (end == a + 5)
        return false;
    *addr = (uintptr_t)v;
    return true;
}

static bool line_has_address(const char *line, size_t len, uintptr_t addr)
{
    for (size_t i = 0; i + 2 < len; i++) {
        if (line[i] == '0' && (line[i + 1] == 'x' || line[i + 1] == 'X') &&
            isxdigit((unsigned char)line[i + 2])) {
            uintptr_t v = 0;
            size_t j = i + 2;
            while (j < len && isxdigit((unsigned char)line[j])) {
                int c = tolower((unsigned char)line[j]);
                v = v * 16 + (uintptr_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
                j++;
            }
            if (v == addr)
                return true;
            i = j - 1;
        }
    }
    return false;
}

/* Checks stderr for exactly one "memf: error:" line naming addr.
 * Returns NULL if fine, else a static message. */
static const char *check_error_line(const char *err, uintptr_t addr, bool pool, char *msg,
                                    size_t msgsz)
{
    int count = 0;
    const char *found = NULL;
    size_t found_len = 0;
    const char *s = err;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (len >= 12 && strncmp(s, "memf: error:", 12) == 0) {
            count++;
            found = s;
            found_len = len;
        }
        s += len + (nl ? 1 : 0);
    }
    if (count != 1) {
        snprintf(msg, msgsz, "expected exactly one stderr line starting with \"memf: error:\", "
                 "found %d", count);
        return msg;
    }
    if (!line_has_address(found, found_len, addr)) {
        snprintf(msg, msgsz, "the \"memf: error:\" line does not name the address %#lx "
                 "in 0x-hex form: %.*s", (unsigned long)addr, (int)found_len, found);
        return msg;
    }
    if (pool) {
        bool has = false;
        for (size_t i = 0; i + 10 <= found_len; i++)
            if (strncmp(found + i, "size class", 10) == 0)
                has = true;
        if (!has) {
            snprintf(msg, msgsz, "the error for a pool block does not mention its "
                     "\"size class\": %.*s", (int)found_len, found);
            return msg;
        }
    }
    return NULL;
}

static void dump_child(const struct child_result *r)
{
    fprintf(stderr, "---- child stdout ----\n%s---- child stderr ----\n%s----------------------\n",
            r->out, r->err);
}

static int judge_bad_case(const struct case_def *c)
{
    int failures = 0;
    char st[128], msg[1024];
    /* 1. default error mode: abort */
    struct child_result r = run_child(c, NULL, true);
    uintptr_t addr = 0;
    describe_status(r.status, st, sizeof st);
    if (r.timed_out) {
        fprintf(stderr, "FAIL [%s, default mode] child timed out after %d s\n", c->name,
                c->timeout);
        failures++;
    } else if (!parse_announced(r.out, &addr)) {
        fprintf(stderr, "FAIL [%s, default mode] child did not reach the bad call (%s)\n",
                c->name, st);
        failures++;
    } else {
        if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT)) {
            fprintf(stderr, "FAIL [%s, default mode] expected death by SIGABRT, child %s\n",
                    c->name, st);
            failures++;
        }
        if (strstr(r.out, "CONTINUED")) {
            fprintf(stderr, "FAIL [%s, default mode] the program continued after the error\n",
                    c->name);
            failures++;
        }
        const char *e = check_error_line(r.err, addr, c->pool, msg, sizeof msg);
        if (e) {
            fprintf(stderr, "FAIL [%s, default mode] %s\n", c->name, e);
            failures++;
        }
    }
    if (failures)
        dump_child(&r);
    else
        printf("ok   [%s, default mode] SIGABRT with one \"memf: error:\" line naming %#lx\n",
               c->name, (unsigned long)addr);
    free(r.out);
    free(r.err);

    /* 2. MEMF_ON_ERROR=report: one line, then carry on */
    int f2 = 0;
    r = run_child(c, "report", true);
    describe_status(r.status, st, sizeof st);
    addr = 0;
    if (r.timed_out) {
        fprintf(stderr, "FAIL [%s, report mode] child timed out after %d s\n", c->name,
                c->timeout);
        f2++;
    } else if (!parse_announced(r.out, &addr)) {
        fprintf(stderr, "FAIL [%s, report mode] child did not reach the bad call (%s)\n",
                c->name, st);
        f2++;
    } else {
        if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)) {
            fprintf(stderr, "FAIL [%s, report mode] expected exit status 0, child %s\n", c->name,
                    st);
            f2++;
        }
        if (!strstr(r.out, "HEAP-OK")) {
            fprintf(stderr, "FAIL [%s, report mode] the heap check after the error did not "
                    "complete\n", c->name);
            f2++;
        }
        const char *e = check_error_line(r.err, addr, c->pool, msg, sizeof msg);
        if (e) {
            fprintf(stderr, "FAIL [%s, report mode] %s\n", c->name, e);
            f2++;
        }
    }
    if (f2)
        dump_child(&r);
    else
        printf("ok   [%s, report mode] reported %#lx once, continued, heap intact\n", c->name,
               (unsigned long)addr);
    free(r.out);
    free(r.err);
    return failures + f2 ? 1 : 0;
}

static int launcher(const struct case_def *c)
{
    const char *lib = memf_lib_env();
    if (!lib) {
        fprintf(stderr, "FAIL [%s] MEMF_LIB is not set: it must name the allocator library to "
                "test (or \"none\" for the system allocator)\n", c->name);
        return 1;
    }
    if (!baseline_mode() && access(lib, R_OK) != 0) {
        fprintf(stderr, "FAIL [%s] MEMF_LIB=%s: %s\n", c->name, lib, strerror(errno));
        return 1;
    }
    if (c->bad)
        return judge_bad_case(c);
    struct child_result r = run_child(c, NULL, false);
    char st[128];
    describe_status(r.status, st, sizeof st);
    free(r.out);
    free(r.err);
    if (r.timed_out) {
        fprintf(stderr, "FAIL [%s] timed out after %d s (hang or deadlock)\n", c->name,
                c->timeout);
        return 1;
    }
    if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)) {
        fprintf(stderr, "FAIL [%s] child %s\n", c->name, st);
        return 1;
    }
    printf("ok   [%s] against %s\n", c->name, lib);
    return 0;
}

static int child_main(const struct case_def *c)
{
    contract_case_name = c->name;
    if (!baseline_mode()) {
        /* make sure the allocator under test is the one actually in use */
        char lib_real[PATH_MAX], where[PATH_MAX];
        if (!realpath(memf_lib_env(), lib_real))
            contract_fail(__FILE__, __LINE__, "realpath(%s): %s", memf_lib_env(), strerror(errno));
        if (!symbol_file("malloc", where, sizeof where) || strcmp(where, lib_real) != 0)
            contract_fail(__FILE__, __LINE__, "malloc does not resolve into %s (LD_PRELOAD "
                          "not effective?)", lib_real);
    }
    return c->fn();
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < N_CASES; i++)
            printf("%s\n", k_cases[i].name);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE | --list\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < N_CASES; i++) {
        if (strcmp(argv[1], k_cases[i].name) == 0) {
            if (getenv("CONTRACTS_CHILD"))
                return child_main(&k_cases[i]);
            return launcher(&k_cases[i]);
        }
    }
    fprintf(stderr, "unknown case '%s' (try --list)\n", argv[1]);
    return 2;
}
