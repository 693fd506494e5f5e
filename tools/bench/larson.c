/* larson: a server-style mix in the manner of Larson and Krishnan's test.
 *
 * Each of T threads (default 2) owns an array of live blocks of random
 * sizes.  An operation frees a random slot and puts a fresh block of a new
 * random size there.  Every EXCHANGE_EVERY operations a thread swaps a
 * handful of its blocks with a shared mailbox, so blocks allocated by one
 * thread are later freed by another, as when requests move between worker
 * threads.  The operation count per thread is fixed.
 *
 * Usage: larson [scale] [threads] [exchange_every]; exchange_every 0 turns the
 * swaps off (each thread then keeps its own blocks). */
#include "bench_common.h"

#include <pthread.h>
#include <string.h>

#define SLOTS 4000
#define MIN_SIZE 16
#define MAX_SIZE 1000
#define EXCHANGE_EVERY 1000 /* default */
#define EXCHANGE_COUNT 64

static uint64_t ops_per_thread;
static uint64_t exchange_every = EXCHANGE_EVERY;
static pthread_mutex_t mailbox_lock = PTHREAD_MUTEX_INITIALIZER;
static void *mailbox[EXCHANGE_COUNT];

struct worker {
    pthread_t th;
    unsigned id;
    uint64_t sum;
};

static void *fresh(bench_rng *r)
{
    size_t n = (size_t)bench_range(r, MIN_SIZE, MAX_SIZE);
    unsigned char *p = malloc(n);
    if (!p)
        abort();
    uint32_t v = (uint32_t)n;
    memcpy(p, &v, sizeof v);
    p[n - 1] = 0x5a;
    return p;
}

static uint64_t consume(void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    free(p);
    return v;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    bench_rng r;
    void **slot = malloc(sizeof(void *) * SLOTS);
    uint64_t sum = 0;

    bench_rng_seed(&r, 100 + w->id);
    for (unsigned i = 0; i < SLOTS; i++)
        slot[i] = fresh(&r);
    for (uint64_t op = 1; op <= ops_per_thread; op++) {
        unsigned k = (unsigned)(bench_next(&r) % SLOTS);
        sum += consume(slot[k]);
        slot[k] = fresh(&r);
        if (exchange_every != 0 && op % exchange_every == 0) {
            pthread_mutex_lock(&mailbox_lock);
            for (unsigned i = 0; i < EXCHANGE_COUNT; i++) {
                unsigned j = (unsigned)(bench_next(&r) % SLOTS);
                void *mine = slot[j];
                if (mailbox[i])
                    slot[j] = mailbox[i];
                else
                    slot[j] = fresh(&r);
                mailbox[i] = mine;
            }
            pthread_mutex_unlock(&mailbox_lock);
        }
    }
    for (unsigned i = 0; i < SLOTS; i++)
        sum += consume(slot[i]);
    free(slot);
    w->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(argc, argv);
    unsigned nthreads = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
    if (nthreads < 1 || nthreads > 64)
        nthreads = 2;
    if (argc > 3)
        exchange_every = strtoull(argv[3], NULL, 10);
    ops_per_thread = bench_scaled(30000000ull, scale);
    struct worker w[64];
    uint64_t sum = 0;
    double t0 = bench_now();

    for (unsigned i = 0; i < nthreads; i++) {
        w[i].id = i;
        if (pthread_create(&w[i].th, NULL, run, &w[i]) != 0)
            return 2;
    }
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_join(w[i].th, NULL);
        sum += w[i].sum;
    }
    for (unsigned i = 0; i < EXCHANGE_COUNT; i++)
        if (mailbox[i])
            sum += consume(mailbox[i]);
    printf("larson threads=%u ops=%llu checksum=%llu elapsed=%.3f final_rss_kib=%ld\n",
           nthreads, (unsigned long long)(ops_per_thread * nthreads),
           (unsigned long long)sum, bench_now() - t0, bench_rss_kib());
    return 0;
}
