#include "profile_timeline.hpp"

#include <atomic>
#include <cstring>

#include "fork.hpp"
#include "os.hpp"
#include "proc_files.hpp"
#include "spin_lock.hpp"
#include "tracker.hpp"

namespace memf {

namespace {

constinit TimelinePoint* g_points = nullptr;
constinit TimelineEvent* g_events = nullptr;
constinit size_t g_point_count = 0;
constinit size_t g_event_count = 0;
constinit uint64_t g_interval_ns = 0;
constinit uint64_t g_start_ns = 0;
constinit uint64_t g_last_ns = 0;
constinit std::atomic<bool> g_started{false};
constinit SpinLock g_lock;
// Category names at the last point (category_snapshot's order is stable: by tag).
constinit const char* g_names[kTimelineCategories] = {};
constinit size_t g_name_count = 0;

void fork_prepare() { g_lock.lock(); }
void fork_parent() { g_lock.unlock(); }
void fork_child() { g_lock.reset_after_fork(); }

// Keeps every other point and doubles the interval (under g_lock).
void thin_out() {
  size_t kept = 0;
  for (size_t i = 0; i < g_point_count; i += 2) g_points[kept++] = g_points[i];
  g_point_count = kept;
  g_interval_ns *= 2;
}

}  // namespace

bool timeline_start(uint64_t interval_ns, uint64_t start_ns) {
  bool expected = false;
  if (!g_started.compare_exchange_strong(expected, true)) return false;
  g_points = static_cast<TimelinePoint*>(os::map(kTimelinePoints * sizeof(TimelinePoint)));
  g_events = static_cast<TimelineEvent*>(os::map(kTimelineEvents * sizeof(TimelineEvent)));
  if (!g_points || !g_events) return false;
  g_interval_ns = interval_ns ? interval_ns : 1;
  g_start_ns = start_ns;
  fork_register(kForkTimeline, {fork_prepare, fork_parent, fork_child});
  timeline_tick(true);
  return true;
}

bool timeline_started() { return g_started.load(std::memory_order_acquire) && g_points; }

uint64_t timeline_interval_ns() {
  LockGuard guard(g_lock);
  return g_interval_ns;
}

void timeline_tick(bool force) {
  if (!timeline_started()) return;
  const uint64_t now = os::monotonic_ns();
  {
    LockGuard guard(g_lock);
    if (!force && g_point_count > 0 && now - g_last_ns < g_interval_ns) return;
    g_last_ns = now;
  }
  // Read outside the lock: the statistics take the engine's registry lock.
  TimelinePoint point{};
  point.time_ns = now - g_start_ns;
  point.live_bytes = process_stats().current_bytes;
  point.resident_bytes = resident_bytes();
  CategoryUsage usage[kTimelineCategories];
  const size_t count = category_snapshot(usage, kTimelineCategories);
  const size_t charted = count < kTimelineCategories ? count : kTimelineCategories;
  for (size_t i = 0; i < charted; ++i) point.category_bytes[i] = usage[i].current_bytes;
  LockGuard guard(g_lock);
  for (size_t i = 0; i < charted; ++i) g_names[i] = usage[i].name;
  if (charted > g_name_count) g_name_count = charted;
  if (g_point_count == kTimelinePoints) thin_out();
  g_points[g_point_count++] = point;
}

void timeline_event(const char* kind, const char* detail) {
  if (!timeline_started()) return;
  TimelineEvent event{};
  event.time_ns = os::monotonic_ns() - g_start_ns;
  strncpy(event.kind, kind, sizeof(event.kind) - 1);
  strncpy(event.detail, detail, sizeof(event.detail) - 1);
  LockGuard guard(g_lock);
  if (g_event_count < kTimelineEvents) g_events[g_event_count++] = event;
}

size_t timeline_points(TimelinePoint* out, size_t capacity) {
  if (!timeline_started()) return 0;
  LockGuard guard(g_lock);
  for (size_t i = 0; i < g_point_count && i < capacity; ++i) out[i] = g_points[i];
  return g_point_count;
}

size_t timeline_events(TimelineEvent* out, size_t capacity) {
  if (!timeline_started()) return 0;
  LockGuard guard(g_lock);
  for (size_t i = 0; i < g_event_count && i < capacity; ++i) out[i] = g_events[i];
  return g_event_count;
}

size_t timeline_category_names(const char** out, size_t capacity) {
  LockGuard guard(g_lock);
  for (size_t i = 0; i < g_name_count && i < capacity; ++i) out[i] = g_names[i];
  return g_name_count;
}

}  // namespace memf
