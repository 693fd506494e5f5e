#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "config.hpp"

using namespace memf;

namespace {
struct Captured {
  std::vector<std::string> lines;
};
void capture(const char* line, size_t length, void* context) {
  static_cast<Captured*>(context)->lines.emplace_back(line, length);
}
Config parse(std::vector<const char*> env, Captured& warnings, bool secure = false) {
  env.push_back(nullptr);
  Config config = default_config();
  parse_config(config, env.data(), secure, capture, &warnings);
  return config;
}
}  // namespace

TEST_CASE("sizes take K/M/G/T with optional B or iB") {
  size_t value = 0;
  REQUIRE(parse_size("512", &value));
  REQUIRE(value == 512);
  REQUIRE(parse_size("64K", &value));
  REQUIRE(value == 65536);
  REQUIRE(parse_size("512M", &value));
  REQUIRE(value == size_t(512) << 20);
  REQUIRE(parse_size("2g", &value));
  REQUIRE(value == size_t(2) << 30);
  REQUIRE(parse_size("3MiB", &value));
  REQUIRE(value == size_t(3) << 20);
  REQUIRE(parse_size("7KB", &value));
  REQUIRE(value == 7 * 1024);
  REQUIRE(parse_size("100B", &value));
  REQUIRE(value == 100);
  for (const char* bad : {"", "M", "-1", "1.5G", "12X", "0x10", "99999999999999999999", "17179869184G", "5 M", "iB"}) {
    INFO(bad);
    REQUIRE_FALSE(parse_size(bad, &value));
  }
}

TEST_CASE("known variables are parsed") {
  Captured warnings;
  Config config = parse({"PATH=/bin", "MEMF_POOL_LIMIT=1K", "MEMF_ON_ERROR=report", "MEMF_PURGE_DELAY=250",
                         "MEMF_HUGE_CACHE=64M", "MEMF_HUGE_THRESHOLD=2M", "MEMF_STACKS=all", "MEMF_STACK_DEPTH=16",
                         "MEMF_LEAK_CHECK=1", "MEMF_LIMIT=512M", "MEMF_LEAK_EXITCODE=3", "MEMF_STATS=1",
                         "MEMF_REPORT=/tmp/r-%p.json", "MEMF_STACK_SAMPLE=256K", "MEMF_UNWIND=precise",
                         "MEMF_HUGE_PAGES=0"},
                        warnings);
  REQUIRE(warnings.lines.empty());
  REQUIRE(default_config().huge_pages == HugePages::kAuto);
  REQUIRE(config.huge_pages == HugePages::kOff);
  REQUIRE(config.stack_sample_bytes == size_t(256) << 10);
  REQUIRE(config.precise_stacks);
  REQUIRE(config.pool_limit == 1024);
  REQUIRE(config.on_error == OnError::kReport);
  REQUIRE(config.purge_delay_ms == 250);
  REQUIRE(config.huge_cache_bytes == size_t(64) << 20);
  REQUIRE(config.huge_threshold == size_t(2) << 20);
  REQUIRE(config.stacks == StacksMode::kAll);
  REQUIRE(config.stack_depth == 16);
  REQUIRE(config.leak_check);
  REQUIRE(config.limit == size_t(512) << 20);
  REQUIRE(config.leak_exitcode == 3);
  REQUIRE(config.stats);
  REQUIRE(std::string(config.report_path) == "/tmp/r-%p.json");
}

TEST_CASE("unknown names and bad values warn once each and keep the defaults") {
  Captured warnings;
  const Config defaults = default_config();
  Config config = parse({"MEMF_POOL_LIMIT=100000", "MEMF_ON_ERROR=explode", "MEMF_TYPO=1", "MEMF_STACK_DEPTH=0",
                         "MEMF_PURGE_DELAY=soon", "MEMF_LIMIT=lots", "MEMF_STACKS=some", "MEMF_STACK_SAMPLE=0",
                         "MEMF_UNWIND=dwarf", "MEMF_HUGE_PAGES=maybe"},
                        warnings);
  REQUIRE(warnings.lines.size() == 10);
  REQUIRE(config.huge_pages == defaults.huge_pages);
  REQUIRE_FALSE(config.precise_stacks);
  REQUIRE(config.stack_sample_bytes == defaults.stack_sample_bytes);
  for (const std::string& line : warnings.lines) REQUIRE(line.rfind("memf: warning: ", 0) == 0);
  REQUIRE(warnings.lines[2] == "memf: warning: unknown variable MEMF_TYPO; ignored");
  REQUIRE(config.pool_limit == defaults.pool_limit);
  REQUIRE(config.on_error == OnError::kAbort);
  REQUIRE(config.stack_depth == defaults.stack_depth);
  REQUIRE(config.purge_delay_ms == defaults.purge_delay_ms);
  REQUIRE(config.limit == 0);
  REQUIRE(config.stacks == StacksMode::kOff);
}

TEST_CASE("secure-execution processes honour no MEMF_ setting, with one warning") {
  Captured warnings;
  Config config = parse({"MEMF_REPORT=/etc/passwd", "MEMF_SUPPRESSIONS=/root/x", "MEMF_ON_ERROR=report", "MEMF_LIMIT=1",
                         "MEMF_LEAK_CHECK=1", "MEMF_LEAK_EXITCODE=77", "MEMF_STATS=1", "MEMF_STACKS=all"},
                        warnings, true);
  const Config defaults = default_config();
  REQUIRE(config.secure);
  REQUIRE(config.report_path[0] == 0);
  REQUIRE(config.suppressions[0] == 0);
  REQUIRE(config.on_error == OnError::kAbort);
  REQUIRE(config.limit == defaults.limit);
  REQUIRE_FALSE(config.leak_check);
  REQUIRE(config.leak_exitcode == 0);
  REQUIRE_FALSE(config.stats);
  REQUIRE(config.stacks == StacksMode::kOff);
  REQUIRE(warnings.lines.size() == 1);
  REQUIRE(warnings.lines[0].find("MEMF_* settings are ignored in a secure-execution") != std::string::npos);
  // Without any MEMF_ variable, not a word.
  Captured none;
  parse({"PATH=/bin"}, none, true);
  REQUIRE(none.lines.empty());
}

TEST_CASE("an overlong path is refused, not truncated") {
  Captured warnings;
  std::string entry = "MEMF_REPORT=" + std::string(600, 'x');
  Config config = parse({entry.c_str()}, warnings);
  REQUIRE(config.report_path[0] == 0);
  REQUIRE(warnings.lines.size() == 1);
}

TEST_CASE("settings only the leak check reads warn without it; a format's name as MEMF_REPORT warns") {
  Captured warnings;
  parse({"MEMF_REPORT=/tmp/r.json", "MEMF_SUPPRESSIONS=/tmp/s", "MEMF_LEAK_EXITCODE=3"}, warnings);
  REQUIRE(warnings.lines.size() == 3);
  CHECK(warnings.lines[0] == "memf: warning: MEMF_REPORT has no effect without MEMF_LEAK_CHECK=1");
  CHECK(warnings.lines[1] == "memf: warning: MEMF_SUPPRESSIONS has no effect without MEMF_LEAK_CHECK=1");
  CHECK(warnings.lines[2] == "memf: warning: MEMF_LEAK_EXITCODE has no effect without MEMF_LEAK_CHECK=1");
  Captured with_check;
  parse({"MEMF_REPORT=/tmp/r.json", "MEMF_LEAK_CHECK=1", "MEMF_LEAK_EXITCODE=3"}, with_check);
  CHECK(with_check.lines.empty());
  Captured format_name;
  Config config = parse({"MEMF_LEAK_CHECK=1", "MEMF_REPORT=json"}, format_name);
  REQUIRE(format_name.lines.size() == 1);
  CHECK(format_name.lines[0].find("writes the JSON report to a file named 'json'") != std::string::npos);
  CHECK(std::string(config.report_path) == "json");  // still done: it is a valid path
}

TEST_CASE("MEMF_DEBUG_CACHE: off, on, an absolute directory; anything else warns and keeps the default") {
  Captured warnings;
  Config config = parse({"MEMF_DEBUG_CACHE=off"}, warnings);
  CHECK(config.debug_cache_off);
  config = parse({"MEMF_DEBUG_CACHE=/var/tmp/memf-debug"}, warnings);
  CHECK_FALSE(config.debug_cache_off);
  CHECK(std::string(config.debug_cache) == "/var/tmp/memf-debug");
  config = parse({"MEMF_DEBUG_CACHE=/var/tmp/x", "MEMF_DEBUG_CACHE=on"}, warnings);
  CHECK_FALSE(config.debug_cache_off);
  CHECK(config.debug_cache[0] == 0);
  CHECK(warnings.lines.empty());
  config = parse({"MEMF_DEBUG_CACHE=relative/dir"}, warnings);
  CHECK_FALSE(config.debug_cache_off);
  CHECK(config.debug_cache[0] == 0);
  REQUIRE(warnings.lines.size() == 1);
  CHECK(warnings.lines[0] ==
        "memf: warning: MEMF_DEBUG_CACHE=relative/dir is not off, on or an absolute directory; using the default");
  Captured secure;
  config = parse({"MEMF_DEBUG_CACHE=/tmp/elsewhere"}, secure, true);
  CHECK(config.debug_cache[0] == 0);
}

TEST_CASE("MEMF_HUGE_PAGES takes auto as well as a boolean") {
  Captured warnings;
  REQUIRE(parse({"MEMF_HUGE_PAGES=auto"}, warnings).huge_pages == HugePages::kAuto);
  REQUIRE(parse({"MEMF_HUGE_PAGES=1"}, warnings).huge_pages == HugePages::kOn);
  REQUIRE(parse({"MEMF_HUGE_PAGES=off"}, warnings).huge_pages == HugePages::kOff);
  REQUIRE(warnings.lines.empty());
  REQUIRE(parse({"MEMF_HUGE_PAGES=sometimes"}, warnings).huge_pages == HugePages::kAuto);
  REQUIRE(warnings.lines.size() == 1);
  REQUIRE(warnings.lines[0] == "memf: warning: MEMF_HUGE_PAGES=sometimes is not auto, 0 or 1 (or yes/no, true/false, on/off); using auto");
}
