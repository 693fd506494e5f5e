// Size classes of the pools: 16-byte steps up to 256 B, then four classes per doubling up to
// kMaxPoolSize. size -> class is one table lookup (no loop, no division); slot -> offset and back
// use a multiply by a per-class reciprocal.
#pragma once
#include <cstddef>
#include <cstdint>

#include "batch_shelf.hpp"
#include "compiler.hpp"
#include "config.hpp"

namespace memf {

constexpr size_t kMinAlign = 16;  // alignof(max_align_t) on x86-64
constexpr size_t kMaxPoolSize = 16384;
static_assert(kMaxPoolSize == kMaxPoolLimit, "MEMF_POOL_LIMIT's range is the pools' classes");
constexpr unsigned kNumClasses = 40;
constexpr unsigned kNoClass = 0xff;

// Slabs are the unit carved from the reserved range; the address of any byte finds its slab
// by shifting, so a slab never straddles two classes.
constexpr unsigned kSlabShift = 16;
constexpr size_t kSlabSize = size_t(1) << kSlabShift;

struct SizeClassInfo {
  uint32_t size;        // bytes per block
  uint32_t reciprocal;  // floor(2^32 / size) + 1: offset / size == (offset * reciprocal) >> 32 inside a slab
  uint16_t capacity;    // blocks per slab
  uint16_t batch;       // blocks moved per refill / drain between a thread cache and the centre
  uint16_t cache_max;   // blocks a thread cache keeps before it drains a batch (at first)
  uint16_t cache_cap;   // what cache_max may grow to in a bin that oscillates (thread_cache.cpp)
};
static_assert(sizeof(SizeClassInfo) == 16, "the engine indexes the class table by shifting");

namespace detail {
constexpr uint32_t class_size(unsigned index) {
  if (index < 16) return (index + 1) * 16;
  unsigned group = (index - 16) / 4;  // 256..512, 512..1024, ...
  unsigned step = (index - 16) % 4 + 1;
  uint32_t base = 256u << group;
  return base + step * (base / 4);
}

// Bigger batches for small blocks: one refill or drain moves about 32 KiB, 4..32 blocks.
constexpr uint16_t class_batch(uint32_t size) { return uint16_t(blocks_per_batch(size, 32768, 4, 32)); }

// A thread keeps up to four batches of a class, at most 64 KiB of it (but always two batches):
// the wider the band between refill and drain, the rarer both are under random churn.
constexpr uint16_t class_cache_max(uint32_t size, uint16_t batch) {
  uint32_t by_bytes = 65536 / size;
  uint32_t wanted = 4u * batch < by_bytes ? 4u * batch : by_bytes;
  return uint16_t(wanted < 2u * batch ? 2u * batch : wanted);
}

// A bin whose thread both refills and drains it (bursts: allocate many, free many) grows by a
// batch per such cycle, up to 64 batches or 128 KiB, whichever is less (never below where it
// started): 2048 blocks of 16-64 B, so that bursts of a thousand or two small blocks stay in the
// cache.
constexpr uint16_t class_cache_cap(uint32_t size, uint16_t batch, uint16_t cache_max) {
  uint32_t by_bytes = 131072 / size;
  uint32_t wanted = 64u * batch < by_bytes ? 64u * batch : by_bytes;
  return uint16_t(wanted < cache_max ? cache_max : wanted);
}

struct ClassTable {
  SizeClassInfo info[kNumClasses];
};

constexpr ClassTable make_classes() {
  ClassTable table{};
  for (unsigned i = 0; i < kNumClasses; ++i) {
    uint32_t size = class_size(i);
    uint16_t batch = class_batch(size);
    uint16_t cache_max = class_cache_max(size, batch);
    table.info[i] = SizeClassInfo{size, uint32_t((uint64_t(1) << 32) / size + 1), uint16_t(kSlabSize / size), batch,
                                  cache_max, class_cache_cap(size, batch, cache_max)};
  }
  return table;
}
}  // namespace detail

// One byte per 16-byte step up to the pool limit (1025 entries).
MEMF_ALWAYS_INLINE constexpr size_t size_lookup_index(size_t size) { return (size + 15) >> 4; }

namespace detail {
constexpr size_t kLookupEntries = size_lookup_index(kMaxPoolSize) + 1;
struct LookupTable {
  uint8_t index[kLookupEntries];
};
constexpr LookupTable make_lookup(const ClassTable& classes) {
  LookupTable table{};
  unsigned cls = 0;
  for (size_t size = 0; size <= kMaxPoolSize; ++size) {
    while (classes.info[cls].size < size) ++cls;
    table.index[size_lookup_index(size)] = uint8_t(cls);
  }
  return table;
}
inline constexpr ClassTable kClassTable = make_classes();
inline constexpr LookupTable kLookupTable = make_lookup(kClassTable);
static_assert(class_size(kNumClasses - 1) == kMaxPoolSize, "the last class is the pool limit");
static_assert(kSlabSize / kMinAlign <= 65535, "capacity fits 16 bits");
}  // namespace detail

inline constexpr const SizeClassInfo (&kSizeClasses)[kNumClasses] = detail::kClassTable.info;
// Indexed by size_lookup_index(size) for size <= kMaxPoolSize.
inline constexpr const uint8_t (&kClassIndexTable)[detail::kLookupEntries] = detail::kLookupTable.index;

// Precondition: size <= kMaxPoolSize.
MEMF_ALWAYS_INLINE unsigned size_to_class(size_t size) { return kClassIndexTable[size_lookup_index(size)]; }

MEMF_ALWAYS_INLINE size_t class_to_size(unsigned size_class) { return kSizeClasses[size_class].size; }

// The smallest class that holds size bytes at the given power-of-two alignment, or kNoClass.
unsigned aligned_size_to_class(size_t size, size_t alignment, size_t pool_limit);

}  // namespace memf
