// Batch transfer between thread caches, shared by every memf pool. A thread's cache exchanges
// whole batches with its pool: a cache that overflows puts a batch on the pool's shelf, a cache
// that runs dry takes one. A batch on the shelf is an array of words (the blocks' addresses, or
// for a pool whose caches chain their blocks, one word: the chain's first block), so handing a
// batch from one thread to another touches none of its blocks. Bounded: when the shelf is full
// the blocks go back to their slabs instead, which is what lets slabs empty.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace memf {

// How many batches a pool's shelf holds per size class unless the pool says otherwise: enough
// that steady producer/consumer traffic never walks slab lists, few enough to bound what sits
// parked (16 batches of about 16-32 KiB).
constexpr uint32_t kShelfBatches = 16;

// Blocks per batch for blocks of block_bytes: about batch_bytes per exchange, within [lo, hi].
constexpr uint32_t blocks_per_batch(size_t block_bytes, size_t batch_bytes, uint32_t lo, uint32_t hi) {
  const size_t n = batch_bytes / block_bytes;
  return uint32_t(std::clamp<size_t>(n, lo, hi));
}

// capacity batches of width words each. The words live in storage the owner keeps (capacity *
// width words) and passes to each call; the shelf is the count and its rules. The owner's lock
// guards push and pop; count() may be read without it (a hint that spares the lock when the
// shelf is empty or full, and for statistics).
class BatchShelf {
 public:
  constexpr BatchShelf() = default;
  constexpr BatchShelf(uint32_t width, uint32_t capacity) : width_(width), capacity_(capacity) {}
  // For an owner that learns the shape after construction; only while the shelf is empty.
  void set_shape(uint32_t width, uint32_t capacity) {
    width_ = width;
    capacity_ = capacity;
  }

  uint32_t count() const { return count_.load(std::memory_order_relaxed); }
  uint32_t capacity() const { return capacity_; }
  uint32_t width() const { return width_; }
  bool empty() const { return count() == 0; }
  bool full() const { return count() >= capacity_; }

  // Copies one batch (width words) onto the shelf; false (nothing done) when it is full.
  bool push(void** storage, void* const* batch) {
    const uint32_t n = count_.load(std::memory_order_relaxed);
    if (n >= capacity_) return false;
    void** slot = storage + size_t(n) * width_;
    for (uint32_t i = 0; i < width_; ++i) slot[i] = batch[i];
    count_.store(n + 1, std::memory_order_relaxed);
    return true;
  }

  // Copies the last batch put on the shelf to out (room for width words) and takes it off;
  // false when the shelf is empty.
  bool pop(void* const* storage, void** out) {
    const uint32_t n = count_.load(std::memory_order_relaxed);
    if (n == 0) return false;
    void* const* slot = storage + size_t(n - 1) * width_;
    for (uint32_t i = 0; i < width_; ++i) out[i] = slot[i];
    count_.store(n - 1, std::memory_order_relaxed);
    return true;
  }

  // Empties the shelf without looking at its batches (the words stay in storage: [0, count() *
  // width()) before the call, for an owner that gives them back first).
  void clear() { count_.store(0, std::memory_order_relaxed); }

 private:
  uint32_t width_ = 0;
  uint32_t capacity_ = 0;
  std::atomic<uint32_t> count_{0};
};

}  // namespace memf
