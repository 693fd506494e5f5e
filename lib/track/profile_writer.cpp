#include "profile_writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <map>
#include <tuple>
#include <vector>

#include "allocation_stacks.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "init_order.hpp"
#include "heap_profile.hpp"
#include "json_text.hpp"
#include "os.hpp"
#include "profile_timeline.hpp"
#include "report_file.hpp"
#include "stack_depot.hpp"
#include "symbolizer.hpp"
#include "tracker.hpp"

namespace memf {

namespace {

uint64_t rounded(double value) { return value <= 0 ? 0 : uint64_t(std::llround(value)); }

double seconds_since_start(uint64_t monotonic_ns) {
  const uint64_t start = heap_profile_start_ns();
  return monotonic_ns > start ? double(monotonic_ns - start) / 1e9 : 0.0;
}

// Frames are listed once each; a site's stack is indices into the list.
class FrameTable {
 public:
  // The indices of every frame of the depot's stack, innermost first, inlined calls expanded.
  std::vector<size_t> stack(uint32_t stack_id) {
    std::vector<size_t> indices;
    const uintptr_t* pcs = nullptr;
    const unsigned depth = stack_depot_get(stack_id, &pcs);
    for_each_symbolized_frame(pcs, depth, [&](uintptr_t pc, const SymbolizedFrame& f) {
      const auto key = std::make_tuple(pc, std::string(f.function), f.line, f.inlined);
      auto [it, added] = index_.emplace(key, frames_.size());
      if (added) append_frame(pc, f);
      indices.push_back(it->second);
    });
    return indices;
  }
  const std::string& json() const { return json_; }
  size_t size() const { return frames_.size(); }

 private:
  void append_frame(uintptr_t pc, const SymbolizedFrame& f) {
    json_ += frames_.empty() ? "\n    {\"function\": " : ",\n    {\"function\": ";
    frames_.push_back(pc);
    append_json_string(json_, f.function);
    json_ += ", \"module\": ";
    append_json_string(json_, f.module);
    appendf(json_, ", \"offset\": %" PRIuPTR ", \"file\": ", f.offset);
    if (f.file) append_json_string(json_, f.file);
    else json_ += "null";
    appendf(json_, ", \"line\": %u, \"pc\": %" PRIuPTR ", \"inlined\": %s}", f.line, pc, f.inlined ? "true" : "false");
  }

  std::map<std::tuple<uintptr_t, std::string, unsigned, bool>, size_t> index_;
  std::vector<uintptr_t> frames_;
  std::string json_;
};

std::string program_path() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  return n > 0 ? std::string(buffer, size_t(n)) : std::string("?");
}

// The timeline as it was when the profile was asked for (not the points the service thread adds
// while the profile is symbolized and written).
struct TimelineCopy {
  std::vector<TimelinePoint> points = std::vector<TimelinePoint>(kTimelinePoints);
  std::vector<TimelineEvent> events = std::vector<TimelineEvent>(kTimelineEvents);
  const char* names[kTimelineCategories] = {};
  size_t name_count = 0;
  uint64_t interval_ns = 0;
  TimelineCopy() {
    points.resize(std::min(timeline_points(points.data(), points.size()), points.size()));
    events.resize(std::min(timeline_events(events.data(), events.size()), events.size()));
    name_count = std::min(timeline_category_names(names, kTimelineCategories), kTimelineCategories);
    interval_ns = timeline_interval_ns();
  }
};

void append_timeline(std::string& out, const TimelineCopy& copy) {
  const std::vector<TimelinePoint>& points = copy.points;
  const std::vector<TimelineEvent>& events = copy.events;
  const char* const* names = copy.names;
  const size_t name_count = copy.name_count;
  appendf(out, ",\n  \"timeline\": {\"interval\": %.6f, \"categories\": [", double(copy.interval_ns) / 1e9);
  for (size_t i = 0; i < name_count; ++i) {
    if (i) out += ", ";
    append_json_string(out, names[i]);
  }
  out += "],\n    \"points\": [";
  for (size_t i = 0; i < points.size(); ++i) {
    const TimelinePoint& p = points[i];
    appendf(out, "%s[%.6f, %" PRIu64 ", %" PRIu64 ", [", i ? ",\n      " : "\n      ", double(p.time_ns) / 1e9,
            p.live_bytes, p.resident_bytes);
    for (size_t c = 0; c < name_count; ++c) appendf(out, "%s%" PRIu64, c ? ", " : "", p.category_bytes[c]);
    out += "]]";
  }
  out += points.empty() ? "],\n    \"events\": [" : "\n    ],\n    \"events\": [";
  for (size_t i = 0; i < events.size(); ++i) {
    const TimelineEvent& e = events[i];
    appendf(out, "%s{\"time\": %.6f, \"kind\": ", i ? ",\n      " : "\n      ", double(e.time_ns) / 1e9);
    append_json_string(out, e.kind);
    out += ", \"detail\": ";
    append_json_string(out, e.detail);
    out += "}";
  }
  out += events.empty() ? "]}" : "\n    ]}";
}

void write_at_exit() {
  InternalAllocations internal;
  const std::string path = heap_profile_path();
  if (heap_profile_write(path.c_str(), "exit") != 0) {
    report_warning("cannot write the heap profile to " + path + ": " + strerror(errno));
    return;
  }
  const std::string line = "memf: heap profile written to " + path + " (read it with: memf-report top " + path + ")\n";
  os::write_stderr(line.data(), line.size());
}

__attribute__((constructor(MEMF_INIT_PROFILE))) void arm_profile() {
  if (heap_profile_start_configured()) atexit(write_at_exit);
}

}  // namespace

std::string heap_profile_json(const char* reason) {
  InternalAllocations internal;
  timeline_tick(true);
  const TimelineCopy timeline;
  heap_profile_snapshot_if_peak();
  const uint64_t now = os::monotonic_ns();
  const ProcessStats process = process_stats();
  std::vector<SiteFigures> sites(1024);
  for (;;) {
    const size_t count = heap_profile_sites(sites.data(), sites.size());
    if (count <= sites.size()) {
      sites.resize(count);
      break;
    }
    sites.resize(count + count / 4);
  }
  const ProfilePeak peak = heap_profile_peak();
  double temporary = 0;
  for (const SiteFigures& s : sites) temporary += s.temporary;

  std::string out = "{\n  \"memf_profile\": 1,\n  \"program\": ";
  append_json_string(out, program_path());
  appendf(out, ",\n  \"pid\": %ld,\n  \"reason\": ", long(getpid()));
  append_json_string(out, reason);
  const bool sampled = heap_profile_mode() == ProfileMode::kSampled;
  appendf(out, ",\n  \"mode\": \"%s\",\n  \"sample_bytes\": %" PRIu64 ",\n  \"duration\": %.6f", sampled ? "sampled" : "exact",
          sampled ? uint64_t(profile_mean_bytes()) : uint64_t(0), seconds_since_start(now));
  appendf(out,
          ",\n  \"totals\": {\"allocations\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64 ", \"frees\": %" PRIu64
          ", \"freed_bytes\": %" PRIu64 ", \"live_blocks\": %" PRIu64 ", \"live_bytes\": %" PRIu64
          ", \"peak_bytes\": %" PRIu64 ", \"peak_time\": %.6f, \"temporary\": %" PRIu64 "}",
          process.allocations, process.total_allocated_bytes, process.frees, process.total_freed_bytes,
          process.allocations > process.frees ? process.allocations - process.frees : 0, process.current_bytes,
          process.peak_bytes, seconds_since_start(peak.time_ns), rounded(temporary));
  CategoryUsage usage[kMaxCategories];
  const size_t categories = std::min(category_snapshot(usage, kMaxCategories), size_t(kMaxCategories));
  out += ",\n  \"categories\": [";
  for (size_t i = 0; i < categories; ++i) {
    out += i ? ",\n    {\"name\": " : "\n    {\"name\": ";
    append_json_string(out, usage[i].name);
    appendf(out, ", \"current_bytes\": %" PRIu64 ", \"peak_bytes\": %" PRIu64 ", \"allocations\": %" PRIu64 "}",
            usage[i].current_bytes, usage[i].peak_bytes, usage[i].allocations);
  }
  out += categories ? "\n  ]" : "]";

  FrameTable frames;
  std::string site_json;
  bool first = true;
  for (const SiteFigures& s : sites) {
    if (s.allocations <= 0 && s.frees <= 0) continue;
    site_json += first ? "\n    {\"stack\": [" : ",\n    {\"stack\": [";
    first = false;
    const std::vector<size_t> stack = s.stack_id ? frames.stack(s.stack_id) : std::vector<size_t>();
    for (size_t i = 0; i < stack.size(); ++i) appendf(site_json, "%s%zu", i ? ", " : "", stack[i]);
    appendf(site_json,
            "], \"allocations\": %" PRIu64 ", \"allocated_bytes\": %" PRIu64 ", \"frees\": %" PRIu64
            ", \"freed_bytes\": %" PRIu64 ", \"live\": %" PRIu64 ", \"live_bytes\": %" PRIu64 ", \"peak\": %" PRIu64
            ", \"peak_bytes\": %" PRIu64 ", \"temporary\": %" PRIu64 "}",
            rounded(s.allocations), rounded(s.allocated_bytes), rounded(s.frees), rounded(s.freed_bytes), rounded(s.live),
            rounded(s.live_bytes), rounded(s.peak), rounded(s.peak_bytes), rounded(s.temporary));
  }
  out += ",\n  \"frames\": [";
  out += frames.json();
  out += frames.size() ? "\n  ]" : "]";
  out += ",\n  \"sites\": [";
  out += site_json;
  out += first ? "]" : "\n  ]";
  appendf(out, ",\n  \"peak\": {\"bytes\": %" PRIu64 ", \"time\": %.6f, \"process_peak_bytes\": %" PRIu64 "}",
          rounded(peak.bytes), seconds_since_start(peak.time_ns), process.peak_bytes);
  append_timeline(out, timeline);
  out += "\n}\n";
  return out;
}

std::string heap_profile_path() {
  InternalAllocations internal;
  const char* configured = config().profile_path;
  return expand_report_path(configured[0] ? configured : "memf-profile.%p.json", long(getpid()));
}

int heap_profile_write(const char* path, const char* reason) {
  InternalAllocations internal;
  const std::string json = heap_profile_json(reason);
  return write_report_file(expand_report_path(path, long(getpid())), json);
}

bool heap_profile_start_configured() {
  const ProfileSetting setting = config().profile;
  if (setting == ProfileSetting::kOff) return false;
  if (!allocation_stacks_init()) return false;
  const ProfileMode mode = setting == ProfileSetting::kExact ? ProfileMode::kExact : ProfileMode::kSampled;
  if (mode == ProfileMode::kExact && !engine_record_every_allocation(capture_profile_stack)) return false;
  if (!heap_profile_start(mode, config().profile_sample_bytes, capture_profile_stack)) return false;
  timeline_start(config().profile_interval_ms * 1000000ull, heap_profile_start_ns());
  return true;
}

}  // namespace memf
