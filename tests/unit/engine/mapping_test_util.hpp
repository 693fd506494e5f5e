// What the kernel says about memory memf mapped (/proc/self/smaps, mincore), for tests of its
// pages and of the advice it gives its mappings (engine/pool_arena, engine/large,
// engine/huge_regions).
#pragma once
#include <catch2/catch.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "compiler.hpp"

namespace mapping_test {

// The VmFlags line of the mapping that holds p, with a space after it; empty if none does.
inline std::string mapping_flags(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long begin = 0, end = 0;
    char dash = 0;
    std::istringstream header(line);
    if (header >> std::hex >> begin >> dash >> end && dash == '-' && line.find(':') > line.find(' ')) {
      inside = uintptr_t(p) >= begin && uintptr_t(p) < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line + " ";
    }
  }
  return "";
}

// Whether that mapping is advised for transparent huge pages (MADV_HUGEPAGE).
inline bool advised_huge(const void* p) { return mapping_flags(p).find(" hg ") != std::string::npos; }

// Resident pages of [p, p + bytes) per mincore.
inline size_t resident_pages(const void* p, size_t bytes) {
  std::vector<unsigned char> pages(bytes / memf::kPageSize);
  REQUIRE(mincore(const_cast<void*>(p), bytes, pages.data()) == 0);
  return size_t(std::count_if(pages.begin(), pages.end(), [](unsigned char c) { return c & 1; }));
}

}  // namespace mapping_test
