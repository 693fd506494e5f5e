#include "exit_check.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "allocation_stacks.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "init_order.hpp"
#include "leak_report.hpp"
#include "leak_scan.hpp"
#include "live_stack.hpp"
#include "os.hpp"
#include "stderr_stream.hpp"
#include "tracker.hpp"

namespace memf {

namespace {

std::string process_category_name(uint8_t tag) { return category_name(tag); }


Suppressions load_configured_suppressions() {
  Suppressions suppressions;
  const char* path = config().suppressions;
  if (path[0] == 0) return suppressions;
  std::vector<std::string> problems;
  if (!suppressions.load(path, &problems)) {
    const std::string why = errno == EINVAL  ? std::string("not a regular file")
                            : errno == EFBIG ? "larger than " + std::to_string(kMaxSuppressionsBytes >> 20) + " MiB"
                                             : std::string(strerror(errno));
    report_warning(std::string("cannot read MEMF_SUPPRESSIONS file ") + path + ": " + why);
  }
  for (const std::string& problem : problems) report_warning(std::string("MEMF_SUPPRESSIONS ") + path + " " + problem);
  return suppressions;
}

// One scan and its report; false (errno set) when the scan could not run.
// resolve_reachable: symbolize the stacks of reachable blocks too (the JSON report lists them).
// live_stack_bottom: as scan_process takes it.
bool scan_and_report(LeakReport* report, ReportProcess* process, bool resolve_reachable,
                     uintptr_t live_stack_bottom = 0) {
  LeakScan scan;
  if (!scan_process(&scan, live_stack_bottom)) {
    errno = ENOMEM;
    return false;
  }
  // Everything from here may allocate: the scan's result is a copy in mapped memory. The
  // figures are taken before symbolizing, whose own allocations are no concern of the program.
  *process = describe_process();
  *report = build_leak_report(scan.blocks, scan.count, load_configured_suppressions(), symbolize_depot_stack,
                              resolve_reachable);
  process->blocks = scan.count;
  process->scan = scan.stats;
  process->scan_ns = scan.elapsed_ns;
  release_scan(&scan);
  return true;
}

constinit std::atomic<bool> g_exit_check_done{false};

}  // namespace

void run_exit_leak_check() {
  if (g_exit_check_done.exchange(true) || !config().leak_check) return;
  const int saved_errno = errno;
  const uintptr_t live_stack_bottom = live_stack_bottom_at_exit(uintptr_t(__builtin_frame_address(0)));
  // The stream stderr was at start (base/stderr_stream.hpp), never a descriptor the program reused.
  const int fd = stderr_stream_fd();
  InternalAllocations report_allocations;  // the symbolizer's caches, libdw's state, the text
  LeakReport report;
  ReportProcess process;
  if (!scan_and_report(&report, &process, config().report_path[0] != 0, live_stack_bottom)) {
    report_warning("leak check skipped: no memory for the scan");
    errno = saved_errno;
    return;
  }
  write_text(fd, format_leak_text(report, TextReportOptions{process.exe, process.pid, config().show_possible},
                                 process_category_name));
  if (config().report_path[0] != 0) {
    const std::string path = expand_report_path(config().report_path, process.pid);
    if (write_report_file(path, format_leak_json(report, process, process_category_name)) != 0)
      report_warning("cannot write MEMF_REPORT " + path + ": " +
           (errno == ELOOP ? std::string("it is a symbolic link, not followed") : std::string(strerror(errno))));
  }
  if (report.fails() && config().leak_exitcode != 0) {
    fflush(nullptr);  // the program's buffered output, which exit() would have flushed after us
    _exit(config().leak_exitcode);
  }
  errno = saved_errno;
}

int write_leak_report(const char* path) {
  if (!path || !*path) {
    errno = EINVAL;
    return -1;
  }
  int result, error;
  {
    InternalAllocations report_allocations;  // the symbolizer's caches, libdw's state, the text
    LeakReport report;
    ReportProcess process;
    result = scan_and_report(&report, &process, true)
                 ? write_report_file(expand_report_path(path, process.pid), format_leak_json(report, process, process_category_name))
                 : -1;
    error = errno;
  }
  errno = error;  // as it was when the report failed, whatever freeing the report did
  return result;
}

std::string leak_report_json_now() {
  InternalAllocations report_allocations;
  LeakReport report;
  ReportProcess process;
  if (!scan_and_report(&report, &process, true)) return std::string();
  return format_leak_json(report, process, process_category_name);
}

namespace {

void leak_check_at_exit() { run_exit_leak_check(); }

// After the environment is read: from here on every allocation is recorded with its stack, and
// the check runs at exit (registered this early, it runs after the program's own atexit handlers
// and static destructors).
__attribute__((constructor(MEMF_INIT_LEAK_CHECK))) void arm_leak_check() {
  if (!config().leak_check) return;
  if (allocation_stacks_init()) engine_record_every_allocation(capture_allocation_stack);
  atexit(leak_check_at_exit);
}

}  // namespace

}  // namespace memf
