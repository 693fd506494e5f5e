#include "config.hpp"

#include <unistd.h>

#include <atomic>
#include <cstring>

#include <fmt/format.h>

#include "auxv.hpp"
#include "init_order.hpp"
#include "os.hpp"
#include "spin_lock.hpp"
#include "stderr_stream.hpp"

namespace memf {

// constinit: malloc runs before constructors, so no global here may need dynamic initialisation
// (it would overwrite what the first allocations set up).
constinit Config g_config = default_config();

namespace {

constinit std::atomic<bool> g_loaded{false};

bool parse_unsigned(const char* text, uint64_t* out) {
  if (!text || !*text) return false;
  uint64_t value = 0;
  for (const char* c = text; *c; ++c) {
    if (*c < '0' || *c > '9') return false;
    uint64_t digit = uint64_t(*c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}

bool parse_bool(const char* text, bool* out) {
  if (!strcmp(text, "1") || !strcmp(text, "yes") || !strcmp(text, "true") || !strcmp(text, "on")) {
    *out = true;
    return true;
  }
  if (!strcmp(text, "0") || !strcmp(text, "no") || !strcmp(text, "false") || !strcmp(text, "off")) {
    *out = false;
    return true;
  }
  return false;
}

struct Warner {
  WarningSink sink;
  void* context;
  template <typename... Args>
  void operator()(fmt::format_string<Args...> format, Args&&... args) {
    char line[768];
    auto result = fmt::format_to_n(line, sizeof(line) - 1, format, std::forward<Args>(args)...);
    size_t length = result.size < sizeof(line) - 1 ? result.size : sizeof(line) - 1;
    if (sink) sink(line, length, context);
  }
};

void copy_path(char (&dest)[512], const char* value, const char* name, Warner& warn) {
  size_t length = strlen(value);
  if (length == 0 || length >= sizeof(dest)) {
    warn("memf: warning: {} must be a path of 1..511 characters; ignored", name);
    return;
  }
  memcpy(dest, value, length + 1);
}

void stderr_sink(const char* line, size_t length, void*) {
  char buffer[800];
  size_t n = length < sizeof(buffer) - 1 ? length : sizeof(buffer) - 1;
  memcpy(buffer, line, n);
  buffer[n] = '\n';
  os::write_stderr(buffer, n + 1);
}

}  // namespace

bool parse_size(const char* text, size_t* out) {
  if (!text || !*text) return false;
  char digits[32];
  size_t length = strlen(text);
  size_t end = length;
  // Optional unit suffix: K, M, G, T with an optional "B" or "iB".
  if (end >= 2 && (text[end - 1] == 'B' || text[end - 1] == 'b')) {
    --end;
    if (end >= 2 && text[end - 1] == 'i') --end;
  }
  unsigned shift = 0;
  if (end >= 2) {
    switch (text[end - 1]) {
      case 'k': case 'K': shift = 10; --end; break;
      case 'm': case 'M': shift = 20; --end; break;
      case 'g': case 'G': shift = 30; --end; break;
      case 't': case 'T': shift = 40; --end; break;
      default: break;
    }
  }
  if (end == 0 || end >= sizeof(digits)) return false;
  if (shift == 0 && end != length && end + 1 != length) return false;
  memcpy(digits, text, end);
  digits[end] = 0;
  uint64_t value;
  if (!parse_unsigned(digits, &value)) return false;
  if (shift && value > (UINT64_MAX >> shift)) return false;
  *out = size_t(value << shift);
  return true;
}

void parse_config(Config& config, const char* const* envp, bool secure, WarningSink sink, void* context) {
  Warner warn{sink, context};
  config.secure = secure;
  if (!envp) return;
  // A set-user-ID (or otherwise secure-execution) process runs with privileges its caller does
  // not have: the caller's settings could weaken its checks (MEMF_ON_ERROR), change its results
  // (MEMF_LIMIT) or exit status, make it read or write files, or print addresses that defeat
  // ASLR (MEMF_LEAK_CHECK, MEMF_STATS). None is honoured, as glibc ignores its MALLOC_* there.
  if (secure) {
    for (const char* const* entry = envp; *entry; ++entry) {
      if (strncmp(*entry, "MEMF_", 5) == 0) {
        warn("memf: warning: MEMF_* settings are ignored in a secure-execution (set-user-ID) process");
        break;
      }
    }
    return;
  }
  for (const char* const* entry = envp; *entry; ++entry) {
    const char* item = *entry;
    if (strncmp(item, "MEMF_", 5) != 0) continue;
    const char* equals = strchr(item, '=');
    if (!equals) continue;
    size_t name_length = size_t(equals - item);
    const char* value = equals + 1;
    char name[64];
    if (name_length >= sizeof(name)) {
      warn("memf: warning: unknown variable {:.40}...; ignored", item);
      continue;
    }
    memcpy(name, item, name_length);
    name[name_length] = 0;
    auto is = [&](const char* known) { return strcmp(name, known) == 0; };
    uint64_t number = 0;
    size_t size = 0;
    bool flag = false;
    if (is("MEMF_LIB") || is("MEMF_RUN_LIB") || is("MEMF_RUN_OPTIONS")) {
      // Read by memf-run and the test scripts, not by the library.
    } else if (is("MEMF_LIMIT_ACTION")) {
      // Read and checked by the optimizer (lib/optimizer.cpp).
    } else if (is("MEMF_POOL_LIMIT")) {
      if (parse_size(value, &size) && size >= 16 && size <= kMaxPoolLimit) config.pool_limit = size;
      else warn("memf: warning: MEMF_POOL_LIMIT={} is not a size from 16 to {}; using {}", value, kMaxPoolLimit, config.pool_limit);
    } else if (is("MEMF_PURGE_DELAY")) {
      if (parse_unsigned(value, &number) && number <= 3600000) config.purge_delay_ms = number;
      else warn("memf: warning: MEMF_PURGE_DELAY={} is not a number of milliseconds (0..3600000); using {}", value, config.purge_delay_ms);
    } else if (is("MEMF_HUGE_THRESHOLD")) {
      if (parse_size(value, &size) && size >= kMaxPoolLimit && size <= (size_t(1) << 40)) config.huge_threshold = size;
      else warn("memf: warning: MEMF_HUGE_THRESHOLD={} is not a size from {} to 1T; using {}", value, kMaxPoolLimit, config.huge_threshold);
    } else if (is("MEMF_HUGE_CACHE")) {
      if (parse_size(value, &size)) config.huge_cache_bytes = size;
      else warn("memf: warning: MEMF_HUGE_CACHE={} is not a size; using {}", value, config.huge_cache_bytes);
    } else if (is("MEMF_HUGE_PAGES")) {
      if (!strcmp(value, "auto")) config.huge_pages = HugePages::kAuto;
      else if (parse_bool(value, &flag)) config.huge_pages = flag ? HugePages::kOn : HugePages::kOff;
      else warn("memf: warning: MEMF_HUGE_PAGES={} is not auto, 0 or 1 (or yes/no, true/false, on/off); using {}", value,
                config.huge_pages == HugePages::kAuto ? "auto" : config.huge_pages == HugePages::kOn ? "1" : "0");
    } else if (is("MEMF_ON_ERROR")) {
      if (!strcmp(value, "abort")) config.on_error = OnError::kAbort;
      else if (!strcmp(value, "report")) config.on_error = OnError::kReport;
      else warn("memf: warning: MEMF_ON_ERROR={} is not abort or report; using abort", value);
    } else if (is("MEMF_LEAK_CHECK")) {
      if (parse_bool(value, &flag)) config.leak_check = flag;
      else warn("memf: warning: MEMF_LEAK_CHECK={} is not 0 or 1 (or yes/no, true/false, on/off); ignored", value);
    } else if (is("MEMF_SHOW_POSSIBLE")) {
      if (parse_bool(value, &flag)) config.show_possible = flag;
      else warn("memf: warning: MEMF_SHOW_POSSIBLE={} is not 0 or 1 (or yes/no, true/false, on/off); ignored", value);
    } else if (is("MEMF_STACKS")) {
      if (!strcmp(value, "off")) config.stacks = StacksMode::kOff;
      else if (!strcmp(value, "sampled")) config.stacks = StacksMode::kSampled;
      else if (!strcmp(value, "all")) config.stacks = StacksMode::kAll;
      else warn("memf: warning: MEMF_STACKS={} is not off, sampled or all; using off", value);
    } else if (is("MEMF_STACK_DEPTH")) {
      if (parse_unsigned(value, &number) && number >= 1 && number <= 128) config.stack_depth = unsigned(number);
      else warn("memf: warning: MEMF_STACK_DEPTH={} is not a number from 1 to 128; using {}", value, config.stack_depth);
    } else if (is("MEMF_UNWIND")) {
      if (!strcmp(value, "fp")) config.precise_stacks = false;
      else if (!strcmp(value, "precise")) config.precise_stacks = true;
      else warn("memf: warning: MEMF_UNWIND={} is not fp or precise; using fp", value);
    } else if (is("MEMF_STACK_SAMPLE")) {
      if (parse_size(value, &size) && size >= 1 && size <= (size_t(1) << 40)) config.stack_sample_bytes = size;
      else warn("memf: warning: MEMF_STACK_SAMPLE={} is not a size from 1 to 1T; using {}", value, config.stack_sample_bytes);
    } else if (is("MEMF_LEAK_EXITCODE")) {
      if (parse_unsigned(value, &number) && number <= 255) config.leak_exitcode = int(number);
      else warn("memf: warning: MEMF_LEAK_EXITCODE={} is not a number from 0 to 255; using {}", value, config.leak_exitcode);
    } else if (is("MEMF_LIMIT")) {
      if (parse_size(value, &size)) config.limit = size;
      else warn("memf: warning: MEMF_LIMIT={} is not a size (like 512M); no limit set", value);
    } else if (is("MEMF_STATS")) {
      if (parse_bool(value, &flag)) config.stats = flag;
      else warn("memf: warning: MEMF_STATS={} is not 0 or 1 (or yes/no, true/false, on/off); ignored", value);
    } else if (is("MEMF_PRESSURE")) {
      if (parse_bool(value, &flag)) config.pressure = flag;
      else warn("memf: warning: MEMF_PRESSURE={} is not 0 or 1 (or yes/no, true/false, on/off); ignored", value);
    } else if (is("MEMF_PROFILE")) {
      if (!strcmp(value, "off") || !strcmp(value, "0")) config.profile = ProfileSetting::kOff;
      else if (!strcmp(value, "sampled") || !strcmp(value, "1")) config.profile = ProfileSetting::kSampled;
      else if (!strcmp(value, "exact")) config.profile = ProfileSetting::kExact;
      else warn("memf: warning: MEMF_PROFILE={} is not off, sampled (1) or exact; using off", value);
    } else if (is("MEMF_PROFILE_SAMPLE")) {
      if (parse_size(value, &size) && size >= 1 && size <= (size_t(1) << 40)) config.profile_sample_bytes = size;
      else warn("memf: warning: MEMF_PROFILE_SAMPLE={} is not a size from 1 to 1T; using {}", value, config.profile_sample_bytes);
    } else if (is("MEMF_PROFILE_INTERVAL")) {
      if (parse_unsigned(value, &number) && number >= 1 && number <= 3600000) config.profile_interval_ms = number;
      else warn("memf: warning: MEMF_PROFILE_INTERVAL={} is not a number of milliseconds (1..3600000); using {}", value, config.profile_interval_ms);
    } else if (is("MEMF_PROFILE_FILE")) {
      copy_path(config.profile_path, value, "MEMF_PROFILE_FILE", warn);
    } else if (is("MEMF_DUMP")) {
      if (parse_bool(value, &flag)) config.dump = flag;
      else warn("memf: warning: MEMF_DUMP={} is not 0 or 1 (or yes/no, true/false, on/off); ignored", value);
    } else if (is("MEMF_REPORT")) {
      copy_path(config.report_path, value, "MEMF_REPORT", warn);
    } else if (is("MEMF_SUPPRESSIONS")) {
      copy_path(config.suppressions, value, "MEMF_SUPPRESSIONS", warn);
    } else if (is("MEMF_DEBUG_CACHE")) {
      if (parse_bool(value, &flag)) {
        config.debug_cache_off = !flag;
        config.debug_cache[0] = 0;
      } else if (value[0] == '/') {
        copy_path(config.debug_cache, value, "MEMF_DEBUG_CACHE", warn);
        config.debug_cache_off = false;
      } else {
        warn("memf: warning: MEMF_DEBUG_CACHE={} is not off, on or an absolute directory; using the default", value);
      }
    } else {
      warn("memf: warning: unknown variable {}; ignored", name);
    }
  }
  // Settings that only the leak check reads, given without it.
  if (!config.leak_check) {
    if (config.report_path[0]) warn("memf: warning: MEMF_REPORT has no effect without MEMF_LEAK_CHECK=1");
    if (config.suppressions[0]) warn("memf: warning: MEMF_SUPPRESSIONS has no effect without MEMF_LEAK_CHECK=1");
    if (config.leak_exitcode != 0) warn("memf: warning: MEMF_LEAK_EXITCODE has no effect without MEMF_LEAK_CHECK=1");
  }
  if (config.profile == ProfileSetting::kOff && config.profile_path[0])
    warn("memf: warning: MEMF_PROFILE_FILE has no effect without MEMF_PROFILE=sampled or exact");
  // A format's name where a path belongs: the report would be a file of that name here.
  if (!strcmp(config.report_path, "json") || !strcmp(config.report_path, "text"))
    warn("memf: warning: MEMF_REPORT={0} writes the JSON report to a file named '{0}' in the current directory; "
         "give a path, such as memf.%p.json",
         config.report_path);
}

void load_config() {
  if (g_loaded.load(std::memory_order_acquire) || environ == nullptr) return;
  static constinit SpinLock lock;
  LockGuard guard(lock);
  if (g_loaded.load(std::memory_order_relaxed)) return;
  Config fresh = default_config();
  parse_config(fresh, environ, auxv::secure_execution(), stderr_sink, nullptr);
  g_config = fresh;
  g_loaded.store(true, std::memory_order_release);
}

namespace {
// The environment is readable now, even if malloc ran earlier (without it).
// Which file stderr is is recorded here too, before the program can close or reuse fd 2; a copy
// is kept when something is written at exit (stderr_stream.hpp).
__attribute__((constructor(MEMF_INIT_CONFIG))) void load_config_at_start() {
  load_config();
  stderr_stream_record(g_config.leak_check || g_config.stats);
}
}  // namespace

}  // namespace memf
