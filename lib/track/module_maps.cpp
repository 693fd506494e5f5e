#include "module_maps.hpp"

#include <fcntl.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "report_file.hpp"

namespace memf {
namespace {

using Extent = std::pair<uintptr_t, uintptr_t>;  // [first, second)

int add_segments(dl_phdr_info* info, size_t, void* context) {
  auto* extents = static_cast<std::vector<Extent>*>(context);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& segment = info->dlpi_phdr[i];
    if (segment.p_type != PT_LOAD || segment.p_memsz == 0) continue;
    const uintptr_t begin = info->dlpi_addr + segment.p_vaddr;
    extents->push_back({begin, begin + segment.p_memsz});
  }
  return 0;
}

}  // namespace

std::string loaded_module_maps() {
  std::vector<Extent> extents;
  dl_iterate_phdr(add_segments, &extents);
  std::sort(extents.begin(), extents.end());
  std::string maps, kept;
  const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kept;
  const bool whole = read_text(fd, &maps);
  close(fd);
  if (!whole) return kept;
  for (size_t at = 0; at < maps.size();) {
    size_t end_of_line = maps.find('\n', at);
    end_of_line = end_of_line == std::string::npos ? maps.size() : end_of_line + 1;
    // "begin-end perms offset dev inode path": the range's overlap with any segment decides.
    char* parsed = nullptr;
    const uintptr_t begin = strtoull(maps.c_str() + at, &parsed, 16);
    const uintptr_t end = *parsed == '-' ? strtoull(parsed + 1, nullptr, 16) : 0;
    // The first extent ending after begin is the only one that can overlap [begin, end), as the
    // loader's segments do not overlap one another.
    auto extent = std::upper_bound(extents.begin(), extents.end(), begin,
                                   [](uintptr_t a, const Extent& e) { return a < e.second; });
    if (end > begin && extent != extents.end() && extent->first < end) kept.append(maps, at, end_of_line - at);
    at = end_of_line;
  }
  return kept;
}

}  // namespace memf
