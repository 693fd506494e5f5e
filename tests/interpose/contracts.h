/* Shared helpers for the interposition contract tests (C and C++ parts). */
#ifndef MEMF_TESTS_CONTRACTS_H
#define MEMF_TESTS_CONTRACTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Name of the case running in this process (for messages). */
extern const char *contract_case_name;

/* Print "FAIL [case] file:line: message" to stderr and _exit(1). */
__attribute__((noreturn, format(printf, 3, 4)))
void contract_fail(const char *file, int line, const char *fmt, ...);

/* Same, naming the failed condition first. */
__attribute__((noreturn, format(printf, 4, 5)))
void contract_fail_cond(const char *file, int line, const char *cond, const char *fmt, ...);

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond))                                                         \
            contract_fail_cond(__FILE__, __LINE__, #cond, __VA_ARGS__);      \
    } while (0)

/* The cases pass deliberately impossible sizes to the allocator. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#endif

/* Deterministic byte pattern: byte i of a block filled with `seed`. */
void pattern_fill(void *p, size_t n, uint64_t seed);
/* Returns the index of the first mismatching byte, or (size_t)-1. */
size_t pattern_check(const void *p, size_t n, uint64_t seed);

uint64_t rng_next(uint64_t *state);

/* Resident set size of this process in bytes (from /proc/self/statm). */
size_t rss_bytes(void);

#ifdef __cplusplus
}
#endif

#endif
