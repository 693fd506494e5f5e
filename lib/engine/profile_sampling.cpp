#include "profile_sampling.hpp"

#include <atomic>
#include <cmath>

#include "os.hpp"
#include "pool_arena.hpp"
#include "size_classes.hpp"

namespace memf {

constinit ProfileMode g_profile_mode = ProfileMode::kOff;
constinit uint32_t g_profile_epoch = 0;
constinit ProfileHooks g_profile_hooks{};
constinit bool g_exact_lane = false;
__thread PendingOrigin t_pending_origin MEMF_TLS = {};
__thread uint32_t t_pending_stack MEMF_TLS = 0;
__thread const void* t_lagged_free MEMF_TLS = nullptr;

namespace {

constinit uint64_t g_mean_bytes = 0;
constinit std::atomic<bool> g_started{false};

// Per thread: the generator of gaps and the bytes left before the next large sample.
__thread uint64_t t_rng MEMF_TLS = 0;
__thread int64_t t_large_left MEMF_TLS = 0;
__thread uint64_t t_large_allocations MEMF_TLS = 0;

// Exp(1): -ln(u) for u uniform in (0, 1]. Every thread's generator starts from its own address
// and the clock, so that threads do not sample in lockstep and runs do not repeat one another.
double exponential() {
  uint64_t& x = t_rng;
  if (x == 0) x = ((uint64_t(uintptr_t(&t_rng)) ^ os::monotonic_ns()) * 0x9e3779b97f4a7c15ull) | 1;
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  const double u = double((x >> 11) + 1) * (1.0 / 9007199254740992.0);
  return -std::log(u);
}

}  // namespace

bool engine_profile(ProfileMode mode, uint64_t mean_bytes, const ProfileHooks& hooks) {
  bool expected = false;
  if (mode == ProfileMode::kOff || !pool_enable_slot_info()) return false;
  if (!g_started.compare_exchange_strong(expected, true)) return false;
  g_mean_bytes = mean_bytes ? mean_bytes : 1;
  g_profile_hooks = hooks;
  g_exact_lane = mode == ProfileMode::kExact && hooks.exact_allocated && hooks.exact_freed && hooks.exact_settle;
  __atomic_store_n(&g_profile_epoch, g_profile_epoch + 1, __ATOMIC_RELEASE);
  __atomic_store_n(reinterpret_cast<uint8_t*>(&g_profile_mode), uint8_t(mode), __ATOMIC_RELEASE);
  return true;
}

uint64_t profile_mean_bytes() { return g_mean_bytes; }

uint64_t profile_thread_large_allocations() { return t_large_allocations; }

// Geometric with p = 1 - exp(-size/mean): floor(Exp(1) * mean / size) failures before a success.
int64_t profile_class_gap(unsigned cls) {
  if (g_profile_mode != ProfileMode::kSampled) return kNoSample;
  const double gap = exponential() * double(g_mean_bytes) / double(kSizeClasses[cls].size);
  return gap >= double(kNoSample) ? kNoSample : int64_t(gap);
}

bool profile_large_due(size_t size) {
  const ProfileMode mode = g_profile_mode;
  if (mode == ProfileMode::kOff) return false;
  ++t_large_allocations;
  if (mode == ProfileMode::kExact) return true;
  if (t_large_left == 0) t_large_left = int64_t(exponential() * double(g_mean_bytes)) + 1;
  const int64_t bytes = size > size_t(INT64_MAX) ? INT64_MAX : int64_t(size);
  if (bytes < t_large_left) {
    t_large_left -= bytes;
    return false;
  }
  t_large_left = int64_t(exponential() * double(g_mean_bytes)) + 1;
  return true;
}

uint32_t profile_stack(size_t size) {
  if (t_pending_stack) return t_pending_stack;
  if (!t_pending_origin.set || !g_profile_hooks.stack) return 0;
  return g_profile_hooks.stack(t_pending_origin.origin, size);
}

}  // namespace memf
