// Where memf's reports go: files (the leak report, the heap profile), descriptors (the report on
// stderr, a dump's socket), and its warning lines; and the reading of whole text files at
// report time (suppressions, the module list).
#pragma once
#include <string>
#include <string_view>

namespace memf {

// MEMF_REPORT's path with every %p replaced by pid (and %% by %).
std::string expand_report_path(std::string_view pattern, long pid);

// Writes data to path (created or truncated, mode 0644). -1 with errno on failure. A symbolic
// link is not followed (ELOOP): another user's link in /tmp must not make a report overwrite
// the file it points to.
int write_report_file(const std::string& path, const std::string& data);

// Writes all of text to fd, retrying short writes and EINTR. False (errno set) when a write fails
// or writes nothing.
bool write_text(int fd, const std::string& text);

// Reads fd to its end, appending to *text, retrying EINTR. False (errno set) when a read fails.
bool read_text(int fd, std::string* text);

// One line "memf: warning: <text>" on the stream memf reports to (os::write_stderr).
void report_warning(const std::string& text);

}  // namespace memf
