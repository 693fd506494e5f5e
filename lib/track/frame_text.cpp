#include "frame_text.hpp"

#include <cstring>

#include <fmt/format.h>

namespace memf {

size_t format_frame_line(char* out, size_t capacity, unsigned number, const FrameText& frame) {
  if (capacity == 0) return 0;
  const char* module = frame.module && *frame.module ? frame.module : "?";
  if (const char* slash = strrchr(module, '/')) module = slash + 1;
  const size_t room = capacity - 1;
  auto at = fmt::format_to_n(out, room, "    #{} {:#x}", number, frame.pc);
  size_t n = at.size;
  if (frame.function && strcmp(frame.function, "?") != 0 && n < room)
    n += fmt::format_to_n(out + n, room - n, " in {}", frame.function).size;
  if (frame.file && *frame.file && n < room) {
    n += fmt::format_to_n(out + n, room - n, " {}", frame.file).size;
    if (frame.line && n < room) n += fmt::format_to_n(out + n, room - n, ":{}", frame.line).size;
  }
  if (n < room) n += fmt::format_to_n(out + n, room - n, " ({}+{:#x})\n", module, frame.offset).size;
  if (n > room) n = room;
  out[n] = '\0';
  return n;
}

}  // namespace memf
