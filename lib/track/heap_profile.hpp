// The heap profile's figures per allocation site (MEMF_PROFILE): what each distinct allocation
// stack allocated, freed and holds, what it held at the peak snapshot, and its temporary
// allocations. The engine tells it of every allocation and free it records
// (engine/profile_sampling.hpp); this keeps the sums. Runs inside malloc: never allocates.
//
// Figures are fixed point (kProfileUnit per block) so that sampled allocations add their weight,
// 1 / P(sampled), with atomic adds: the sums are unbiased estimates (Horvitz-Thompson).
#pragma once
#include <cstddef>
#include <cstdint>

#include "profile_sampling.hpp"

namespace memf {

constexpr uint64_t kProfileUnit = uint64_t(1) << 16;

struct SiteFigures {
  uint32_t stack_id;  // 0: allocations whose stack could not be taken
  double allocations, allocated_bytes, frees, freed_bytes, live, live_bytes, peak, peak_bytes, temporary;
};

struct ProfilePeak {
  double bytes;       // the sites' live total when the snapshot was taken
  uint64_t time_ns;   // CLOCK_MONOTONIC then
  uint64_t snapshots;  // snapshots taken so far
};

// Starts the profile: engine_profile with this module's hooks. capture: the stack hook.
bool heap_profile_start(ProfileMode mode, uint64_t mean_bytes, uint32_t (*capture)(const StackOrigin&, size_t));
ProfileMode heap_profile_mode();
// The process start (CLOCK_MONOTONIC ns) that profile times count from.
uint64_t heap_profile_start_ns();

// The engine's hooks (exposed for tests).
void heap_profile_allocated(const ProfileEvent& event);
void heap_profile_freed(const ProfileEvent& event);
// Exact mode's lane (profile_sampling.hpp): captures the stack from origin with the capture hook
// heap_profile_start was given, records the allocation, and returns the stack id; the free, whose
// record is read at the thread's next such free, or earlier by the settle (ProfileHooks).
uint32_t heap_profile_exact_allocated(const void* block, size_t requested, const StackOrigin& origin);
void heap_profile_exact_freed(const void* block, SlotInfo* record);
void heap_profile_exact_settle();

// Copies up to capacity sites; returns how many there are.
size_t heap_profile_sites(SiteFigures* out, size_t capacity);
ProfilePeak heap_profile_peak();
// Takes the snapshot now if the sites' live total is at least the last snapshot's (or none was
// taken): the profile written at exit or on request then has the highest peak seen.
void heap_profile_snapshot_if_peak();
// The weight of an allocation whose selection was drawn with sampling_size (1 in exact mode).
double heap_profile_weight(size_t sampling_size);
// Sites whose record could not be kept (the site table full): their figures go to site 0.
uint64_t heap_profile_sites_dropped();
// Threads' tables of pending sums: in use by live threads, and kept from exited ones for reuse.
struct ProfileThreadTables {
  size_t in_use, spare;
};
ProfileThreadTables heap_profile_thread_tables();

// Tests: forgets every figure (the engine's hooks stay).
void heap_profile_reset_for_test();

}  // namespace memf
