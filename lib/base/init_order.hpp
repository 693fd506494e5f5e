// The constructors of libmemf.so, in the order they run (lower priority first, all before the
// program's own constructors). malloc works before any of them: they only read what the
// environment asks for and arm what depends on it.
#pragma once

// base/config.cpp: the MEMF_ environment is read (the first malloc may have run before environ
// was set).
#define MEMF_INIT_CONFIG 101
// leaks/exit_check.cpp: with MEMF_LEAK_CHECK, every allocation is recorded from here on, the
// exit check is registered (atexit: it runs after the program's handlers and destructors), and
// stderr is copied.
#define MEMF_INIT_LEAK_CHECK 102
// track/stats_report.cpp: with MEMF_STATS, the summary at exit (registered after the leak
// check, so printed before it).
#define MEMF_INIT_STATS 103
// pressure/monitor.cpp: the limit action, the optimizer's hooks, and the monitor thread when
// there is a limit to watch.
#define MEMF_INIT_PRESSURE 104
// track/error_stacks.cpp: with MEMF_STACKS on, error reports (double free, invalid pointer) show
// the stack of the bad call and the block's allocation stack.
#define MEMF_INIT_ERROR_STACKS 105
// track/profile_writer.cpp: with MEMF_PROFILE, the heap profile starts (exact mode records every
// allocation from here on) and is written at exit (registered after the leak check: it runs first).
#define MEMF_INIT_PROFILE 106
// leaks/report_server.cpp: with MEMF_PROFILE or MEMF_DUMP, memf's service thread: the profile's
// timeline ticks and `memf-report dump PID` requests.
#define MEMF_INIT_REPORT_SERVER 107
