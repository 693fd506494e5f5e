// The leak report: classified blocks grouped by (kind, allocation stack, category), suppressions
// applied, written as text (stderr, LeakSanitizer's layout) and as JSON (MEMF_REPORT). Runs
// after the scan, so it may allocate; see docs/leak-report.md for both formats.
#pragma once
#include "report_file.hpp"
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "scanner.hpp"

namespace memf {

struct ReportFrame {
  uintptr_t pc = 0;           // the return address as captured
  std::string function = "?";
  std::string module = "?";   // path of the executable or shared object
  uintptr_t offset = 0;       // pc in the module's ELF address space
  std::string file;           // empty without line information
  unsigned line = 0;
  bool inlined = false;       // inlined into the next frame's function
};

// Turns a stack depot id into frames, innermost first.
using StackResolver = std::function<std::vector<ReportFrame>(uint32_t stack_id)>;
// The process's resolver: the stack depot, then the symbolizer, inlined calls expanded.
std::vector<ReportFrame> symbolize_depot_stack(uint32_t stack_id);

// LeakSanitizer-style patterns: '*' matches any run of characters; the pattern may match
// anywhere in the text unless it starts with '^' (anchored at the start) or ends with '$'
// (anchored at the end).
bool suppression_matches(std::string_view pattern, std::string_view text);

// A suppressions file: `leak:<pattern>` lines, `#` comments and blank lines. A group is
// suppressed when any frame's function or module matches a pattern.
constexpr long kMaxSuppressionsBytes = 16 << 20;
class Suppressions {
 public:
  // Adds the patterns in text; each line it cannot use is described in problems (if given).
  void parse(std::string_view text, std::vector<std::string>* problems = nullptr);
  // false (errno set) when the file cannot be read: EINVAL when it is no regular file (a FIFO,
  // a device), EFBIG when it is larger than kMaxSuppressionsBytes.
  bool load(const char* path, std::vector<std::string>* problems = nullptr);
  // Index of the first pattern some frame matches, -1 for none.
  int match(const std::vector<ReportFrame>& frames) const;
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  std::vector<std::string> patterns_;
};

struct KindTotal {
  uint64_t bytes = 0;
  uint64_t count = 0;
};

struct LeakGroup {
  LeakKind kind;
  uint32_t stack_id;
  uint8_t category;
  uint64_t bytes;
  uint64_t count;
  int suppression;  // index of the matching pattern, -1 when not suppressed
};

struct LeakReport {
  // Largest first within each kind; kinds in the order definite, indirect, possible, reachable.
  std::vector<LeakGroup> groups;
  std::unordered_map<uint32_t, std::vector<ReportFrame>> stacks;  // by stack id, for every group
  KindTotal totals[kLeakKinds];          // groups not suppressed
  KindTotal suppressed;                  // suppressed groups (never reachable ones)
  std::vector<KindTotal> suppression_hits;  // per pattern
  std::vector<std::string> suppression_patterns;
  bool stacks_known = false;             // some block had an allocation stack
  // MEMF_LEAK_EXITCODE applies: definite or indirect leaks that are not suppressed.
  bool fails() const {
    return totals[unsigned(LeakKind::kDefinite)].count + totals[unsigned(LeakKind::kIndirect)].count > 0;
  }
};

// Groups blocks[0..count) (classified) and resolves the groups' stacks (those of reachable
// groups only when resolve_reachable: the text report does not show them). Reachable groups are
// never suppressed (they are no leaks).
LeakReport build_leak_report(const ScanBlock* blocks, size_t count, const Suppressions& suppressions,
                             const StackResolver& resolve, bool resolve_reachable = true);

// What the JSON carries besides the leaks.
struct ReportProcess {
  long pid = 0;
  std::string exe;
  uint64_t current_bytes = 0, peak_bytes = 0, total_allocated_bytes = 0, total_freed_bytes = 0;
  uint64_t allocations = 0, frees = 0;
  struct Category {
    std::string name;
    uint64_t current_bytes, peak_bytes, allocations;
  };
  std::vector<Category> categories;
  std::string stacks_mode;  // "off", "sampled", "all"
  size_t blocks = 0;        // live blocks scanned
  ScanStats scan{};
  uint64_t scan_ns = 0;
};
// The process's figures (tracker statistics and categories, pid, executable).
ReportProcess describe_process();

using CategoryNamer = std::function<std::string(uint8_t tag)>;

struct TextReportOptions {
  std::string program;  // the executable's name, as the report names the process
  long pid = 0;
  bool show_possible = false;  // MEMF_SHOW_POSSIBLE: list possibly lost groups too
};
// The text report: one paragraph per definite or indirect group that is not suppressed (possibly
// lost groups too with show_possible; reachable ones only count in the summary), the
// suppressions that were used, and the summary line `memf: SUMMARY: ...` naming program and pid.
// Empty when there is nothing to report (no unsuppressed definite or indirect leak, and no
// possibly lost block to show): a clean process writes nothing, as under LeakSanitizer.
std::string format_leak_text(const LeakReport& report, const TextReportOptions& options,
                             const CategoryNamer& category_name);
// The JSON report (the brief's fields and a few more; docs/leak-report.md).
std::string format_leak_json(const LeakReport& report, const ReportProcess& process,
                             const CategoryNamer& category_name);


}  // namespace memf
