// Memory mappings, clocks and stderr: the system calls inside the allocator. Nothing here calls
// malloc, and every function keeps errno as it found it unless it says otherwise.
#pragma once
#include <cstddef>
#include <cstdint>

#include <pthread.h>

namespace memf::os {

// Reserves address space without committing memory (MAP_NORESERVE); nullptr on failure.
void* reserve(size_t bytes);
// Maps fresh zeroed read-write memory; nullptr on failure.
void* map(size_t bytes);
void unmap(void* p, size_t bytes);
// Gives the pages back to the OS; the range stays mapped and reads as zero afterwards.
void purge(void* p, size_t bytes);
// Asks for transparent huge pages on a range (MADV_HUGEPAGE): whether it gets them is the
// system's THP mode's decision; false if the kernel refused the advice.
bool advise_huge_pages(void* p, size_t bytes);
// Whether the kernel gives transparent huge pages to advised mappings: its THP mode is "always"
// or "madvise" (/sys/kernel/mm/transparent_hugepage/enabled, read once; no file: no).
bool transparent_huge_pages();
// Faults in a range's pages for writing in one call (MADV_POPULATE_WRITE, Linux 5.14); does
// nothing where the kernel lacks it (the pages are then faulted in on first touch as before).
void populate(void* p, size_t bytes);
// Grows or moves a mapping (mremap); nullptr on failure.
void* remap(void* p, size_t old_bytes, size_t new_bytes);
// Moves a mapping to dest (which it replaces) with its new size (mremap to a fixed place);
// nullptr on failure, the mapping then left where it was.
void* remap_to(void* p, size_t old_bytes, size_t new_bytes, void* dest);
// Grows a mapping where it is (mremap without moving); false when the addresses after it are taken.
bool grow_in_place(void* p, size_t old_bytes, size_t new_bytes);

// CLOCK_MONOTONIC_COARSE: a few ns, no system call, a few ms of resolution.
uint64_t coarse_now_ns();
// CLOCK_MONOTONIC: for durations that are reported.
uint64_t monotonic_ns();

// Writes all of text to the process's stderr as it started (stderr_stream.hpp: fd 2, or memf's
// copy of it, or nowhere), retrying short writes and EINTR, keeping errno.
void write_stderr(const char* text, size_t length);

// Starts one of memf's own threads (the pressure monitor, the service thread): a 256 KiB stack,
// every signal blocked (signals belong to the program's threads), joinable unless detached.
// pthread_create's result.
int start_thread(pthread_t* thread, void* (*main)(void*), bool detached);

}  // namespace memf::os
