// What the kernel says about the mapping that holds an address (/proc/self/smaps), for tests of
// the advice memf gives its mappings (engine/large, engine/huge_regions).
#pragma once
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

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

}  // namespace mapping_test
