// One stack frame as memf's reports print it (the leak report, error reports):
// `    #N 0xPC in function file:line (module+0xOFFSET)`, the parts that are unknown left out.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

struct FrameText {
  uintptr_t pc = 0;
  const char* function = nullptr;  // nullptr or "?" when unknown
  const char* file = nullptr;      // nullptr or "" without line information
  unsigned line = 0;
  const char* module = nullptr;    // a path; only its last component is printed
  uintptr_t offset = 0;
};

// The line, newline included, into out (cut to fit, NUL-terminated); its length.
size_t format_frame_line(char* out, size_t capacity, unsigned number, const FrameText& frame);

}  // namespace memf
