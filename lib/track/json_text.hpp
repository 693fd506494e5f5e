// Text helpers for the JSON documents memf writes (the leak report, the heap profile): report
// time only, they append to std::string.
#pragma once
#include <string>
#include <string_view>

namespace memf {

// printf into out, of any length.
void appendf(std::string& out, const char* format, ...) __attribute__((format(printf, 2, 3)));
// A JSON string; bytes that are not valid UTF-8 (paths may hold any) become \u00XX.
void append_json_string(std::string& out, std::string_view s);

}  // namespace memf
