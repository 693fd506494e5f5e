// memf's configuration: every MEMF_ environment variable goes through the one parser here.
#pragma once
#include <cstddef>
#include <cstdint>

#include "compiler.hpp"

#ifndef MEMF_POOL_LIMIT_DEFAULT
#define MEMF_POOL_LIMIT_DEFAULT 16384
#endif

namespace memf {

// MEMF_POOL_LIMIT's range: the largest request the pools can serve (their largest size class).
constexpr size_t kMaxPoolLimit = 16384;

enum class OnError : uint8_t { kAbort, kReport };
enum class StacksMode : uint8_t { kOff, kSampled, kAll };
enum class ProfileSetting : uint8_t { kOff, kSampled, kExact };
// MEMF_HUGE_PAGES. kAuto: on, unless the hypervisor takes back free memory (base/page_reporting.hpp).
enum class HugePages : uint8_t { kAuto, kOff, kOn };

struct Config {
  size_t pool_limit;           // MEMF_POOL_LIMIT: largest request served by the pools
  uint64_t purge_delay_ms;     // MEMF_PURGE_DELAY: how long an empty slab stays committed
  size_t huge_threshold;       // MEMF_HUGE_THRESHOLD: from this size blocks are whole mappings
  size_t huge_cache_bytes;     // MEMF_HUGE_CACHE: freed mappings kept for reuse, in bytes
  HugePages huge_pages;        // MEMF_HUGE_PAGES: huge blocks' mappings advised for transparent huge pages (auto)
  OnError on_error;            // MEMF_ON_ERROR
  bool leak_check;             // MEMF_LEAK_CHECK
  bool show_possible;          // MEMF_SHOW_POSSIBLE: the text report lists possibly lost blocks too
  StacksMode stacks;           // MEMF_STACKS
  unsigned stack_depth;        // MEMF_STACK_DEPTH
  size_t stack_sample_bytes;   // MEMF_STACK_SAMPLE: mean bytes between sampled stacks (stacks=sampled)
  bool precise_stacks;         // MEMF_UNWIND=precise: DWARF unwinding instead of the frame-pointer walk
  int leak_exitcode;           // MEMF_LEAK_EXITCODE
  size_t limit;                // MEMF_LIMIT (0 = none)
  bool stats;                  // MEMF_STATS
  bool pressure;               // MEMF_PRESSURE: watch pressure from the start (a monitor thread)
  bool secure;                 // AT_SECURE: no MEMF_* setting is honoured (the defaults stay)
  ProfileSetting profile;      // MEMF_PROFILE: the heap profile (off, sampled, exact)
  size_t profile_sample_bytes;  // MEMF_PROFILE_SAMPLE: mean bytes between samples (sampled)
  uint64_t profile_interval_ms;  // MEMF_PROFILE_INTERVAL: the timeline's first interval
  char profile_path[512];      // MEMF_PROFILE_FILE (%p = pid)
  bool dump;                   // MEMF_DUMP: answer memf-report dump PID (a thread of memf's)
  char report_path[512];       // MEMF_REPORT
  char suppressions[512];      // MEMF_SUPPRESSIONS
  // MEMF_DEBUG_CACHE: where decompressed copies of debug files are kept (track/debug_cache.hpp);
  // "" is the default place, and debug_cache_off (MEMF_DEBUG_CACHE=off) keeps none.
  char debug_cache[512];
  bool debug_cache_off;
};

constexpr Config default_config() {
  Config config{};
  config.pool_limit = MEMF_POOL_LIMIT_DEFAULT;
  config.purge_delay_ms = 1000;
  config.huge_threshold = size_t(2) << 20;
  config.huge_cache_bytes = size_t(256) << 20;
  config.huge_pages = HugePages::kAuto;
  config.on_error = OnError::kAbort;
  config.stacks = StacksMode::kOff;
  config.stack_depth = 32;
  config.stack_sample_bytes = size_t(64) << 10;
  config.leak_exitcode = 0;  // leave the program's exit status alone unless asked
  config.profile_sample_bytes = size_t(512) << 10;
  config.profile_interval_ms = 10;
  return config;
}

// Receives one complete warning line (without newline).
using WarningSink = void (*)(const char* line, size_t length, void* context);

// Parses the MEMF_ variables of envp into config. Unknown MEMF_ names and bad values produce one
// warning each and leave the default in place; nothing here allocates.
void parse_config(Config& config, const char* const* envp, bool secure, WarningSink sink, void* context);

// Parses "512", "64K", "512M", "2G" (binary units, optional trailing B/iB). False on anything else
// or on overflow.
bool parse_size(const char* text, size_t* out);

// The process's configuration. Until load_config has seen the environment, the defaults.
// Read on the malloc fast path (pool_limit), hence inline.
extern Config g_config MEMF_HIDDEN;
inline const Config& config() { return g_config; }
// Reads the environment (once it is available) and warns on stderr; later calls do nothing.
// Called by the first allocation and by a constructor (base/init_order.hpp), whichever finds
// environ set first.
void load_config();

}  // namespace memf
