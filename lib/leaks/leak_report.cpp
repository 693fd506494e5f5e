#include "leak_report.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include "compiler.hpp"
#include "config.hpp"
#include "frame_text.hpp"
#include "json_text.hpp"
#include "leak_scan.hpp"
#include "os.hpp"
#include "report_file.hpp"
#include "stack_depot.hpp"
#include "symbolizer.hpp"
#include "tracker.hpp"

namespace memf {

// --- stacks --------------------------------------------------------------------------------------

std::vector<ReportFrame> symbolize_depot_stack(uint32_t stack_id) {
  std::vector<ReportFrame> out;
  const uintptr_t* pcs = nullptr;
  const unsigned depth = stack_id ? stack_depot_get(stack_id, &pcs) : 0;
  for_each_symbolized_frame(pcs, depth, [&](uintptr_t pc, const SymbolizedFrame& frame) {
    ReportFrame f;
    f.pc = pc;
    f.function = frame.function ? frame.function : "?";
    f.module = frame.module ? frame.module : "?";
    f.offset = frame.offset;
    if (frame.file) f.file = frame.file;
    f.line = frame.line;
    f.inlined = frame.inlined;
    out.push_back(std::move(f));
  });
  return out;
}

// --- suppressions --------------------------------------------------------------------------------

namespace {

// '*'-glob of the whole text (greedy with one backtrack point: linear for a single '*').
bool glob_whole(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (pi < p.size() && p[pi] == t[ti]) {
      ++pi, ++ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool suppression_matches(std::string_view pattern, std::string_view text) {
  if (pattern.empty()) return false;
  std::string glob;
  const bool anchored_start = pattern.front() == '^';
  if (anchored_start) pattern.remove_prefix(1);
  const bool anchored_end = !pattern.empty() && pattern.back() == '$';
  if (anchored_end) pattern.remove_suffix(1);
  if (!anchored_start) glob += '*';
  glob += pattern;
  if (!anchored_end) glob += '*';
  return glob_whole(glob, text);
}

void Suppressions::parse(std::string_view text, std::vector<std::string>* problems) {
  unsigned number = 0;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = trim(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++number;
    if (line.empty() || line.front() == '#') continue;
    constexpr std::string_view kLeak = "leak:";
    if (line.substr(0, kLeak.size()) == kLeak && !trim(line.substr(kLeak.size())).empty()) {
      patterns_.emplace_back(trim(line.substr(kLeak.size())));
    } else if (problems) {
      problems->push_back("line " + std::to_string(number) + ": expected leak:<pattern>, got '" + std::string(line) + "'");
    }
  }
}

bool Suppressions::load(const char* path, std::vector<std::string>* problems) {
  // Non-blocking, then a regular file of bounded size only: a FIFO would block the exit, and
  // /dev/zero would never end.
  const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st;
  int refused = 0;
  if (fstat(fd, &st) != 0) refused = errno;
  else if (!S_ISREG(st.st_mode)) refused = EINVAL;
  else if (st.st_size > kMaxSuppressionsBytes) refused = EFBIG;
  if (refused != 0) {
    close(fd);
    errno = refused;
    return false;
  }
  std::string text;
  const bool whole = read_text(fd, &text);
  const int saved = errno;
  close(fd);
  if (!whole) {
    errno = saved;
    return false;
  }
  parse(text, problems);
  return true;
}

int Suppressions::match(const std::vector<ReportFrame>& frames) const {
  for (size_t i = 0; i < patterns_.size(); ++i)
    for (const ReportFrame& f : frames)
      if (suppression_matches(patterns_[i], f.function) || suppression_matches(patterns_[i], f.module)) return int(i);
  return -1;
}

// --- grouping ------------------------------------------------------------------------------------

LeakReport build_leak_report(const ScanBlock* blocks, size_t count, const Suppressions& suppressions,
                             const StackResolver& resolve, bool resolve_reachable) {
  LeakReport report;
  std::set<uint32_t> resolved;
  std::map<std::tuple<unsigned, uint32_t, uint8_t>, KindTotal> sums;
  for (size_t i = 0; i < count; ++i) {
    const ScanBlock& b = blocks[i];
    if (b.flags & kScanBlockInternal) continue;  // memf's own
    KindTotal& t = sums[{unsigned(b.kind), b.stack_id, b.category}];
    t.bytes += b.size;
    ++t.count;
    report.stacks_known |= b.stack_id != 0;
  }
  report.suppression_patterns = suppressions.patterns();
  report.suppression_hits.resize(suppressions.patterns().size());
  for (const auto& [key, total] : sums) {
    const auto [kind, stack_id, category] = key;
    auto it = report.stacks.try_emplace(stack_id).first;
    // Symbolizing loads debug information (tens of milliseconds for libc's): only for the stacks
    // a report will show.
    const bool shown = resolve_reachable || LeakKind(kind) != LeakKind::kReachable;
    if (stack_id != 0 && shown && resolved.insert(stack_id).second) it->second = resolve(stack_id);
    LeakGroup g{LeakKind(kind), stack_id, category, total.bytes, total.count, -1};
    if (g.kind != LeakKind::kReachable) g.suppression = suppressions.match(it->second);
    KindTotal& sum = g.suppression < 0 ? report.totals[kind] : report.suppressed;
    sum.bytes += g.bytes;
    sum.count += g.count;
    if (g.suppression >= 0) {
      report.suppression_hits[size_t(g.suppression)].bytes += g.bytes;
      report.suppression_hits[size_t(g.suppression)].count += g.count;
    }
    report.groups.push_back(g);
  }
  std::sort(report.groups.begin(), report.groups.end(), [](const LeakGroup& a, const LeakGroup& b) {
    if (a.kind != b.kind) return a.kind < b.kind;
    if (a.bytes != b.bytes) return a.bytes > b.bytes;
    if (a.count != b.count) return a.count > b.count;
    return std::tie(a.stack_id, a.category) < std::tie(b.stack_id, b.category);
  });
  return report;
}

// --- text ----------------------------------------------------------------------------------------

namespace {

std::string_view basename_of(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

const char* heading(LeakKind kind) {
  switch (kind) {
    case LeakKind::kDefinite: return "Direct leak";
    case LeakKind::kIndirect: return "Indirect leak";
    case LeakKind::kPossible: return "Possibly lost";  // worded apart: format_leak_text
    case LeakKind::kReachable: return "Still reachable";
  }
  return "?";
}

void append_frames(std::string& out, const std::vector<ReportFrame>& frames) {
  unsigned number = 0;
  char line[4096];
  for (const ReportFrame& f : frames) {
    const FrameText text{f.pc, f.function.c_str(), f.file.c_str(), f.line, f.module.c_str(), f.offset};
    out.append(line, format_frame_line(line, sizeof line, number++, text));
  }
}

}  // namespace

std::string format_leak_text(const LeakReport& report, const TextReportOptions& options,
                             const CategoryNamer& category_name) {
  const auto shown = [&](const LeakGroup& g) {
    if (g.suppression >= 0) return false;
    return g.kind == LeakKind::kDefinite || g.kind == LeakKind::kIndirect ||
           (g.kind == LeakKind::kPossible && options.show_possible);
  };
  if (std::none_of(report.groups.begin(), report.groups.end(), shown)) return {};
  const std::string process = std::string(basename_of(options.program)) + " (pid " + std::to_string(options.pid) + ")";
  std::string out;
  if (report.fails()) appendf(out, "\nmemf: detected memory leaks in %s\n", process.c_str());
  else appendf(out, "\nmemf: no leaks in %s; possibly lost blocks follow\n", process.c_str());
  for (const LeakGroup& g : report.groups) {
    if (!shown(g)) continue;
    if (g.kind == LeakKind::kPossible)
      appendf(out, "\nPossibly lost %" PRIu64 " byte(s) in %" PRIu64 " object(s), reached only through interior pointers,",
              g.bytes, g.count);
    else
      appendf(out, "\n%s of %" PRIu64 " byte(s) in %" PRIu64 " object(s)", heading(g.kind), g.bytes, g.count);
    if (g.category != kCategoryUnknown) appendf(out, " [category %s]", category_name(g.category).c_str());
    const auto it = report.stacks.find(g.stack_id);
    if (g.stack_id == 0 || it == report.stacks.end() || it->second.empty()) {
      out += report.stacks_known ? " (allocation stack not recorded)\n" : " (allocation stacks are off; MEMF_STACKS=all records them)\n";
    } else {
      out += " allocated from:\n";
      append_frames(out, it->second);
    }
  }
  bool used = false;
  for (size_t i = 0; i < report.suppression_hits.size(); ++i) {
    if (report.suppression_hits[i].count == 0) continue;
    if (!used) {
      out += "\nmemf: suppressions used:\n  count      bytes pattern\n";
      used = true;
    }
    appendf(out, "%7" PRIu64 " %10" PRIu64 " %s\n", report.suppression_hits[i].count, report.suppression_hits[i].bytes,
            report.suppression_patterns[i].c_str());
  }
  out += "\n";
  const KindTotal& d = report.totals[unsigned(LeakKind::kDefinite)];
  const KindTotal& in = report.totals[unsigned(LeakKind::kIndirect)];
  const KindTotal& p = report.totals[unsigned(LeakKind::kPossible)];
  const KindTotal& r = report.totals[unsigned(LeakKind::kReachable)];
  // Leaked is what LeakSanitizer counts: definite and indirect. Possibly lost blocks are reached
  // through interior pointers, as live data often is, and are no part of it.
  appendf(out,
          "memf: SUMMARY: %s: %" PRIu64 " bytes leaked in %" PRIu64 " allocations (definite %" PRIu64 " in %" PRIu64
          ", indirect %" PRIu64 " in %" PRIu64 "); not counted: possibly lost %" PRIu64 " in %" PRIu64
          ", still reachable %" PRIu64 " in %" PRIu64 ", suppressed %" PRIu64 " in %" PRIu64 "\n",
          process.c_str(), d.bytes + in.bytes, d.count + in.count, d.bytes, d.count, in.bytes, in.count, p.bytes,
          p.count, r.bytes, r.count, report.suppressed.bytes, report.suppressed.count);
  return out;
}

// --- JSON ----------------------------------------------------------------------------------------

namespace {

void append_total(std::string& out, const char* name, const KindTotal& t) {
  appendf(out, "\"%s\": {\"bytes\": %" PRIu64 ", \"count\": %" PRIu64 "}", name, t.bytes, t.count);
}

}  // namespace

std::string format_leak_json(const LeakReport& report, const ReportProcess& process,
                             const CategoryNamer& category_name) {
  std::string out;
  appendf(out, "{\n  \"memf_report\": 1,\n  \"pid\": %ld,\n  \"exe\": ", process.pid);
  append_json_string(out, process.exe);
  appendf(out,
          ",\n  \"stats\": {\"current_bytes\": %" PRIu64 ", \"peak_bytes\": %" PRIu64
          ", \"total_allocated_bytes\": %" PRIu64 ", \"total_freed_bytes\": %" PRIu64 ", \"allocations\": %" PRIu64
          ", \"frees\": %" PRIu64 "},\n  \"categories\": [",
          process.current_bytes, process.peak_bytes, process.total_allocated_bytes, process.total_freed_bytes,
          process.allocations, process.frees);
  for (size_t i = 0; i < process.categories.size(); ++i) {
    const auto& c = process.categories[i];
    out += i ? ",\n    {\"name\": " : "\n    {\"name\": ";
    append_json_string(out, c.name);
    appendf(out, ", \"current_bytes\": %" PRIu64 ", \"peak_bytes\": %" PRIu64 ", \"allocations\": %" PRIu64 "}",
            c.current_bytes, c.peak_bytes, c.allocations);
  }
  out += process.categories.empty() ? "],\n  \"leaks\": [" : "\n  ],\n  \"leaks\": [";
  bool first = true;
  for (const LeakGroup& g : report.groups) {
    out += first ? "\n    {" : ",\n    {";
    first = false;
    appendf(out, "\"kind\": \"%s\", \"bytes\": %" PRIu64 ", \"count\": %" PRIu64 ", \"category\": ", leak_kind_name(g.kind),
            g.bytes, g.count);
    append_json_string(out, category_name(g.category));
    appendf(out, ", \"stack_id\": %" PRIu32 ", \"suppressed\": ", g.stack_id);
    if (g.suppression >= 0) append_json_string(out, report.suppression_patterns[size_t(g.suppression)]);
    else out += "null";
    out += ", \"stack\": [";
    const auto it = report.stacks.find(g.stack_id);
    if (it != report.stacks.end()) {
      bool first_frame = true;
      for (const ReportFrame& f : it->second) {
        out += first_frame ? "\n      {\"function\": " : ",\n      {\"function\": ";
        first_frame = false;
        append_json_string(out, f.function);
        out += ", \"module\": ";
        append_json_string(out, f.module);
        appendf(out, ", \"offset\": %" PRIuPTR ", \"file\": ", f.offset);
        if (f.file.empty()) out += "null";
        else append_json_string(out, f.file);
        appendf(out, ", \"line\": %u, \"pc\": %" PRIuPTR ", \"inlined\": %s}", f.line, f.pc, f.inlined ? "true" : "false");
      }
      if (!first_frame) out += "\n    ";
    }
    out += "]}";
  }
  out += report.groups.empty() ? "],\n  \"leak_totals\": {" : "\n  ],\n  \"leak_totals\": {";
  for (unsigned k = 0; k < kLeakKinds; ++k) {
    if (k) out += ", ";
    append_total(out, leak_kind_name(LeakKind(k)), report.totals[k]);
  }
  out += "},\n  ";
  append_total(out, "suppressed", report.suppressed);
  out += ",\n  \"suppressions\": [";
  for (size_t i = 0; i < report.suppression_patterns.size(); ++i) {
    out += i ? ", {\"pattern\": " : "{\"pattern\": ";
    append_json_string(out, report.suppression_patterns[i]);
    appendf(out, ", \"bytes\": %" PRIu64 ", \"count\": %" PRIu64 "}", report.suppression_hits[i].bytes,
            report.suppression_hits[i].count);
  }
  out += "],\n  \"leak_check\": {\"stacks\": ";
  append_json_string(out, process.stacks_mode);
  appendf(out,
          ", \"blocks\": %zu, \"root_ranges\": %" PRIu64 ", \"root_bytes\": %" PRIu64 ", \"block_bytes_scanned\": %" PRIu64
          ", \"faults\": %" PRIu64 ", \"scan_seconds\": %.6f}\n}\n",
          process.blocks, process.scan.root_ranges, process.scan.root_bytes, process.scan.block_bytes, process.scan.faults,
          double(process.scan_ns) / 1e9);
  return out;
}


// --- the process ---------------------------------------------------------------------------------

ReportProcess describe_process() {
  // Figures first, and the category snapshot in mapped memory: nothing allocated here may show
  // in them.
  ReportProcess p;
  const ProcessStats stats = process_stats();
  const size_t bytes = round_up((kMaxCategories + 1) * sizeof(CategoryUsage), kPageSize);
  auto* usage = static_cast<CategoryUsage*>(os::map(bytes));
  const size_t count = usage ? std::min<size_t>(category_snapshot(usage, kMaxCategories + 1), kMaxCategories + 1) : 0;
  p.pid = long(getpid());
  p.current_bytes = stats.current_bytes;
  p.peak_bytes = stats.peak_bytes;
  p.total_allocated_bytes = stats.total_allocated_bytes;
  p.total_freed_bytes = stats.total_freed_bytes;
  p.allocations = stats.allocations;
  p.frees = stats.frees;
  for (size_t i = 0; i < count; ++i) {
    const char* name = usage[i].name ? usage[i].name : "?";
    p.categories.push_back({name, usage[i].current_bytes, usage[i].peak_bytes, usage[i].allocations});
  }
  if (usage) os::unmap(usage, bytes);
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n > 0) p.exe.assign(path, size_t(n));
  switch (config().stacks) {
    case StacksMode::kOff: p.stacks_mode = "off"; break;
    case StacksMode::kSampled: p.stacks_mode = "sampled"; break;
    case StacksMode::kAll: p.stacks_mode = "all"; break;
  }
  return p;
}

}  // namespace memf
