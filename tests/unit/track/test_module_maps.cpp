// track/module_maps: /proc/self/maps restricted to the loader's modules.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "module_maps.hpp"

using namespace memf;

namespace {

int find_libc(dl_phdr_info* info, size_t, void* context) {
  if (info->dlpi_name && std::string(info->dlpi_name).find("libc.so.6") != std::string::npos) {
    *static_cast<std::string*>(context) = info->dlpi_name;
    return 1;
  }
  return 0;
}

// The start of the maps line of the mapping at begin.
std::string line_start(const void* begin) {
  char text[32];
  snprintf(text, sizeof text, "%lx-", (unsigned long)begin);
  return text;
}

bool ends_with(const std::string& text, size_t end, const std::string& suffix) {
  return end >= suffix.size() && text.compare(end - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST_CASE("the loader's modules are kept; a private mapping of a module's file is not") {
  std::string libc;
  dl_iterate_phdr(find_libc, &libc);
  REQUIRE(!libc.empty());
  // What libelf does to read a module: a private mapping of the whole file, named as the module.
  const int fd = open(libc.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  const size_t size = size_t(lseek(fd, 0, SEEK_END));
  void* copy = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  close(fd);
  REQUIRE(copy != MAP_FAILED);

  const std::string kept = loaded_module_maps();
  CHECK(kept.find(line_start(copy)) == std::string::npos);
  // libc's own segments are there: its code, which holds this function's callee.
  const uintptr_t code = reinterpret_cast<uintptr_t>(&::getpid);
  bool code_kept = false;
  for (size_t at = 0; at < kept.size();) {
    const size_t end_of_line = kept.find('\n', at);
    REQUIRE(end_of_line != std::string::npos);  // whole lines only
    unsigned long begin = 0, end = 0;
    REQUIRE(sscanf(kept.c_str() + at, "%lx-%lx", &begin, &end) == 2);
    if (begin <= code && code < end) code_kept = ends_with(kept, end_of_line, "libc.so.6");
    at = end_of_line + 1;
  }
  CHECK(code_kept);
  munmap(copy, size);
}
