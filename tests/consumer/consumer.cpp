// A C++ program that links memf: operator new is memf's (its tracker sees the bytes), and the
// C++ API works. Prints "memf is the allocator" and exits 0, else 1.
#include <cstdio>
#include <memory>
#include <vector>

#include <memf/memf.hpp>

int main() {
  auto& tracker = memf::MemoryTracker::getInstance();
  const size_t before = tracker.getCurrentUsage();
  auto big = std::make_unique<std::vector<char>>(size_t(1) << 20);
  const size_t during = tracker.getCurrentUsage();
  if (during < before + (size_t(1) << 20)) {
    std::printf("not memf: usage %zu -> %zu\n", before, during);
    return 1;
  }
  std::printf("memf is the allocator (C++): usage grew by %zu bytes\n", during - before);
  return 0;
}
