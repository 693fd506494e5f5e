// memf's application pools: a fixed-size object pool (MemoryPool), a variable-size
// arena pool, std::pmr adapters for both, and an STL allocator for node containers.
// See docs/pools.md.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <type_traits>

#include <memf/detail/free_mark.hpp>
#include <memf/export.h>

namespace memf {

namespace detail {
// Pools that get a per-thread cache; pools beyond this work uncached (under their lock).
constexpr uint32_t kMaxCachedPools = 1024;
constexpr uint32_t kNoPoolId = kMaxCachedPools;  // its entry never holds anything: both fast paths miss

// One thread's cache for one pool, written by that thread only; clearing or destroying the pool
// empties every thread's entry for it (neither may overlap other threads' calls on the pool),
// and usage queries read it from other threads: hence relaxed atomics, plain loads and stores.
// For a MemoryPool, head is the top of the thread's cache, an array of free slots that ends
// where its page ends (mapped on the thread's first call that needs it), with a null word below
// its first slot: an empty cache reads null below its top, a full one's top is page-aligned, so
// neither a count nor a capacity is read; home is the chunk the thread refills from. For a
// VariablePool, head is the thread's per-size-class caches.
struct PoolCacheEntry {
  std::atomic<void*> head;
  uint32_t home;
};
constexpr size_t kCachePageBytes = 4096;

// A thread's cache entries, indexed by pool id.
struct PoolThreadTable {
  PoolThreadTable* prev;
  PoolThreadTable* next;
  PoolCacheEntry entries[kMaxCachedPools + 1];
};

// The calling thread's table; nullptr until its first call that needs it, and after its exit.
extern __thread PoolThreadTable* t_pool_table __attribute__((tls_model("initial-exec"))) MEMF_API;

// VariablePool's size classes: 16-byte steps up to 1 KiB, then four per doubling; classes up to
// 4 KiB have per-thread caches.
constexpr size_t kVariableCachedMax = 4096;
constexpr unsigned variable_class_of(size_t size) {
  if (size <= 1024) return size ? unsigned((size - 1) >> 4) : 0;
  const size_t s = size - 1;
  const unsigned bits = 64 - unsigned(__builtin_clzll(s));  // size in (2^(bits-1), 2^bits]
  return 64 + (bits - 11) * 4 + unsigned((s >> (bits - 3)) & 3);
}

// Whether a VariablePool request goes through the thread caches: a cached class, and an
// alignment every block has (0, 1, 2, 4, 8 or 16: blocks are 16-byte aligned).
constexpr bool variable_cacheable(size_t size, size_t alignment) {
  return size <= kVariableCachedMax && alignment <= 16 && ((0x10117u >> alignment) & 1);
}

// A thread's cache for one VariablePool size class: free blocks below top, the most recently
// cached just below it, a null word below the first; full when top reaches end. A thread's caches
// for a pool are an array of these (its table entry's head).
struct VariableClassCache {
  std::atomic<void**> top;
  void** end;
};
}  // namespace detail

// Fixed-size objects from chunks memf reserves for this pool alone.
//
// - allocate() is thread-safe and takes no lock on its common path: each thread keeps a small
//   cache of free slots per pool and exchanges whole batches with the pool under the pool's own
//   lock. A slot freed by another thread than the one that allocated it is fine. The common
//   path of allocate() and deallocate() is inline (this header): no call.
// - The pool grows by one chunk whenever it runs out; allocate() throws std::bad_alloc only when
//   its reserved address range is exhausted (room for 64M objects or 16 GiB, less if the system
//   refused that much address space; see docs/pools.md).
// - Objects are aligned to 16 bytes when objectSize rounds up to a multiple of 16, else to 8.
// - deallocate() of a pointer this pool did not hand out, or of one already freed, is reported
//   as one line "memf: error: ..." on stderr and then aborts or is ignored (MEMF_ON_ERROR).
// - The pool's chunk memory is counted by the tracker under the pool's name.
class MEMF_API MemoryPool {
 public:
  // The pool is named "MemoryPool(<objectSize>)" for the tracker.
  MemoryPool(size_t objectSize, size_t initialCapacity = 64);
  // name: the tracker category for this pool's memory (47 bytes at most are kept).
  MemoryPool(size_t objectSize, size_t initialCapacity, const char* name);
  ~MemoryPool();
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;

  // Inline: pops the calling thread's cache for the pool (no lock, no atomic read-modify-write);
  // an empty cache, a first call, and pools without a cache are one call.
  [[nodiscard]] void* allocate() {
    if (detail::PoolThreadTable* table = detail::t_pool_table; __builtin_expect(table != nullptr, 1)) {
      std::atomic<void*>& top = table->entries[id_].head;
      if (auto** slots = static_cast<void**>(top.load(std::memory_order_relaxed)); __builtin_expect(slots != nullptr, 1)) {
        void* slot = slots[-1];  // null: the word below an empty cache
        if (__builtin_expect(slot != nullptr, 1)) {
          top.store(slots - 1, std::memory_order_relaxed);
          detail::clear_free_mark(slot);  // no longer marked free
          return slot;
        }
      }
    }
    return allocateSlow();
  }

  // Inline: a live slot of this pool (in the range, the start of a slot handed out before, not
  // marked free) goes on the calling thread's cache when it has room; anything else, misuse
  // included, is one call.
  void deallocate(void* ptr) {
    detail::PoolThreadTable* table = detail::t_pool_table;
    if (__builtin_expect(table != nullptr && isLiveSlot(ptr), 1)) {
      std::atomic<void*>& top = table->entries[id_].head;
      auto** slots = static_cast<void**>(top.load(std::memory_order_relaxed));
      // A full cache's top is the end of its page; so is a missing one's (null).
      if (__builtin_expect((uintptr_t(slots) & (detail::kCachePageBytes - 1)) != 0, 1)) {
        detail::set_free_mark(free_key_, ptr);
        *slots = ptr;
        top.store(slots + 1, std::memory_order_relaxed);
        return;
      }
    }
    deallocateSlow(ptr);
  }

  size_t getObjectSize() const;
  // Objects the pool can hold without growing (its chunks' slots).
  size_t getCapacity() const;
  // Objects handed out and not yet deallocated. Exact for the calling thread; other threads'
  // operations since their last exchange with the pool are seen as they were then.
  size_t getUsedCount() const;
  // Bytes of chunk memory the pool holds (slots and their state bytes).
  size_t getMemoryUsage() const;

  // Releases every object and all chunk memory at once; the pool starts over empty and grows
  // again on demand. Outstanding pointers become invalid: deallocating one afterwards is reported
  // (as for a pointer the pool never handed out) unless the pool has handed that address out
  // again meanwhile. Must not overlap other threads' calls on this pool.
  void clear();
  // Returns every chunk whose slots are all free to the system (other threads' caches of this
  // pool keep theirs, at most two batches each). Safe to call at any time from any thread.
  void shrink();

  // Beyond the basic pool interface.
  size_t getAlignment() const;
  const char* getName() const;
  // Bytes given back by the last shrink() or clear().
  size_t getLastReleased() const;

  struct Impl;

 private:
  void* allocateSlow();
  void deallocateSlow(void* ptr);

  // Whether ptr is the start of a slot the program holds: in the range, a slot handed out at
  // least once starts there (its state byte), and it does not carry the free mark.
  bool isLiveSlot(void* ptr) const {
    const size_t offset = uintptr_t(ptr) - uintptr_t(base_);
    // Rotating the low bits to the top makes misaligned and outside pointers fail one compare.
    const size_t granule = (offset >> granule_shift_) | (offset << ((64 - granule_shift_) & 63));
    return granule < range_granules_ && states_[granule] != 0 && !detail::has_free_mark(free_key_, ptr);
  }

  // Read by the inline paths; set by the constructor. A free slot's second word holds its free
  // mark (detail/free_mark.hpp); the state byte of a granule is non-zero where a slot that has
  // been handed out at least once (since its chunk was taken) starts.
  char* base_;
  const uint8_t* states_;
  size_t range_granules_;
  uintptr_t free_key_;
  uint32_t id_;  // the pool's entry in the threads' tables
  uint8_t granule_shift_;
  Impl* impl_;
};

// Variable-size blocks, arena style: bump allocation in chunks of a range reserved for the pool,
// freed blocks kept on per-size-class free lists for reuse. Thread-safe: blocks up to 4 KiB
// (alignment up to 16) go through per-thread caches without a lock, as in MemoryPool; larger
// ones take the pool's lock. Misuse (foreign pointer, double free, a size from another size
// class) is reported like MemoryPool's.
class MEMF_API VariablePool {
 public:
  // initialChunk: bytes of the first chunk (rounded up to 64 KiB); later chunks double up to
  // 4 MiB. Blocks above 256 KiB get a mapping of their own.
  explicit VariablePool(size_t initialChunk = 64 * 1024, const char* name = "VariablePool");
  ~VariablePool();
  VariablePool(const VariablePool&) = delete;
  VariablePool& operator=(const VariablePool&) = delete;

  // alignment: a power of two up to 4096 (16 is the minimum every block gets).
  // Inline: a block of up to 4 KiB (alignment up to 16) pops the calling thread's cache for its
  // size class; anything else is one call.
  [[nodiscard]] void* allocate(size_t size, size_t alignment = alignof(std::max_align_t)) {
    detail::PoolThreadTable* table = detail::t_pool_table;
    if (__builtin_expect(detail::variable_cacheable(size, alignment) && table != nullptr, 1)) {
      if (auto* caches = static_cast<detail::VariableClassCache*>(table->entries[id_].head.load(std::memory_order_relaxed));
          __builtin_expect(caches != nullptr, 1)) {
        detail::VariableClassCache& cache = caches[detail::variable_class_of(size)];
        void** top = cache.top.load(std::memory_order_relaxed);
        if (void* block = top[-1]; __builtin_expect(block != nullptr, 1)) {  // null: an empty cache
          cache.top.store(top - 1, std::memory_order_relaxed);
          detail::clear_free_mark(block);  // no longer marked free
          return block;
        }
      }
    }
    return allocateSlow(size, alignment);
  }

  // size: as passed to allocate (any size of the same size class is accepted).
  // Inline: a live cached-class block of this pool (in the range, a block of size's class
  // starting there, not marked free) goes on the calling thread's cache when it has room;
  // anything else, misuse included, is one call.
  void deallocate(void* ptr, size_t size) {
    const size_t offset = uintptr_t(ptr) - uintptr_t(base_);
    const size_t granule = (offset >> 4) | (offset << 60);  // misaligned or outside: huge
    detail::PoolThreadTable* table = detail::t_pool_table;
    if (__builtin_expect(table != nullptr && granule < range_granules_ && size <= detail::kVariableCachedMax, 1)) {
      const unsigned cls = detail::variable_class_of(size);
      auto* caches = static_cast<detail::VariableClassCache*>(table->entries[id_].head.load(std::memory_order_relaxed));
      if (__builtin_expect(caches != nullptr && states_[granule] == cls + 1 && !detail::has_free_mark(free_key_, ptr), 1)) {
        detail::VariableClassCache& cache = caches[cls];
        void** top = cache.top.load(std::memory_order_relaxed);
        if (__builtin_expect(top != cache.end, 1)) {
          detail::set_free_mark(free_key_, ptr);
          *top = ptr;
          cache.top.store(top + 1, std::memory_order_relaxed);
          return;
        }
      }
    }
    deallocateSlow(ptr, size);
  }

  // Frees every block at once. The first chunk is kept for reuse (an arena reset costs no page
  // faults); the others go back to the system. Outstanding pointers become invalid. Must not
  // overlap other threads' calls on this pool (it empties their caches for it).
  void clear();
  // Returns every chunk without live blocks to the system, the first one included. The calling
  // thread's cached blocks go back first; other threads' go back at their next call that
  // misses their cache, for a later shrink() to release.
  void shrink();

  // Bytes of the live blocks (each counted at its size class).
  size_t getUsedBytes() const;
  // Bytes of chunk memory the pool holds, block states included.
  size_t getMemoryUsage() const;
  const char* getName() const;
  size_t getLastReleased() const;

  struct Impl;

 private:
  void* allocateSlow(size_t size, size_t alignment);
  void deallocateSlow(void* ptr, size_t size);

  // Read by the inline paths; set by the constructor. A free block's second word holds its free
  // mark (detail/free_mark.hpp); a granule's state byte is the class + 1 of the block that
  // starts there, once carved.
  char* base_;
  const uint8_t* states_;
  size_t range_granules_;
  uintptr_t free_key_;
  uint32_t id_;  // the pool's entry in the threads' tables
  Impl* impl_;
};

// Shrinks every live pool (MemoryPool and VariablePool); the bytes given back. The memory
// optimizer calls it under pressure; applications may call it too.
MEMF_API size_t shrinkAllPools();

// A MemoryPool as a std::pmr::memory_resource: requests that fit a slot (size and alignment) come
// from the pool, others from upstream.
class MEMF_API MemoryPoolResource : public std::pmr::memory_resource {
 public:
  explicit MemoryPoolResource(MemoryPool& pool,
                              std::pmr::memory_resource* upstream = std::pmr::get_default_resource())
      : pool_(pool), upstream_(upstream) {}
  MemoryPool& pool() const { return pool_; }

 protected:
  void* do_allocate(size_t bytes, size_t alignment) override {
    if (fits(bytes, alignment)) return pool_.allocate();
    return upstream_->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, size_t bytes, size_t alignment) override {
    if (fits(bytes, alignment)) pool_.deallocate(p);
    else upstream_->deallocate(p, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    auto* resource = dynamic_cast<const MemoryPoolResource*>(&other);
    return resource && &resource->pool_ == &pool_ && resource->upstream_->is_equal(*upstream_);
  }

 private:
  bool fits(size_t bytes, size_t alignment) const {
    return bytes <= pool_.getObjectSize() && alignment <= pool_.getAlignment();
  }
  MemoryPool& pool_;
  std::pmr::memory_resource* upstream_;
};

// A VariablePool as a std::pmr::memory_resource (alignments above 4096 throw std::bad_alloc).
class MEMF_API VariablePoolResource : public std::pmr::memory_resource {
 public:
  explicit VariablePoolResource(VariablePool& pool) : pool_(pool) {}
  VariablePool& pool() const { return pool_; }

 protected:
  void* do_allocate(size_t bytes, size_t alignment) override { return pool_.allocate(bytes, alignment); }
  void do_deallocate(void* p, size_t bytes, size_t) override { pool_.deallocate(p, bytes); }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    auto* resource = dynamic_cast<const VariablePoolResource*>(&other);
    return resource && &resource->pool_ == &pool_;
  }

 private:
  VariablePool& pool_;
};

namespace detail {
// The process-wide pool PoolAllocator uses for objects of `size` bytes (size <= 1024), named
// "PoolAllocator(<size>)". Created on first use and never destroyed, so containers that outlive
// main() stay valid.
MEMF_API MemoryPool& shared_node_pool(size_t size);
constexpr size_t kSharedNodePoolMax = 1024;
}  // namespace detail

// An STL allocator for node containers (std::list, std::map, std::set, std::unordered_map's
// nodes): single objects come from the shared MemoryPool of their size; arrays and objects above
// 1 KiB or aligned beyond 16 bytes from ::operator new. Stateless: every instance is equal.
template <class T>
class PoolAllocator {
 public:
  using value_type = T;
  using is_always_equal = std::true_type;

  PoolAllocator() noexcept = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}

  [[nodiscard]] T* allocate(size_t n) {
    if (n == 1 && pooled()) return static_cast<T*>(pool().allocate());
    if (n > size_t(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(alignof(T))));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n == 1 && pooled()) pool().deallocate(p);
    else ::operator delete(p, std::align_val_t(alignof(T)));
  }

  template <class U>
  bool operator==(const PoolAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const PoolAllocator<U>&) const noexcept { return false; }

 private:
  static constexpr bool pooled() { return sizeof(T) <= detail::kSharedNodePoolMax && alignof(T) <= 16; }
  static MemoryPool& pool() {
    static MemoryPool& shared = detail::shared_node_pool(sizeof(T));
    return shared;
  }
};

}  // namespace memf

// C spelling: memf_pools_shrink_all() in <memf/memf.h>.
