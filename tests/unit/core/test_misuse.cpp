// core/misuse: the one-line reports of a pool's misuse by the program. Every pool reports through
// here, and the lines are what users and tools/memf-report read, so each kind's line is checked
// byte for byte, and what MEMF_ON_ERROR makes of it.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "core/misuse_test_util.hpp"
#include "misuse.hpp"
#include "os.hpp"

using namespace memf;

namespace {

const void* at(uintptr_t address) { return reinterpret_cast<const void*>(address); }

MisuseReport report_of(Misuse kind) {
  switch (kind) {
    case Misuse::kDoubleFree:
      return {kind, "free", at(0x7f0000001000), nullptr, 0, "size class 48 B", "block", "memf's pools"};
    case Misuse::kInterior:
      return {kind, "memf::MemoryPool::deallocate", at(0x7f0000001018), at(0x7f0000001000), 0,
              "MemoryPool \"cache\", object size 48 B", "object", "MemoryPool \"cache\""};
    case Misuse::kNotLive:
      return {kind, "realloc", at(0x7f0000002000), nullptr, 0, "size class 64 B", "block", "memf's pools"};
    case Misuse::kForeign:
      return {kind, "free", at(0x1234), nullptr, 0, "", "block", "memf"};
    case Misuse::kSizeMismatch:
      return {kind, "memf::VariablePool::deallocate", at(0x7f0000003000), nullptr, 100,
              "VariablePool \"v\", size class 48 B", "block", "VariablePool \"v\""};
    case Misuse::kCorruptFreeList:
      return {kind, "malloc", at(0x7f0000004000), nullptr, 0, "size class 32 B", "block", nullptr};
  }
  return {};
}

std::string format(const MisuseReport& report) {
  char line[512];
  const size_t length = format_misuse(line, sizeof line, report);
  REQUIRE(length < sizeof line);
  REQUIRE(line[length] == '\0');
  REQUIRE(std::strlen(line) == length);
  return std::string(line, length);
}

}  // namespace

TEST_CASE("format_misuse writes each kind's exact line") {
  REQUIRE(format(report_of(Misuse::kDoubleFree)) ==
          "memf: error: double free of 0x7f0000001000 (size class 48 B) in free()");
  REQUIRE(format(report_of(Misuse::kInterior)) ==
          "memf: error: invalid pointer 0x7f0000001018 in memf::MemoryPool::deallocate(): 24 bytes into the object at "
          "0x7f0000001000 (MemoryPool \"cache\", object size 48 B)");
  REQUIRE(format(report_of(Misuse::kNotLive)) ==
          "memf: error: invalid pointer 0x7f0000002000 in realloc(): no live block there in memf's pools");
  REQUIRE(format(report_of(Misuse::kForeign)) == "memf: error: invalid pointer 0x1234 in free(): not allocated by memf");
  REQUIRE(format(report_of(Misuse::kSizeMismatch)) ==
          "memf: error: size mismatch in memf::VariablePool::deallocate(): block 0x7f0000003000 (VariablePool \"v\", "
          "size class 48 B) freed with size 100");
  REQUIRE(format(report_of(Misuse::kCorruptFreeList)) ==
          "memf: error: heap corruption detected in malloc(): free block at 0x7f0000004000 (size class 32 B) was "
          "written after it was freed, or by an overflow from the block before it");
}

TEST_CASE("format_misuse cuts a line to the buffer, always terminated, and writes nothing into none") {
  const std::string whole = format(report_of(Misuse::kInterior));
  char small[20];
  std::memset(small, 'x', sizeof small);
  const size_t length = format_misuse(small, sizeof small, report_of(Misuse::kInterior));
  REQUIRE(length == sizeof small - 1);
  REQUIRE(small[length] == '\0');
  REQUIRE(std::string(small) == whole.substr(0, sizeof small - 1));
  char none = 'x';
  REQUIRE(format_misuse(&none, 0, report_of(Misuse::kInterior)) == 0);
  REQUIRE(none == 'x');
}

TEST_CASE("misuse_text formats a report's owner or block text into a buffer, cut to fit") {
  char text[64];
  REQUIRE(std::string(misuse_text(text, "MemoryPool \"{}\", object size {} B", "cache", 48)) ==
          "MemoryPool \"cache\", object size 48 B");
  char tiny[8];
  REQUIRE(std::string(misuse_text(tiny, "size class {} B", 4096)) == "size cl");
}

TEST_CASE("report_misuse with MEMF_ON_ERROR=report writes the line and '; ignored', then returns") {
  misuse_test::set_on_error("report");
  for (Misuse kind : {Misuse::kDoubleFree, Misuse::kInterior, Misuse::kNotLive, Misuse::kForeign, Misuse::kSizeMismatch}) {
    const MisuseReport report = report_of(kind);
    const std::string written = misuse_test::stderr_of([&] { report_misuse(report); });
    REQUIRE(written == format(report) + "; ignored\n");
  }
  // An overlong line is cut, but its outcome and the newline are always there.
  const std::string operation(1000, 'f');
  MisuseReport long_report = report_of(Misuse::kForeign);
  long_report.operation = operation.c_str();
  const std::string written = misuse_test::stderr_of([&] { report_misuse(long_report); });
  REQUIRE(written.size() < 512);
  REQUIRE(written.rfind("memf: error: invalid pointer 0x1234 in ffff", 0) == 0);
  REQUIRE(written.substr(written.size() - 10) == "; ignored\n");
  // A corrupted free list is not ignored: it is dropped.
  const MisuseReport corrupt = report_of(Misuse::kCorruptFreeList);
  REQUIRE(misuse_test::stderr_of([&] { report_misuse(corrupt); }) == format(corrupt) + "; its free list is dropped\n");
  misuse_test::set_on_error("abort");
}

namespace {
uint32_t g_detail_stack = 0;
void note_detail(const MisuseReport& report) {
  g_detail_stack = report.allocation_stack + 1;
  static const char more[] = "    #0 detail\n";
  memf::os::write_stderr(more, sizeof more - 1);
}
}  // namespace

TEST_CASE("a detail hook writes after the report's line, with the report, before MEMF_ON_ERROR acts") {
  misuse_test::set_on_error("report");
  set_misuse_detail_hook(note_detail);
  MisuseReport report = report_of(Misuse::kDoubleFree);
  report.allocation_stack = 41;
  const std::string written = misuse_test::stderr_of([&] { report_misuse(report); });
  set_misuse_detail_hook(nullptr);
  CHECK(written == format(report) + "; ignored\n    #0 detail\n");
  CHECK(g_detail_stack == 42);
  misuse_test::set_on_error("abort");
}

TEST_CASE("report_misuse with MEMF_ON_ERROR=abort writes the line and aborts") {
  std::string err;
  REQUIRE(misuse_test::aborts_in_child([] { report_misuse(report_of(Misuse::kDoubleFree)); }, &err));
  REQUIRE(err == "memf: error: double free of 0x7f0000001000 (size class 48 B) in free(); aborting (MEMF_ON_ERROR=abort)\n");
}
