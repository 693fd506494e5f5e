// Which allocations the heap profile records, and how the engine tells the profile about them.
//
// Exact mode records every allocation (it runs with every allocation recorded, engine.hpp).
// Sampled mode keeps the fast paths: each thread's bin of a class counts its allocations down
// (CacheBin::sample_left) and the one that takes the count below zero stops on the slow path,
// where it is recorded. Gaps are geometric with p = 1 - exp(-class size / mean), so a byte
// allocated in any class starts a sample with the same probability 1/mean: the classes'
// countdowns together are one Poisson process over all bytes allocated (tcmalloc's and jemalloc's
// sampling, at class granularity). Large blocks, always on the slow path, draw exponential byte
// gaps per thread. A recorded block is marked (pool: state kSlotProfiled or the SlotInfo flag;
// large: LargeRecord::profiled) so that its free, always on the slow path, is recorded too.
#pragma once
#include <cstddef>
#include <cstdint>

#include "compiler.hpp"
#include "stack_origin.hpp"

namespace memf {

enum class ProfileMode : uint8_t { kOff = 0, kSampled, kExact };

// sampling_size: the size the allocation's selection probability was drawn with (the class size
// for pool blocks, the requested size for large ones); the profile weighs the block by it.
struct ProfileEvent {
  const void* block;
  size_t requested;
  size_t sampling_size;
  uint32_t stack_id;
  uint8_t category;
};

struct SlotInfo;  // pool_arena.hpp

struct ProfileHooks {
  void (*allocated)(const ProfileEvent& event);
  void (*freed)(const ProfileEvent& event);
  // The stack id of the allocation being served, from the entry point's origin (the track
  // layer's capture); runs inside malloc.
  uint32_t (*stack)(const StackOrigin& origin, size_t size);
  // Exact mode's lane (engine.cpp), both or neither: an untagged pool allocation captured from
  // origin and told in one call, which returns its stack id; and the free of a block it recorded.
  // Null: every event takes the hooks above.
  uint32_t (*exact_allocated)(const void* block, size_t requested, const StackOrigin& origin);
  // The free of a block the lane recorded, given its record unread (every record is current:
  // g_record_all). When the profile reads the record later, at exact_settle or at the thread's
  // next such free, it keeps the block in t_lagged_free until then. May run after the block went
  // on the thread's bin (the caller's last step, so that the call is its tail).
  void (*exact_freed)(const void* block, SlotInfo* record);
  void (*exact_settle)();
};

extern ProfileMode g_profile_mode MEMF_HIDDEN;
// Exact mode with the lane's hooks: set once by engine_profile, before g_profile_mode.
extern bool g_exact_lane MEMF_HIDDEN;

// Starts profiling (once; later calls return false). Exact mode needs every allocation recorded
// (engine_record_every_allocation), which the caller arranges first. mean_bytes: sampled mode's
// mean bytes between samples.
bool engine_profile(ProfileMode mode, uint64_t mean_bytes, const ProfileHooks& hooks);
uint64_t profile_mean_bytes();
// Large allocations the calling thread made while profiling.
uint64_t profile_thread_large_allocations();

// Allocations counted down before the next sampled one in a bin of class cls (sampled mode), or
// kNoSample when not sampling.
constexpr int64_t kNoSample = int64_t(1) << 62;
int64_t profile_class_gap(unsigned cls);
// The epoch of the sampling settings: a thread whose bins were armed in an older one re-arms.
extern uint32_t g_profile_epoch MEMF_HIDDEN;
// Whether a large allocation of size bytes is recorded (exact: always).
bool profile_large_due(size_t size);

// The entry point's origin for the allocation being served, set by its stack scope while
// profiling (engine.cpp), so that a sampled allocation deep in the slow path gets its stack.
struct PendingOrigin {
  StackOrigin origin;
  bool set;
};
extern __thread PendingOrigin t_pending_origin MEMF_TLS MEMF_HIDDEN;
// The stack id captured for the allocation being served while every allocation is recorded
// (engine.cpp's stack scope), 0 when none.
extern __thread uint32_t t_pending_stack MEMF_TLS MEMF_HIDDEN;

// The stack for a recorded allocation: the one already captured for it, else one captured now
// from the pending origin; 0 when none can be had.
uint32_t profile_stack(size_t size);

// The hooks engine_profile installed; set once, before g_profile_mode leaves kOff.
extern ProfileHooks g_profile_hooks MEMF_HIDDEN;
MEMF_ALWAYS_INLINE void profile_note_allocated(const ProfileEvent& event) {
  if (g_profile_hooks.allocated) g_profile_hooks.allocated(event);
}
MEMF_ALWAYS_INLINE void profile_note_freed(const ProfileEvent& event) {
  if (g_profile_hooks.freed) g_profile_hooks.freed(event);
}

// Exact mode's lane: the thread's last freed block whose record the profile has yet to read
// (ProfileHooks::exact_freed), or nullptr. Its record must be read before anything rewrites it:
// before the block is handed out again, and before blocks leave the thread's bins (another
// thread may then hand it out).
extern __thread const void* t_lagged_free MEMF_TLS MEMF_HIDDEN;
MEMF_ALWAYS_INLINE void profile_settle_lagged_free() {
  if (MEMF_UNLIKELY(t_lagged_free != nullptr)) {
    t_lagged_free = nullptr;
    g_profile_hooks.exact_settle();
  }
}
MEMF_ALWAYS_INLINE void profile_settle_if_lagged(const void* block) {
  if (MEMF_UNLIKELY(block == t_lagged_free)) profile_settle_lagged_free();
}

}  // namespace memf
