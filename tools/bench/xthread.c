/* xthread: producer -> consumer cross-thread free.
 *
 * The producer allocates 16-256 byte blocks, writes into each, and hands
 * them over in batches through a bounded single-producer single-consumer
 * ring; the consumer reads each block and frees it.  Every block is freed
 * by a thread other than the one that allocated it. */
#include "bench_common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#define BATCH 16384
#define SLOTS 4     /* batches in flight at most */

/* Batches are large: the consumer frees whole runs of blocks that the
 * producer allocated in a row, as a pipeline stage handing over work does. */
struct batch {
    void *blk[BATCH];
};

static struct batch ring[SLOTS];
static _Atomic uint64_t head; /* next batch the consumer takes */
static _Atomic uint64_t tail; /* next batch the producer fills */
static uint64_t nbatches;
static uint64_t consumer_sum;

static void relax(unsigned *spins)
{
    if (++*spins < 64)
        __builtin_ia32_pause();
    else {
        *spins = 0;
        sched_yield();
    }
}

static void *consumer(void *arg)
{
    (void)arg;
    uint64_t sum = 0;
    for (uint64_t b = 0; b < nbatches; b++) {
        unsigned spins = 0;
        while (atomic_load_explicit(&tail, memory_order_acquire) <= b)
            relax(&spins);
        struct batch *bt = &ring[b % SLOTS];
        for (int i = 0; i < BATCH; i++) {
            uint32_t v;
            memcpy(&v, bt->blk[i], sizeof v);
            sum += v;
            free(bt->blk[i]);
        }
        atomic_store_explicit(&head, b + 1, memory_order_release);
    }
    consumer_sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    double scale = bench_scale(argc, argv);
    nbatches = bench_scaled(1200, scale);
    bench_rng r;
    pthread_t th;
    double t0 = bench_now();

    bench_rng_seed(&r, 3);
    if (pthread_create(&th, NULL, consumer, NULL) != 0)
        return 2;
    for (uint64_t b = 0; b < nbatches; b++) {
        unsigned spins = 0;
        while (b - atomic_load_explicit(&head, memory_order_acquire) >= SLOTS)
            relax(&spins);
        struct batch *bt = &ring[b % SLOTS];
        for (int i = 0; i < BATCH; i++) {
            size_t n = (size_t)bench_range(&r, 16, 256);
            uint32_t v = (uint32_t)n;
            void *p = malloc(n);
            if (!p)
                return 2;
            memcpy(p, &v, sizeof v);
            ((unsigned char *)p)[n - 1] = 1;
            bt->blk[i] = p;
        }
        atomic_store_explicit(&tail, b + 1, memory_order_release);
    }
    pthread_join(th, NULL);
    printf("xthread blocks=%llu checksum=%llu elapsed=%.3f final_rss_kib=%ld\n",
           (unsigned long long)(nbatches * BATCH),
           (unsigned long long)consumer_sum, bench_now() - t0, bench_rss_kib());
    return 0;
}
