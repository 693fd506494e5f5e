// core/batch_shelf: whole batches parked between thread caches. A batch is width words copied in
// and out; the shelf is bounded (a full shelf sends blocks back to their slabs, which is what lets
// slabs empty) and hands back the batch put on last.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "batch_shelf.hpp"

using namespace memf;

namespace {
void* word(uintptr_t value) { return reinterpret_cast<void*>(value); }
}  // namespace

TEST_CASE("a shelf takes batches until full and gives them back last in, first out, every word copied") {
  constexpr uint32_t kWidth = 3, kCapacity = 4;
  void* storage[kWidth * kCapacity] = {};
  BatchShelf shelf{kWidth, kCapacity};
  REQUIRE(shelf.width() == kWidth);
  REQUIRE(shelf.capacity() == kCapacity);
  REQUIRE(shelf.empty());
  REQUIRE_FALSE(shelf.full());
  for (uintptr_t b = 1; b <= kCapacity; ++b) {
    void* batch[kWidth] = {word(b * 100 + 1), word(b * 100 + 2), word(b * 100 + 3)};
    REQUIRE(shelf.push(storage, batch));
    REQUIRE(shelf.count() == b);
    batch[0] = batch[1] = batch[2] = nullptr;  // the shelf holds copies, not the caller's array
  }
  REQUIRE(shelf.full());
  REQUIRE_FALSE(shelf.empty());
  // Full: refused, nothing written.
  void* extra[kWidth] = {word(901), word(902), word(903)};
  REQUIRE_FALSE(shelf.push(storage, extra));
  REQUIRE(shelf.count() == kCapacity);
  for (void* w : storage) REQUIRE(w != word(901));
  // Out in reverse order, each batch whole.
  for (uintptr_t b = kCapacity; b >= 1; --b) {
    void* out[kWidth] = {};
    REQUIRE(shelf.pop(storage, out));
    REQUIRE(out[0] == word(b * 100 + 1));
    REQUIRE(out[1] == word(b * 100 + 2));
    REQUIRE(out[2] == word(b * 100 + 3));
    REQUIRE(shelf.count() == b - 1);
  }
  REQUIRE(shelf.empty());
  // Empty: refused, the output untouched.
  void* out[kWidth] = {word(7), word(7), word(7)};
  REQUIRE_FALSE(shelf.pop(storage, out));
  REQUIRE(out[0] == word(7));
  REQUIRE(out[2] == word(7));
}

TEST_CASE("a one-word shelf, a shape set later, pushes after pops, and clear") {
  void* storage[2] = {};
  BatchShelf shelf;  // shape unknown at construction: holds nothing
  REQUIRE(shelf.capacity() == 0);
  void* first = word(0x10);
  REQUIRE_FALSE(shelf.push(storage, &first));
  shelf.set_shape(1, 2);
  REQUIRE(shelf.push(storage, &first));
  void* second = word(0x20);
  REQUIRE(shelf.push(storage, &second));
  REQUIRE(storage[0] == word(0x10));  // batch i is at words [i * width, (i + 1) * width)
  REQUIRE(storage[1] == word(0x20));
  void* out = nullptr;
  REQUIRE(shelf.pop(storage, &out));
  REQUIRE(out == word(0x20));
  void* third = word(0x30);
  REQUIRE(shelf.push(storage, &third));  // into the slot the pop freed
  REQUIRE(shelf.pop(storage, &out));
  REQUIRE(out == word(0x30));
  // clear empties the shelf without reading the batches; their words stay for the owner.
  shelf.clear();
  REQUIRE(shelf.empty());
  REQUIRE(shelf.count() == 0);
  REQUIRE(storage[0] == word(0x10));
  REQUIRE_FALSE(shelf.pop(storage, &out));
}

TEST_CASE("count is readable without the owner's lock while other threads push and pop under it") {
  constexpr uint32_t kWidth = 2, kCapacity = 8;
  void* storage[kWidth * kCapacity] = {};
  BatchShelf shelf{kWidth, kCapacity};
  std::mutex lock;  // the owner's lock guards push and pop
  std::atomic<int> bad_batches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20000; ++round) {
        const uintptr_t tag = uintptr_t(t + 1) << 32 | uintptr_t(round);
        void* batch[kWidth] = {word(tag), word(~tag)};
        {
          std::lock_guard<std::mutex> guard(lock);
          shelf.push(storage, batch);
        }
        void* out[kWidth] = {};
        bool got;
        {
          std::lock_guard<std::mutex> guard(lock);
          got = shelf.pop(storage, out);
        }
        if (got && uintptr_t(out[1]) != ~uintptr_t(out[0])) ++bad_batches;  // torn batch
      }
    });
  }
  uint32_t max_seen = 0;
  for (int i = 0; i < 100000; ++i) {
    const uint32_t n = shelf.count();  // a hint: any value from 0 to capacity
    if (n > max_seen) max_seen = n;
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(max_seen <= kCapacity);
  REQUIRE(bad_batches.load() == 0);
  REQUIRE(shelf.count() <= kCapacity);
}

TEST_CASE("blocks_per_batch: about batch_bytes per batch, within its bounds") {
  REQUIRE(blocks_per_batch(1024, 32768, 4, 32) == 32);
  REQUIRE(blocks_per_batch(16, 32768, 4, 32) == 32);     // capped at hi
  REQUIRE(blocks_per_batch(8192, 32768, 4, 32) == 4);    // exactly lo
  REQUIRE(blocks_per_batch(16384, 32768, 4, 32) == 4);   // raised to lo
  REQUIRE(blocks_per_batch(3000, 32768, 4, 32) == 10);   // rounded down
  static_assert(blocks_per_batch(48, 4096, 1, 1000) == 85, "usable in constant expressions");
}
