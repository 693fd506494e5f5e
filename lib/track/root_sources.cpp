#include "root_sources.hpp"

#include <algorithm>
#include <atomic>

namespace memf {
namespace {

constinit std::atomic<RootLister> g_listers[kMaxRootListers] = {};

}  // namespace

bool register_root_lister(RootLister lister) {
  for (auto& slot : g_listers) {
    RootLister empty = nullptr;
    if (slot.load(std::memory_order_acquire) == lister) return true;
    if (slot.compare_exchange_strong(empty, lister, std::memory_order_acq_rel)) return true;
    if (empty == lister) return true;
  }
  return false;
}

size_t list_registered_roots(AddressRange* out, size_t capacity) {
  size_t total = 0;
  for (auto& slot : g_listers) {
    const RootLister lister = slot.load(std::memory_order_acquire);
    if (!lister) continue;
    const size_t room = total < capacity ? capacity - total : 0;
    total += lister(room ? out + total : nullptr, room);
  }
  return total;
}

}  // namespace memf
