// The heap profile's timeline: usage over time (live bytes, resident bytes, each category's
// bytes) at a fixed interval, and marks of what happened (pressure levels, the optimizer's
// actions). Bounded: when its point buffer is full every other point is dropped and the interval
// doubles, so a run of any length keeps at most kTimelinePoints points spread over all of it.
// Nothing here allocates.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

constexpr size_t kTimelinePoints = 4096;
constexpr size_t kTimelineCategories = 16;  // the first categories (Unknown first); others not charted
constexpr size_t kTimelineEvents = 1024;

struct TimelinePoint {
  uint64_t time_ns;  // since the profile started
  uint64_t live_bytes;
  uint64_t resident_bytes;
  uint64_t category_bytes[kTimelineCategories];
};

struct TimelineEvent {
  uint64_t time_ns;
  char kind[16];
  char detail[112];
};

// Starts recording (once): interval_ns between points at first; start_ns is time zero.
bool timeline_start(uint64_t interval_ns, uint64_t start_ns);
bool timeline_started();
// The current interval; the service thread sleeps this long between ticks.
uint64_t timeline_interval_ns();
// Adds a point now if the interval has passed since the last one (force: in any case).
void timeline_tick(bool force);
// Marks an event now (no-op before timeline_start). detail is cut to fit.
void timeline_event(const char* kind, const char* detail);

// Copies the points and events; returns how many of each there are.
size_t timeline_points(TimelinePoint* out, size_t capacity);
size_t timeline_events(TimelineEvent* out, size_t capacity);
// The names of the charted categories, in the order of category_bytes; returns how many.
size_t timeline_category_names(const char** out, size_t capacity);

}  // namespace memf
