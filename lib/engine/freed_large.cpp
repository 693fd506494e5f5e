#include "freed_large.hpp"

#include <atomic>

namespace memf {
namespace {

struct Slot {
  std::atomic<uintptr_t> address{0};
  std::atomic<size_t> requested{0};
  std::atomic<uint32_t> stack_id{0};
  std::atomic<bool> mapping{false};
};

constinit Slot g_ring[kFreedLargeRecords];
constinit std::atomic<uint64_t> g_next{0};

}  // namespace

void remember_freed_large(const FreedLarge& block) {
  Slot& slot = g_ring[g_next.fetch_add(1, std::memory_order_relaxed) % kFreedLargeRecords];
  slot.address.store(0, std::memory_order_relaxed);  // no reader matches it half-written
  slot.requested.store(block.requested, std::memory_order_relaxed);
  slot.stack_id.store(block.stack_id, std::memory_order_relaxed);
  slot.mapping.store(block.mapping, std::memory_order_relaxed);
  slot.address.store(block.address, std::memory_order_release);
}

bool find_freed_large(const void* address, FreedLarge* out) {
  const uintptr_t wanted = uintptr_t(address);
  const uint64_t next = g_next.load(std::memory_order_acquire);
  for (uint64_t k = 0; k < kFreedLargeRecords && k < next; ++k) {  // newest first
    const Slot& slot = g_ring[(next - 1 - k) % kFreedLargeRecords];
    if (slot.address.load(std::memory_order_acquire) != wanted) continue;
    *out = FreedLarge{wanted, slot.requested.load(std::memory_order_relaxed),
                      slot.stack_id.load(std::memory_order_relaxed), slot.mapping.load(std::memory_order_relaxed)};
    return true;
  }
  return false;
}

}  // namespace memf
