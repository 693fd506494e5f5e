// Uses memf's C++ tracker API (linked with memf) and leaks one block of its own.
#include <cstdio>
#include <cstring>
#include <memf/memf.hpp>
int main() {
  auto& tracker = memf::MemoryTracker::getInstance();
  const size_t before = tracker.getCurrentUsage();
  const auto live = tracker.getActiveAllocations();
  static char device_buffer[4096];
  tracker.recordAllocation(device_buffer, sizeof device_buffer, "device");
  const auto by_category = tracker.getUsageByCategory();
  char* leaked = new char[70];
  std::memset(leaked, 1, 70);
  std::printf("%zu %zu %zu\n", before > 0 ? size_t(1) : size_t(0), live.size() > 0 ? size_t(1) : size_t(0),
              by_category.size() > 0 ? size_t(1) : size_t(0));
  return 0;
}
