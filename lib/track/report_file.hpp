// Files memf writes reports to (the leak report, the heap profile).
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

}  // namespace memf
