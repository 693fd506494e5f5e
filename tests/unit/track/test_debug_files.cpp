// track/debug_files: the .gnu_debuglink CRC and the search for the file a link names.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "debug_files.hpp"

using namespace memf;

namespace {

void write_file(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, text.data(), text.size()) == ssize_t(text.size()));
  close(fd);
}

uint32_t crc_of(const std::string& text) { return debuglink_crc(0, text.data(), text.size()); }

// The path open_debuglink_file finds for module's link with crc (the descriptor checked open and
// closed); *start gets the file's first three bytes as the descriptor reads them.
std::string found_path(const std::string& module, const char* link, uint32_t crc, std::string* start = nullptr) {
  char* found = nullptr;
  const int fd = open_debuglink_file(module.c_str(), link, crc, &found);
  REQUIRE(fd >= 0);
  REQUIRE(found != nullptr);
  const std::string path = found;
  free(found);
  char first[4] = {};
  if (start) {
    CHECK(read(fd, first, 3) == 3);
    *start = first;
  }
  close(fd);
  return path;
}

// A scratch directory removed with its files at the end of the test case.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    char name[] = "/tmp/memf-debug-files-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path = name;
  }
  ~ScratchDir() { std::system(("rm -rf " + path).c_str()); }
};

}  // namespace

TEST_CASE("the debuglink CRC is CRC-32 and can be continued over pieces") {
  CHECK(crc_of("123456789") == 0xCBF43926u);  // the algorithm's published check value
  CHECK(crc_of("") == 0u);
  const std::string text = "separate debug information";
  const uint32_t first = debuglink_crc(0, text.data(), 10);
  CHECK(debuglink_crc(first, text.data() + 10, text.size() - 10) == crc_of(text));
  CHECK(crc_of("separate debug informatioN") != crc_of(text));
}

TEST_CASE("the file a debuglink names is found beside the module, in .debug, only with its CRC") {
  ScratchDir dir;
  const std::string module = dir.path + "/libthing.so";
  write_file(module, "module");
  char* found = nullptr;

  SECTION("beside the module") {
    write_file(dir.path + "/libthing.debug", "debug one");
    std::string start;
    CHECK(found_path(module, "libthing.debug", crc_of("debug one"), &start) == dir.path + "/libthing.debug");
    CHECK(start == "deb");  // positioned at the start, for libdw
  }
  SECTION("in the .debug subdirectory") {
    REQUIRE(mkdir((dir.path + "/.debug").c_str(), 0755) == 0);
    write_file(dir.path + "/.debug/libthing.debug", "debug two");
    CHECK(found_path(module, "libthing.debug", crc_of("debug two")) == dir.path + "/.debug/libthing.debug");
  }
  SECTION("a file with another CRC is not taken; the next place is tried") {
    write_file(dir.path + "/libthing.debug", "stale debug");
    CHECK(open_debuglink_file(module.c_str(), "libthing.debug", crc_of("debug three"), &found) == -1);
    CHECK(found == nullptr);
    REQUIRE(mkdir((dir.path + "/.debug").c_str(), 0755) == 0);
    write_file(dir.path + "/.debug/libthing.debug", "debug three");
    CHECK(found_path(module, "libthing.debug", crc_of("debug three")) == dir.path + "/.debug/libthing.debug");
  }
  SECTION("no link, an empty link, a link with a directory, the module itself: nothing") {
    CHECK(open_debuglink_file(module.c_str(), nullptr, 0, &found) == -1);
    CHECK(open_debuglink_file(module.c_str(), "", crc_of(""), &found) == -1);
    write_file(dir.path + "/libthing.debug", "debug");
    CHECK(open_debuglink_file(module.c_str(), "../libthing.debug", crc_of("debug"), &found) == -1);
    CHECK(open_debuglink_file(module.c_str(), "libthing.so", crc_of("module"), &found) == -1);
    CHECK(open_debuglink_file(nullptr, "libthing.debug", crc_of("debug"), &found) == -1);
    CHECK(found == nullptr);
  }
}

TEST_CASE("debuginfod servers count as set only when DEBUGINFOD_URLS names one") {
  const char* saved = getenv("DEBUGINFOD_URLS");
  const std::string before = saved ? saved : "";
  unsetenv("DEBUGINFOD_URLS");
  CHECK_FALSE(debuginfod_servers_set());
  setenv("DEBUGINFOD_URLS", " \t", 1);
  CHECK_FALSE(debuginfod_servers_set());
  setenv("DEBUGINFOD_URLS", "https://debuginfod.example", 1);
  CHECK(debuginfod_servers_set());
  if (saved) setenv("DEBUGINFOD_URLS", before.c_str(), 1);
  else unsetenv("DEBUGINFOD_URLS");
}
