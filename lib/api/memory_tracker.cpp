// memf::MemoryTracker (include/memf/memf.hpp): the tracker's interface over the engine's
// automatic records, plus records of memory memf does not allocate itself.
#include <memf/memf.hpp>

#include <sys/mman.h>

#include <mutex>

#include "accounting.hpp"
#include "compiler.hpp"
#include "engine.hpp"
#include "heap_walk.hpp"
#include "limit.hpp"
#include "os.hpp"
#include "tracker.hpp"

namespace memf {
namespace {

struct ExternalRecord {
  size_t size;
  uint8_t tag;
  std::chrono::high_resolution_clock::time_point timestamp;
};

// Outside the allocator's own paths: ordinary containers are fine here, their nodes allocated
// under InternalAllocations (memf's own memory, not the program's). Never destroyed: the program
// may record and query from its static destructors.
using ExternalRecords = std::unordered_map<void*, ExternalRecord>;
std::mutex& external_mutex() {
  static std::mutex mutex;
  return mutex;
}
ExternalRecords& external_records() {
  alignas(ExternalRecords) static char storage[sizeof(ExternalRecords)];
  static ExternalRecords* records = new (storage) ExternalRecords();
  return *records;
}

// The heap is walked into memory of its own (mmap), so the walk sees a heap that the
// collection itself does not change.
struct BlockBuffer {
  LiveBlock* blocks = nullptr;
  size_t capacity = 0;
  size_t count = 0;
};

bool collect(const LiveBlock& block, void* context) {
  auto* buffer = static_cast<BlockBuffer*>(context);
  if (buffer->count == buffer->capacity) return false;
  buffer->blocks[buffer->count++] = block;
  return true;
}

bool count_only(const LiveBlock&, void*) { return true; }

}  // namespace

MemoryTracker& MemoryTracker::getInstance() {
  // In static storage, never destroyed (see external_records): no heap block of memf's.
  alignas(MemoryTracker) static char storage[sizeof(MemoryTracker)];
  static MemoryTracker* instance = new (storage) MemoryTracker();
  return *instance;
}

void MemoryTracker::recordAllocation(void* ptr, size_t size, const char* category) {
  if (!ptr || engine_owns(ptr)) return;
  const uint8_t tag = category_intern(category ? category : "Unknown");
  std::lock_guard<std::mutex> guard(external_mutex());
  InternalAllocations record_node;
  auto [it, inserted] =
      external_records().emplace(ptr, ExternalRecord{size, tag, std::chrono::high_resolution_clock::now()});
  if (!inserted) return;  // already recorded: the first record stands
  external_account(tag, int64_t(size), true);
  note_usage(process_stats().current_bytes);
}

void MemoryTracker::recordDeallocation(void* ptr) {
  std::lock_guard<std::mutex> guard(external_mutex());
  auto it = external_records().find(ptr);
  if (it == external_records().end()) return;
  external_account(it->second.tag, int64_t(it->second.size), false);
  InternalAllocations record_node;
  external_records().erase(it);
}

size_t MemoryTracker::getTotalAllocated() const { return process_stats().total_allocated_bytes; }
size_t MemoryTracker::getTotalDeallocated() const { return process_stats().total_freed_bytes; }
size_t MemoryTracker::getCurrentUsage() const { return process_stats().current_bytes; }
size_t MemoryTracker::getPeakUsage() const { return process_stats().peak_bytes; }

std::unordered_map<std::string, size_t> MemoryTracker::getUsageByCategory() const {
  CategoryUsage usage[kMaxCategories];
  const size_t count = category_snapshot(usage, kMaxCategories);
  std::unordered_map<std::string, size_t> result;
  for (size_t i = 0; i < count && i < kMaxCategories; ++i) result[usage[i].name] = usage[i].current_bytes;
  return result;
}

std::vector<AllocationInfo> MemoryTracker::getActiveAllocations() const {
  BlockBuffer buffer;
  for (size_t attempt = 0; attempt < 4; ++attempt) {
    // Room for what is live now plus what other threads may add meanwhile.
    const size_t estimate = heap_walk(count_only, nullptr);
    buffer.capacity = estimate + estimate / 4 + 1024;
    const size_t bytes = round_up(buffer.capacity * sizeof(LiveBlock), kPageSize);
    buffer.blocks = static_cast<LiveBlock*>(os::map(bytes));
    if (!buffer.blocks) return {};
    buffer.count = 0;
    const size_t seen = heap_walk(collect, &buffer);
    if (seen <= buffer.capacity) break;
    os::unmap(buffer.blocks, bytes);
    buffer.blocks = nullptr;
  }
  std::vector<AllocationInfo> result;
  if (!buffer.blocks) return result;
  const auto now = std::chrono::high_resolution_clock::now();
  {
    std::lock_guard<std::mutex> guard(external_mutex());
    result.reserve(buffer.count + external_records().size());
    for (const auto& [ptr, record] : external_records())
      result.push_back(AllocationInfo{ptr, record.size, category_name(record.tag), record.timestamp});
  }
  for (size_t i = 0; i < buffer.count; ++i) {
    const LiveBlock& block = buffer.blocks[i];
    result.push_back(AllocationInfo{reinterpret_cast<void*>(block.address), block.size, category_name(block.category), now});
  }
  os::unmap(buffer.blocks, round_up(buffer.capacity * sizeof(LiveBlock), kPageSize));
  return result;
}

void MemoryTracker::setMemoryLimit(size_t limit) { apply_memory_limit(limit); }

bool MemoryTracker::isMemoryPressure() const { return own_limit_pressure(); }

}  // namespace memf
