// track/frame_text: the one frame line the leak report and error reports print.
#include <catch2/catch.hpp>

#include <string>

#include "frame_text.hpp"

using namespace memf;

TEST_CASE("a frame line names what is known and leaves out what is not") {
  char line[256];
  std::string text(line, format_frame_line(line, sizeof line, 3,
                                           {0x55d0b4ac81c4, "release_twice", "/src/df.c", 4, "/tmp/df", 0x11c4}));
  CHECK(text == "    #3 0x55d0b4ac81c4 in release_twice /src/df.c:4 (df+0x11c4)\n");
  text.assign(line, format_frame_line(line, sizeof line, 0, {0x7f00, "?", nullptr, 0, "/lib/libdw.so.1", 0x35}));
  CHECK(text == "    #0 0x7f00 (libdw.so.1+0x35)\n");
  text.assign(line, format_frame_line(line, sizeof line, 1, {0x10, nullptr, "", 0, nullptr, 0x10}));
  CHECK(text == "    #1 0x10 (?+0x10)\n");
  char small[16];
  const size_t n = format_frame_line(small, sizeof small, 12, {0x123456789, "function", "file.c", 9, "m", 1});
  CHECK(n == sizeof small - 1);
  CHECK(std::string(small) == "    #12 0x12345");
}
