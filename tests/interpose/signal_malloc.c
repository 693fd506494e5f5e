/* A program whose signal handler allocates (not async-signal-safe, but real programs do it): a
 * timer interrupts a loop of allocation bursts every 50 µs for argv[1] seconds and its handler
 * mallocs and frees blocks of the same sizes. Sooner or later the signal lands while the loop is
 * inside the allocator holding one of its locks; memf must then stop with its message, never hang.
 * Prints "survived N signals" when no collision happened in the time given. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t g_signals;

static void on_alarm(int sig)
{
    (void)sig;
    void *p = malloc(4000);
    if (p) memset(p, 1, 64);
    free(p);
    ++g_signals;
}

int main(int argc, char **argv)
{
    const double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_alarm;
    sigaction(SIGALRM, &action, NULL);
    struct itimerval timer = {{0, 50}, {0, 50}};
    setitimer(ITIMER_REAL, &timer, NULL);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    enum { kBurst = 400 };
    void *blocks[kBurst];
    do {
        for (int i = 0; i < kBurst; ++i) blocks[i] = malloc(3500 + (size_t)(i % 8) * 64);
        for (int i = 0; i < kBurst; ++i) free(blocks[i]);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    printf("survived %d signals\n", (int)g_signals);
    return 0;
}
