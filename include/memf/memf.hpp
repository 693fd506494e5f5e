// memf's C++ interface (umbrella header).
#pragma once
#include <memf/memf.h>
#include <memf/memory_pool.hpp>
#include <memf/pressure.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

namespace memf {

struct AllocationInfo {
  void* ptr;
  size_t size;
  std::string category;
  // When memf recorded the block: exact for recordAllocation() and for blocks allocated in
  // leak-check mode; the time of the call for blocks memf does not time-stamp (default mode).
  std::chrono::high_resolution_clock::time_point timestamp;
};

// The process's allocation tracker. Every allocation that passes through memf is recorded
// automatically; recordAllocation/recordDeallocation add memory memf does not allocate itself.
class MEMF_API MemoryTracker {
 public:
  static MemoryTracker& getInstance();

  // Tracks memory memf did not allocate (GPU buffers, mmaps, ...). A pointer memf allocated is
  // tracked already: recording it again is ignored.
  void recordAllocation(void* ptr, size_t size, const char* category = "Unknown");
  // Ends the tracking of memory recorded with recordAllocation; ignored for other pointers.
  void recordDeallocation(void* ptr);

  size_t getTotalAllocated() const;
  size_t getTotalDeallocated() const;
  size_t getCurrentUsage() const;
  size_t getPeakUsage() const;

  // Current bytes per category ("Unknown" holds what no scope tagged).
  std::unordered_map<std::string, size_t> getUsageByCategory() const;
  // Every live block (memf's and recorded ones). A snapshot: blocks allocated or freed by other
  // threads while it is taken may or may not appear.
  std::vector<AllocationInfo> getActiveAllocations() const;

  // memf's own limit: the same as memf_set_limit (0 removes it).
  void setMemoryLimit(size_t limit);
  // True when memf's own limit is set and the usage now is at or above the moderate pressure
  // level's threshold of it (0.75 unless MemoryOptimizer::setThresholds changed it): the moderate
  // level's start for that one limit, without hysteresis and without the monitor thread (see
  // <memf/pressure.h>; MemoryOptimizer::getPressureLevel() adds the cgroup, physical memory, PSI).
  bool isMemoryPressure() const;

  MemoryTracker(const MemoryTracker&) = delete;
  MemoryTracker& operator=(const MemoryTracker&) = delete;

 private:
  MemoryTracker() = default;
};

// Counts the calling thread's allocations under `name` for the scope's lifetime.
class CategoryScope {
 public:
  // [[nodiscard]]: a scope dropped at once (CategoryScope("x");) would end before its work.
  [[nodiscard]] explicit CategoryScope(const char* name) { memf_category_push(name); }
  ~CategoryScope() { memf_category_pop(); }
  CategoryScope(const CategoryScope&) = delete;
  CategoryScope& operator=(const CategoryScope&) = delete;
};

}  // namespace memf
