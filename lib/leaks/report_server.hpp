// memf's service thread, started only when asked for (MEMF_PROFILE or MEMF_DUMP): it adds the
// heap profile's timeline points at their interval and answers `memf-report dump PID`.
//
// The dump is asked for through a Unix socket, <dir>/<pid>.sock with dir = /tmp/memf-<uid>, a
// directory memf creates with mode 0700 and uses only when it is the caller's own, not a symbolic
// link, and not open to others. Each connection from a process of the same user (or root:
// SO_PEERCRED) sends one line, `profile`, `leaks` or `stats`, and reads the document until the
// socket closes. Nothing runs in a signal handler; the thread blocks every signal.
#pragma once
#include <string>

namespace memf {

// Starts the thread (once per process); false when it could not start.
bool report_server_start(bool listen_for_dumps);
// The socket's path for a process of this user (empty when there is none).
std::string report_server_socket_path(long pid);
// The answer to one request line (also used by tests without a socket).
std::string report_server_answer(const std::string& request);

}  // namespace memf
