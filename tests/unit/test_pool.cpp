// The pools in-process, through lib/: slabs, thread caches, transfer batches, cross-thread frees,
// thread exit and purging. The test runner's own allocations stay with glibc.
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "central.hpp"
#include "engine.hpp"
#include "bad_pointer.hpp"
#include "defrag.hpp"
#include "release.hpp"
#include "tracker.hpp"

using namespace memf;

namespace {
// Resident pages of [p, p + bytes) per mincore.
size_t resident_pages(void* p, size_t bytes) {
  std::vector<unsigned char> pages(bytes / kPageSize);
  REQUIRE(mincore(p, bytes, pages.data()) == 0);
  return size_t(std::count_if(pages.begin(), pages.end(), [](unsigned char c) { return c & 1; }));
}
}  // namespace

TEST_CASE("small blocks come from the pools, aligned, distinct and writable") {
  for (size_t size : {size_t(0), size_t(1), size_t(8), size_t(16), size_t(24), size_t(100), size_t(256), size_t(257),
                      size_t(1000), size_t(4096), size_t(5000), size_t(8192)}) {
    std::vector<void*> blocks;
    std::set<void*> seen;
    for (int i = 0; i < 500; ++i) {
      void* p = engine_malloc(size);
      REQUIRE(p != nullptr);
      REQUIRE(pool_contains(p));
      REQUIRE(uintptr_t(p) % kMinAlign == 0);
      REQUIRE(engine_usable_size(p) >= size);
      REQUIRE(engine_usable_size(p) == class_to_size(size_to_class(size)));
      REQUIRE(seen.insert(p).second);
      memset(p, 0xab, engine_usable_size(p));
      blocks.push_back(p);
    }
    // No two blocks overlap.
    std::sort(blocks.begin(), blocks.end());
    for (size_t i = 1; i < blocks.size(); ++i)
      REQUIRE(static_cast<char*>(blocks[i - 1]) + engine_usable_size(blocks[i - 1]) <= blocks[i]);
    for (void* p : blocks) engine_free(p);
  }
}

TEST_CASE("a block's state byte and free mark follow it through malloc and free") {
  void* p = engine_malloc(40);
  REQUIRE(slot_state(p) == kSlotAllocated);
  REQUIRE_FALSE(block_is_free(p));
  REQUIRE(engine_owns(p));
  engine_free(p);
  // The fast paths leave the state byte alone; the mark in the block's second word says free.
  REQUIRE(slot_state(p) == kSlotAllocated);
  REQUIRE(block_is_free(p));
  REQUIRE_FALSE(engine_owns(p));
  // A block start's neighbours inside it are never block starts.
  REQUIRE(slot_state(static_cast<char*>(p) + 16) == kSlotNone);
  // The most recently freed block of a class is the next one handed out (LIFO cache).
  void* q = engine_malloc(40);
  REQUIRE(q == p);
  engine_free(q);
}

TEST_CASE("a freed block stays recognisably free in another thread's cache, a transfer batch and its slab") {
  auto* block = static_cast<char*>(engine_malloc(96));
  memset(block, 0x5a, 96);
  REQUIRE(engine_owns(block));
  // Another thread frees it: the block sits in that thread's cache, the state byte unwritten.
  std::thread([block] { engine_free(block); }).join();
  REQUIRE(slot_state(block) == kSlotAllocated);
  REQUIRE(block_is_free(block));
  REQUIRE_FALSE(engine_owns(block));
  // The free fast path turns a second free away (free_slow then reports it as a double free).
  REQUIRE_FALSE(pool_try_free(block));
  REQUIRE(classify_bad_pointer(block).kind == Misuse::kDoubleFree);
  // The exiting thread's cache went to the centre (transfer batches or slabs): still free.
  central_flush_transfers();
  REQUIRE(block_is_free(block));
  REQUIRE_FALSE(pool_try_free(block));
  // Program data in the second word is not a mark: a live block whose bytes are all 0x5a, or
  // that holds a free block's copied mark, frees normally.
  auto* live = static_cast<char*>(engine_malloc(96));
  memcpy(live + 8, block + 8, 8);
  REQUIRE(engine_owns(live));
  REQUIRE(pool_try_free(live));
}

TEST_CASE("a slab reassigned to another class starts with no block starts") {
  engine_release_memory();
  // Fill slabs with 48 B blocks, free them all and return them to their slabs without purging
  // (the purge delay keeps them committed), then take 64 B blocks, which reuse those slabs.
  std::vector<void*> small;
  const size_t count = 3 * (kSlabSize / 48);
  for (size_t i = 0; i < count; ++i) small.push_back(engine_malloc(48));
  std::set<const SlabMeta*> slabs_of_48;
  for (void* p : small) slabs_of_48.insert(slab_of(p));
  for (void* p : small) engine_free(p);
  thread_cache_flush_current();
  central_flush_transfers();
  REQUIRE(pool_arena_stats().slabs_empty >= 2);
  std::vector<void*> blocks;
  size_t reused = 0;
  for (size_t i = 0; i < 3 * (kSlabSize / 64); ++i) {
    auto* q = static_cast<char*>(engine_malloc(64));
    blocks.push_back(q);
    if (slabs_of_48.count(slab_of(q))) ++reused;
    // Granules inside a 64 B block are never block starts, whatever the slab held before.
    for (size_t offset = 16; offset < 64; offset += 16)
      if (slot_state(q + offset) != kSlotNone) FAIL("granule " << offset << " into a 64 B block is a block start");
  }
  REQUIRE(reused > kSlabSize / 64);
  for (void* q : blocks) engine_free(q);
  thread_cache_flush_current();  // the bursts grew the bins; later tests expect them fresh
}

TEST_CASE("a thread cache drains batches to the centre and blocks are reused") {
  const unsigned cls = size_to_class(64);
  const SizeClassInfo& info = kSizeClasses[cls];
  std::vector<void*> blocks;
  for (int i = 0; i < 4000; ++i) blocks.push_back(engine_malloc(64));
  for (void* p : blocks) engine_free(p);
  // The cache keeps at most its max (grown by at most one batch in this single burst); the rest
  // went to the transfer stack or the slabs.
  REQUIRE(t_cache.bins[cls].count() <= info.cache_max + info.batch);
  // Reallocating them needs no slab that was not already in use.
  const size_t never_used = pool_arena_stats().slabs_never_used;
  std::vector<void*> again;
  for (int i = 0; i < 4000; ++i) again.push_back(engine_malloc(64));
  REQUIRE(pool_arena_stats().slabs_never_used == never_used);
  for (void* p : again) engine_free(p);
}

TEST_CASE("a bin refilled and drained in bursts grows to its cap; a free-only bin does not; a flush resets") {
  const unsigned cls = size_to_class(64);
  const SizeClassInfo& info = kSizeClasses[cls];
  engine_release_memory();  // flushes this thread's cache: bins back at their initial size
  CacheBin& bin = t_cache.bins[cls];
  REQUIRE(bin.max == info.cache_max);
  REQUIRE(info.cache_cap > info.cache_max);
  const size_t burst = info.cache_cap;  // 512 blocks of 64 B
  std::vector<void*> blocks(burst);
  auto one_round = [&] {
    for (void*& p : blocks) p = engine_malloc(64);
    for (void* p : blocks) engine_free(p);
  };
  one_round();
  REQUIRE(bin.max == info.cache_max + info.batch);  // one refill-then-overflow cycle: one batch
  for (int round = 0; round < 40; ++round) one_round();
  REQUIRE(bin.max == info.cache_cap);
  // The whole burst now stays in the cache: a round moves nothing in from the centre.
  const uint64_t moved_in = bin.moved_in;
  one_round();
  REQUIRE(bin.moved_in == moved_in);
  REQUIRE(bin.count() == burst);
  engine_release_memory();
  REQUIRE(bin.max == info.cache_max);
  REQUIRE(bin.count() == 0);

  // A thread that only frees (the consumer of a producer) never refills: its bin stays as it was.
  for (void*& p : blocks) p = engine_malloc(64);
  int32_t consumer_max = -1;
  std::thread consumer([&] {
    for (void* p : blocks) engine_free(p);  // overflows the bin many times, never refills it
    consumer_max = t_cache.bins[cls].max;
  });
  consumer.join();
  REQUIRE(consumer_max == info.cache_max);
}

TEST_CASE("empty slabs are released, and purged after the delay or on request") {
  engine_release_memory();
  PoolArenaStats start = pool_arena_stats();
  std::vector<void*> blocks;
  const size_t count = 20 * (kSlabSize / 512);  // twenty slabs of the 512 B class
  for (size_t i = 0; i < count; ++i) {
    blocks.push_back(engine_malloc(512));
    memset(blocks.back(), 1, 512);
  }
  PoolArenaStats full = pool_arena_stats();
  REQUIRE(full.slabs_in_use >= start.slabs_in_use + 20);
  void* first_slab = slab_data(slab_of(blocks.front()));
  REQUIRE(resident_pages(first_slab, kSlabSize) == kSlabSize / kPageSize);
  for (void* p : blocks) engine_free(p);
  engine_release_memory();  // flushes this thread's cache and the transfer batches, purges
  PoolArenaStats after = pool_arena_stats();
  REQUIRE(after.slabs_in_use <= start.slabs_in_use);
  REQUIRE(after.slabs_empty == 0);
  REQUIRE(after.slabs_purged >= 20);
  REQUIRE(resident_pages(first_slab, kSlabSize) == 0);
}

TEST_CASE("frees from other threads reach the allocating thread's pool") {
  // Producer allocates, consumer frees: the consumer's cache drains whole batches which the
  // producer's next refills pick up, so the footprint stays bounded.
  constexpr int kRounds = 200, kPerRound = 1000;
  std::mutex mutex;
  std::vector<void*> handoff;
  std::atomic<bool> done{false};
  std::atomic<size_t> freed{0};
  std::atomic<int> corrupted{0};
  PoolArenaStats before = pool_arena_stats();
  std::thread consumer([&] {
    std::vector<void*> local;
    for (;;) {
      // Everything pushed before done was set is in handoff by the time it is swapped below.
      const bool finished = done.load();
      {
        std::lock_guard<std::mutex> lock(mutex);
        local.swap(handoff);
      }
      for (void* p : local) {
        uint64_t expected;
        memcpy(&expected, static_cast<char*>(p) + 8, sizeof(expected));
        if (expected != uint64_t(uintptr_t(p))) ++corrupted;
        engine_free(p);
        ++freed;
      }
      if (finished) break;
      if (local.empty()) std::this_thread::yield();
      local.clear();
    }
  });
  for (int round = 0; round < kRounds; ++round) {
    std::vector<void*> made;
    for (int i = 0; i < kPerRound; ++i) {
      void* p = engine_malloc(16 + (i % 8) * 16);
      uint64_t tag = uintptr_t(p);
      memcpy(static_cast<char*>(p) + 8, &tag, sizeof(tag));
      made.push_back(p);
    }
    std::lock_guard<std::mutex> lock(mutex);
    handoff.insert(handoff.end(), made.begin(), made.end());
  }
  done = true;
  consumer.join();
  REQUIRE(freed.load() == size_t(kRounds) * kPerRound);
  REQUIRE(corrupted.load() == 0);
  // 200k blocks went through; far fewer slabs were ever needed than 200k blocks would fill.
  PoolArenaStats after = pool_arena_stats();
  size_t grown = (after.slabs_in_use + after.slabs_empty + after.slabs_purged) -
                 (before.slabs_in_use + before.slabs_empty + before.slabs_purged);
  REQUIRE(grown < 200);
}

TEST_CASE("an exiting thread's cache is returned and recycled") {
  size_t live_before = thread_cache_live_count();
  std::vector<void*> survivors(64);
  bool had_cache = true;
  for (int wave = 0; wave < 50; ++wave) {
    std::thread worker([&] {
      std::vector<void*> mine;
      for (int i = 0; i < 300; ++i) mine.push_back(engine_malloc(32 + i % 200));
      for (size_t i = 0; i < mine.size(); ++i) {
        if (i < survivors.size()) {
          survivors[i] = mine[i];  // outlives the thread, freed below by the main thread
        } else {
          engine_free(mine[i]);
        }
      }
      had_cache = had_cache && t_cache.state == ThreadState::kActive;
    });
    worker.join();
    for (void* p : survivors) engine_free(p);
  }
  REQUIRE(had_cache);
  REQUIRE(thread_cache_live_count() == live_before);
}

TEST_CASE("many threads allocate and free concurrently without losing or sharing blocks") {
  constexpr int kThreads = 8, kOps = 100000;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random{unsigned(t)};
      std::vector<std::pair<unsigned char*, size_t>> live;
      for (int op = 0; op < kOps; ++op) {
        if (live.size() < 500 && (random() & 1)) {
          size_t size = 1 + random() % 2048;
          auto* p = static_cast<unsigned char*>(engine_malloc(size));
          memset(p, int(uintptr_t(p) >> 4) & 0xff, size);
          live.emplace_back(p, size);
        } else if (!live.empty()) {
          size_t index = random() % live.size();
          auto [p, size] = live[index];
          unsigned char expected = (uintptr_t(p) >> 4) & 0xff;
          for (size_t i = 0; i < size; ++i)
            if (p[i] != expected) {
              ++failures;
              break;
            }
          engine_free(p);
          live[index] = live.back();
          live.pop_back();
        }
      }
      for (auto [p, size] : live) engine_free(p);
    });
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(failures.load() == 0);
}

TEST_CASE("the transfer stack hands out each batch once under contention") {
  const unsigned cls = size_to_class(96);
  const unsigned batch = kSizeClasses[cls].batch;
  central_flush_transfers();
  // Build batches from fresh blocks and push/pop them from two threads at once.
  std::vector<FreeBlock*> batches;
  for (int b = 0; b < 8; ++b) {
    FreeBlock* chain = nullptr;
    REQUIRE(central_take(cls, batch, &chain) == batch);
    batches.push_back(chain);
  }
  std::atomic<int> popped_total{0};
  std::atomic<int> refused{0};
  auto worker = [&](std::vector<FreeBlock*> mine) {
    for (int round = 0; round < 20000; ++round) {
      for (FreeBlock* chain : mine)
        if (!central_push_batch(cls, chain)) ++refused;
      mine.clear();
      while (mine.size() < 4) {
        FreeBlock* chain = central_pop_batch(cls);
        if (chain) mine.push_back(chain);
      }
    }
    popped_total += int(mine.size());
    for (FreeBlock* chain : mine) central_return(cls, chain, batch);
  };
  std::thread a(worker, std::vector<FreeBlock*>(batches.begin(), batches.begin() + 4));
  std::thread b(worker, std::vector<FreeBlock*>(batches.begin() + 4, batches.end()));
  a.join();
  b.join();
  REQUIRE(refused.load() == 0);
  REQUIRE(popped_total.load() == 8);
  REQUIRE(central_pop_batch(cls) == nullptr);
}

TEST_CASE("defragmentation moves blocks out of sparse slabs and the slabs are returned") {
  const unsigned cls = size_to_class(256);
  const size_t per_slab = kSizeClasses[cls].capacity;
  engine_release_memory();
  std::vector<unsigned char*> blocks;
  for (size_t i = 0; i < 40 * per_slab; ++i) blocks.push_back(static_cast<unsigned char*>(engine_malloc(256)));
  // Keep one block in five, spread over every slab: forty slabs, each a fifth used.
  std::mt19937 random{7};
  std::vector<unsigned char*> kept;
  for (unsigned char* p : blocks) {
    if (random() % 5 == 0) {
      memset(p, int(uintptr_t(p) >> 8) & 0xff, 256);
      kept.push_back(p);
    } else {
      engine_free(p);
    }
  }
  engine_release_memory();  // the freed blocks back in their slabs
  const size_t before = pool_arena_stats().slabs_in_use;
  ProcessStats usage_before = process_stats();
  size_t hinted = 0, moved = 0;
  for (unsigned char*& p : kept) {
    if (engine_defrag_hint(p)) ++hinted;
    unsigned char* q = static_cast<unsigned char*>(engine_defrag_move(p));
    if (q != p) {
      ++moved;
      REQUIRE_FALSE(engine_owns(p));
      REQUIRE(engine_owns(q));
      for (int i = 0; i < 256; ++i)
        if (q[i] != ((uintptr_t(p) >> 8) & 0xff)) FAIL("byte " << i << " of a moved block differs");
      memset(q, int(uintptr_t(q) >> 8) & 0xff, 256);  // re-tag by the new address
      p = q;
    }
  }
  REQUIRE(hinted > 0);
  REQUIRE(moved > 0);
  REQUIRE(process_stats().current_bytes == usage_before.current_bytes);  // a move changes no totals
  engine_release_memory();
  const size_t after = pool_arena_stats().slabs_in_use;
  // About kept / per_slab slabs are needed; sparse ones emptied and went back.
  REQUIRE(after + 15 <= before);
  REQUIRE(engine_defrag_move(nullptr) == nullptr);
  int on_stack = 0;
  REQUIRE_FALSE(engine_defrag_hint(&on_stack));
  for (unsigned char* p : kept) {
    for (int i = 0; i < 256; ++i)
      if (p[i] != ((uintptr_t(p) >> 8) & 0xff)) FAIL("byte " << i << " of a kept block differs");
    engine_free(p);
  }
}
