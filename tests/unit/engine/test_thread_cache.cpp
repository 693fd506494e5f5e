// engine/thread_cache: bins draining to the centre and refilling from it, bins growing under
// bursts, frees from other threads, exiting threads' caches, many threads at once, and the drain
// the optimizer requests of idle threads.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "central.hpp"
#include "engine.hpp"
#include "release.hpp"
#include "engine/slab_test_util.hpp"

using namespace memf;

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

TEST_CASE("a refill takes a slab's whole free list, the bin growing to hold it within the class's cap") {
  const unsigned cls = size_to_class(96);  // no test before this one uses it
  const SizeClassInfo& info = kSizeClasses[cls];
  engine_release_memory();  // bins back at their initial size, nothing parked
  CacheBin& bin = t_cache.bins[cls];
  REQUIRE(bin.max == info.cache_max);
  REQUIRE(bin.count() == 0);
  // A fresh slab, all of it out; then 600 of its blocks back: one list longer than the bin holds.
  const std::vector<FreeBlock*> blocks = slab_test::take_whole_slab(cls);
  const uint32_t on_list = 600;
  REQUIRE(on_list > uint32_t(bin.max) + 1);
  REQUIRE(on_list <= uint32_t(info.cache_cap) + 1);
  slab_test::give_back_one_by_one(cls, blocks, 0, on_list);
  const uint64_t moved_in = bin.moved_in;
  std::vector<void*> got{engine_malloc(96)};
  // One refill moved the whole list in; the bin grew to hold the rest of it.
  REQUIRE(bin.moved_in - moved_in == on_list);
  REQUIRE(bin.max == int32_t(on_list - 1));
  REQUIRE(bin.count() == on_list - 1);
  REQUIRE(slab_of(got[0])->free == nullptr);
  for (uint32_t i = 1; i < on_list; ++i) got.push_back(engine_malloc(96));
  REQUIRE(bin.moved_in - moved_in == on_list);  // all from the bin
  REQUIRE(std::set<void*>(got.begin(), got.end()) == std::set<void*>(blocks.begin(), blocks.begin() + on_list));
  for (void* p : got) engine_free(p);
  slab_test::give_back_one_by_one(cls, blocks, on_list, blocks.size());
  engine_release_memory();
  REQUIRE(bin.max == info.cache_max);  // a flush puts it back
}

TEST_CASE("a bin refilled and drained in bursts grows to its cap; a free-only bin does not; a flush resets") {
  const unsigned cls = size_to_class(64);
  const SizeClassInfo& info = kSizeClasses[cls];
  engine_release_memory();  // flushes this thread's cache: bins back at their initial size
  CacheBin& bin = t_cache.bins[cls];
  REQUIRE(bin.max == info.cache_max);
  REQUIRE(info.cache_cap > info.cache_max);
  const size_t burst = info.cache_cap;  // 2048 blocks of 64 B
  std::vector<void*> blocks(burst);
  auto one_round = [&] {
    for (void*& p : blocks) p = engine_malloc(64);
    for (void* p : blocks) engine_free(p);
  };
  one_round();
  REQUIRE(bin.max == info.cache_max + info.batch);  // one refill-then-overflow cycle: one batch
  // A batch per round: (2048 - 128) / 32 = 60 rounds.
  for (int round = 0; round < 80; ++round) one_round();
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

TEST_CASE("frees from other threads reach the allocating thread's pool") {
  // Producer allocates, consumer frees: the consumer's cache drains whole batches which the
  // producer's next refills pick up, so the footprint stays bounded. The producer lets the
  // consumer keep up (at most two rounds out at once), so the bound holds however the threads are
  // scheduled: were the freed blocks not reused, 200 rounds would take far more fresh slabs.
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
    {
      std::lock_guard<std::mutex> lock(mutex);
      handoff.insert(handoff.end(), made.begin(), made.end());
    }
    while (freed.load() < size_t(round) * kPerRound) std::this_thread::yield();  // the rounds before
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

TEST_CASE("a thread's free before its first allocation returns the block to its slab, not to the thread's bin") {
  // The pattern of mimalloc-bench's cache-scratch: the creator allocates one small block per
  // worker, side by side; each worker frees its block and then allocates its own of that size.
  // Kept in the worker's bin, the creator's block would be the worker's first allocation, on a
  // line the creator's other blocks share.
  const unsigned cls = size_to_class(1);
  void* theirs = engine_malloc(1);
  void* neighbour = engine_malloc(1);
  void* mine = nullptr;
  uint32_t count_after_free = 1;
  int32_t room_after_free = 0, max_after_free = -1;
  bool active_after_free = false;
  std::thread worker([&] {
    engine_free(theirs);
    const CacheBin& bin = t_cache.bins[cls];
    count_after_free = bin.count();
    room_after_free = bin.room;
    max_after_free = bin.max;
    active_after_free = t_cache.state == ThreadState::kActive;
    mine = engine_malloc(1);
    engine_free(mine);
  });
  worker.join();
  REQUIRE(active_after_free);      // the free set the thread up
  REQUIRE(count_after_free == 0);  // and left nothing in its bin
  REQUIRE(room_after_free == max_after_free);
  REQUIRE(mine != theirs);
  // From another slab: the worker refilled from its own shard.
  REQUIRE(slab_index(mine) != slab_index(theirs));
  // The block is free in its slab, and allocatable again.
  std::vector<void*> got;
  while (got.size() < (size_t(1) << 17) && (got.empty() || got.back() != theirs)) got.push_back(engine_malloc(1));
  REQUIRE(got.back() == theirs);
  for (void* p : got) engine_free(p);
  engine_free(neighbour);
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

TEST_CASE("after thread_cache_request_drain(), a thread holding cached blocks flushes them on its next refill") {
  const unsigned cls = size_to_class(48);
  const SizeClassInfo& info = kSizeClasses[cls];
  // The worker's figures, read after join.
  uint32_t cached = 0, after_unrequested_refill = 0, after_free = 0, after_requested_refill = 0;
  uint64_t moved_out_before = 0, moved_out_after = 0;
  int32_t max_after = 0;
  bool still_free = true;
  std::atomic<int> phase{0};
  std::thread worker([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 200; ++i) blocks.push_back(engine_malloc(48));
    for (void* p : blocks) engine_free(p);
    const CacheBin& bin = t_cache.bins[cls];
    cached = bin.count();
    // Without a request, a refill of another class leaves this bin alone.
    engine_free(engine_malloc(3000));  // the 3000-B bin is empty: a refill
    after_unrequested_refill = bin.count();
    phase.store(1, std::memory_order_release);
    while (phase.load(std::memory_order_acquire) != 2) std::this_thread::yield();
    // The request is in. A free is no refill: nothing is flushed yet.
    moved_out_before = t_cache.counters->moved_out[cls];
    void* one = engine_malloc(48);  // from the bin: no refill
    engine_free(one);
    after_free = bin.count();
    // A class whose bin is empty: its refill answers the request first.
    void* big = engine_malloc(6000);
    after_requested_refill = bin.count();
    moved_out_after = t_cache.counters->moved_out[cls];
    max_after = bin.max;
    for (void* p : blocks) still_free = still_free && block_is_free(p);
    engine_free(big);
  });
  while (phase.load(std::memory_order_acquire) != 1) std::this_thread::yield();
  thread_cache_request_drain();
  phase.store(2, std::memory_order_release);
  worker.join();
  REQUIRE(cached > 0);
  REQUIRE(after_unrequested_refill == cached);
  REQUIRE(after_free == cached);
  REQUIRE(after_requested_refill == 0);
  REQUIRE(moved_out_after == moved_out_before + cached);  // every cached block went to the centre
  REQUIRE(max_after == info.cache_max);  // the bin stays usable, at its initial size
  REQUIRE(still_free);  // the flushed blocks are free blocks in the centre
}

TEST_CASE("a thread that only frees answers a drain request when its bin next fills") {
  // A consumer never refills: it answers on the overflow that would have drained one batch, by
  // giving back its whole cache (the just-freed block included).
  const unsigned cls = size_to_class(80);
  const SizeClassInfo& info = kSizeClasses[cls];
  // Blocks the producer (this thread) hands over: enough to fill the consumer's bin twice.
  std::vector<void*> blocks;
  for (unsigned i = 0; i < 3u * info.cache_max; ++i) blocks.push_back(engine_malloc(80));
  uint32_t count_before_request = 0, count_after_overflow = 0;
  uint64_t moved_out_before = 0, moved_out_after = 0;
  std::atomic<int> phase{0};
  std::thread consumer([&] {
    const CacheBin& bin = t_cache.bins[cls];
    // Fill the bin to its max without overflowing it (the first free sets the thread up).
    size_t next = 0;
    engine_free(blocks[next++]);
    while (next < blocks.size() && bin.room > 0) engine_free(blocks[next++]);
    count_before_request = bin.count();
    phase.store(1, std::memory_order_release);
    while (phase.load(std::memory_order_acquire) != 2) std::this_thread::yield();
    moved_out_before = t_cache.counters->moved_out[cls];
    engine_free(blocks[next++]);  // overflows: answers the request
    count_after_overflow = bin.count();
    moved_out_after = t_cache.counters->moved_out[cls];
    while (next < blocks.size()) engine_free(blocks[next++]);
  });
  while (phase.load(std::memory_order_acquire) != 1) std::this_thread::yield();
  thread_cache_request_drain();
  phase.store(2, std::memory_order_release);
  consumer.join();
  REQUIRE(count_before_request == uint32_t(info.cache_max));
  REQUIRE(count_after_overflow == 0);
  REQUIRE(moved_out_after == moved_out_before + count_before_request + 1);
}

TEST_CASE("the fast path's direct table leads every size up to its limit to its class's bin; larger pool sizes pop by the class table") {
  void* first = engine_malloc(8);  // the thread is set up
  engine_free(first);
  REQUIRE(t_cache.state == ThreadState::kActive);
  REQUIRE(t_cache.fast_alloc_bound == kDirectSizeLimit + 1);
  REQUIRE(t_cache.medium_alloc_bound == config().pool_limit + 1);
  for (size_t size = 0; size <= kDirectSizeLimit; ++size)
    REQUIRE(t_cache.bin_of_size[size_lookup_index(size)] == &t_cache.bins[size_to_class(size)]);
  // A size above the table: its free pushes it on its bin, and the next malloc of the class
  // pops it from there (LIFO), counted as an allocation like any other.
  for (size_t size : {kDirectSizeLimit + 1, size_t(3000), config().pool_limit}) {
    const unsigned cls = size_to_class(size);
    void* p = engine_malloc(size);
    REQUIRE(p != nullptr);
    engine_free(p);
    CacheBin& bin = t_cache.bins[cls];
    const uint32_t count = bin.count();
    const uint64_t allocations = bin_allocations(t_cache, cls);
    REQUIRE(bin.head == p);
    void* again = engine_malloc(size);
    REQUIRE(again == p);
    REQUIRE(bin.count() == count - 1);
    REQUIRE(bin_allocations(t_cache, cls) == allocations + 1);
    engine_free(again);
  }
}

TEST_CASE("a thread's counters are handed on at its exit and start from zero in the next thread") {
  const unsigned cls = size_to_class(48);
  ThreadCounters* first_counters = nullptr;
  ThreadCounters* second_counters = nullptr;
  uint64_t drained_first = 0, drained_second = ~uint64_t(0);
  std::thread first([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 2000; ++i) blocks.push_back(engine_malloc(48));
    for (void* p : blocks) engine_free(p);  // drains past the bin's max
    first_counters = t_cache.counters;
    drained_first = t_cache.counters->moved_out[cls];
  });
  first.join();
  std::thread second([&] {
    engine_free(engine_malloc(48));
    second_counters = t_cache.counters;
    drained_second = t_cache.counters->moved_out[cls];
  });
  second.join();
  REQUIRE(first_counters != nullptr);
  REQUIRE(drained_first > 0);
  // The block the first thread handed on, its figures gone.
  REQUIRE(second_counters == first_counters);
  REQUIRE(drained_second == 0);
}
