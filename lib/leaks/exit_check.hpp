// The leak check at exit and on request, and its start-up: with MEMF_LEAK_CHECK a constructor
// (base/init_order.hpp) makes the engine record every allocation with its stack, copies stderr
// and registers the check at exit.
#pragma once
#include <string>

namespace memf {

// At exit (an atexit handler, registered early so it runs after the program's own
// handlers and static destructors): scan, report on stderr and to MEMF_REPORT, and when
// unsuppressed definite or indirect leaks remain and MEMF_LEAK_EXITCODE is not 0, flush stdio
// and end the process with _exit(MEMF_LEAK_EXITCODE). Runs once; later calls do nothing.
void run_exit_leak_check();

// memf_report_write: scans now and writes the JSON report to path (%p = pid). 0 on success,
// -1 with errno set on failure.
int write_leak_report(const char* path);
// The same report as a JSON document (the live dump); empty when the scan could not run.
std::string leak_report_json_now();

}  // namespace memf
