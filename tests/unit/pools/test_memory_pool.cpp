// memf::MemoryPool: every method, the seed's promises (expansion, reuse, thread safety with
// cross-thread frees, shrink and clear accounting), bad input, the pmr adapter and PoolAllocator.
#include <catch2/catch.hpp>

#include <memf/memf.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <list>
#include <map>
#include <memory_resource>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_util.hpp"

using pool_test::category_bytes;

using memf::MemoryPool;

TEST_CASE("a new pool has the seed's defaults and its initial capacity") {
  MemoryPool pool(64);
  REQUIRE(pool.getObjectSize() == 64);
  REQUIRE(pool.getCapacity() >= 64);
  REQUIRE(pool.getUsedCount() == 0);
  REQUIRE(pool.getMemoryUsage() >= pool.getCapacity() * 64);
  REQUIRE(std::string(pool.getName()) == "MemoryPool(64)");
  REQUIRE(pool.getAlignment() == 16);

  MemoryPool small(20, 1000, "small things");  // 24-byte slots: 8-byte aligned
  REQUIRE(small.getObjectSize() == 20);
  REQUIRE(small.getCapacity() >= 1000);
  REQUIRE(small.getAlignment() == 8);
  REQUIRE(std::string(small.getName()) == "small things");
}

TEST_CASE("allocate hands out distinct aligned writable objects and deallocate takes them back") {
  MemoryPool pool(40, 16);
  std::vector<char*> objects;
  for (int i = 0; i < 100; ++i) {
    auto* p = static_cast<char*>(pool.allocate());
    REQUIRE(p != nullptr);
    REQUIRE(uintptr_t(p) % pool.getAlignment() == 0);
    memset(p, i, 40);
    objects.push_back(p);
  }
  REQUIRE(pool.getUsedCount() == 100);
  std::set<char*> distinct(objects.begin(), objects.end());
  REQUIRE(distinct.size() == 100);
  // No object overlaps another: each still holds its own byte pattern.
  for (int i = 0; i < 100; ++i)
    for (int b = 0; b < 40; ++b) REQUIRE(objects[size_t(i)][b] == char(i));
  for (char* p : objects) pool.deallocate(p);
  REQUIRE(pool.getUsedCount() == 0);
  pool.deallocate(nullptr);  // a no-op, like free(NULL)
  REQUIRE(pool.getUsedCount() == 0);
}

TEST_CASE("a freed object is reused before the pool grows") {
  MemoryPool pool(64, 64);
  void* a = pool.allocate();
  pool.deallocate(a);
  REQUIRE(pool.allocate() == a);
  const size_t capacity = pool.getCapacity();
  for (int round = 0; round < 1000; ++round) {
    void* p = pool.allocate();
    pool.deallocate(p);
  }
  REQUIRE(pool.getCapacity() == capacity);
  pool.deallocate(a);
}

TEST_CASE("the pool grows automatically when full") {
  MemoryPool pool(128, 8);
  const size_t initial = pool.getCapacity();
  std::vector<void*> objects;
  for (size_t i = 0; i < initial * 20; ++i) objects.push_back(pool.allocate());
  REQUIRE(pool.getCapacity() >= initial * 20);
  REQUIRE(pool.getUsedCount() == initial * 20);
  REQUIRE(pool.getMemoryUsage() >= pool.getCapacity() * 128);
  REQUIRE(std::set<void*>(objects.begin(), objects.end()).size() == objects.size());
  for (void* p : objects) pool.deallocate(p);
  REQUIRE(pool.getUsedCount() == 0);
}

TEST_CASE("large objects and a zero initial capacity work") {
  MemoryPool big(300000, 0);
  REQUIRE(big.getCapacity() == 0);
  void* a = big.allocate();
  void* b = big.allocate();
  REQUIRE(a != b);
  memset(a, 1, 300000);
  memset(b, 2, 300000);
  REQUIRE(static_cast<char*>(a)[299999] == 1);
  REQUIRE(big.getCapacity() >= 2);
  big.deallocate(a);
  big.deallocate(b);
  REQUIRE(big.getUsedCount() == 0);
}

TEST_CASE("shrink returns fully free chunks and the tracker follows") {
  MemoryPool pool(64, 64, "test.shrink");
  REQUIRE(category_bytes("test.shrink") == pool.getMemoryUsage());
  std::vector<void*> objects;
  for (int i = 0; i < 20000; ++i) objects.push_back(pool.allocate());
  const size_t grown = pool.getMemoryUsage();
  REQUIRE(category_bytes("test.shrink") == grown);

  // One object kept: its chunk stays, every other chunk goes.
  void* kept = objects[12345];
  for (void* p : objects)
    if (p != kept) pool.deallocate(p);
  pool.shrink();
  REQUIRE(pool.getUsedCount() == 1);
  REQUIRE(pool.getCapacity() >= 1);
  REQUIRE(pool.getMemoryUsage() < grown / 10);
  REQUIRE(pool.getLastReleased() == grown - pool.getMemoryUsage());
  REQUIRE(category_bytes("test.shrink") == pool.getMemoryUsage());
  memset(kept, 7, 64);  // still usable

  pool.deallocate(kept);
  pool.shrink();
  REQUIRE(pool.getCapacity() == 0);
  REQUIRE(pool.getMemoryUsage() == 0);
  REQUIRE(category_bytes("test.shrink") == 0);

  // It grows again from nothing.
  void* p = pool.allocate();
  REQUIRE(pool.getCapacity() > 0);
  REQUIRE(category_bytes("test.shrink") == pool.getMemoryUsage());
  pool.deallocate(p);
}

TEST_CASE("clear releases every object and all memory at once") {
  pool_test::set_on_error("report");
  MemoryPool pool(48, 64, "test.clear");
  std::vector<void*> objects;
  for (int i = 0; i < 5000; ++i) objects.push_back(pool.allocate());
  REQUIRE(pool.getUsedCount() == 5000);
  const size_t usage = pool.getMemoryUsage();
  pool.clear();
  REQUIRE(pool.getUsedCount() == 0);
  REQUIRE(pool.getCapacity() == 0);
  REQUIRE(pool.getMemoryUsage() == 0);
  REQUIRE(pool.getLastReleased() == usage);
  REQUIRE(category_bytes("test.clear") == 0);

  // An outstanding pointer is invalid now: deallocating it is reported and changes nothing.
  std::string err = pool_test::stderr_of([&] { pool.deallocate(objects[100]); });
  REQUIRE(err.find("memf: error: invalid pointer") == 0);
  REQUIRE(err.find("no live object there in MemoryPool \"test.clear\"") != std::string::npos);
  REQUIRE(err.find("; ignored\n") != std::string::npos);
  REQUIRE(pool.getUsedCount() == 0);

  // The pool works again after clear, from fresh memory.
  std::vector<void*> again;
  for (int i = 0; i < 3000; ++i) again.push_back(pool.allocate());
  REQUIRE(pool.getUsedCount() == 3000);
  REQUIRE(std::set<void*>(again.begin(), again.end()).size() == 3000);
  for (void* p : again) pool.deallocate(p);
  REQUIRE(pool.getUsedCount() == 0);
  pool_test::set_on_error("abort");
}

TEST_CASE("double free, foreign and interior pointers are reported and ignored in report mode") {
  pool_test::set_on_error("report");
  MemoryPool pool(64, 64, "test.bad");
  void* a = pool.allocate();
  void* b = pool.allocate();
  pool.deallocate(a);

  std::string err = pool_test::stderr_of([&] { pool.deallocate(a); });
  char expected[128];
  snprintf(expected, sizeof(expected), "memf: error: double free of %p (MemoryPool \"test.bad\", object size 64 B)", a);
  REQUIRE(err.find(expected) == 0);
  REQUIRE(err.find("memf::MemoryPool::deallocate()") != std::string::npos);
  REQUIRE(std::count(err.begin(), err.end(), '\n') == 1);
  REQUIRE(pool.getUsedCount() == 1);
  // The pool was not corrupted: a is handed out once, not twice.
  void* c = pool.allocate();
  void* d = pool.allocate();
  REQUIRE(c != d);
  REQUIRE((c == a) != (d == a));

  int on_stack = 0;
  err = pool_test::stderr_of([&] { pool.deallocate(&on_stack); });
  REQUIRE(err.find("not allocated by MemoryPool \"test.bad\"") != std::string::npos);

  MemoryPool other(64);
  void* theirs = other.allocate();
  err = pool_test::stderr_of([&] { pool.deallocate(theirs); });
  REQUIRE(err.find("not allocated by MemoryPool \"test.bad\"") != std::string::npos);
  other.deallocate(theirs);

  err = pool_test::stderr_of([&] { pool.deallocate(static_cast<char*>(b) + 8); });
  snprintf(expected, sizeof(expected), "8 bytes into the object at %p", b);
  REQUIRE(err.find(expected) != std::string::npos);
  err = pool_test::stderr_of([&] { pool.deallocate(static_cast<char*>(b) + 3); });
  REQUIRE(err.find("3 bytes into the object") != std::string::npos);
  REQUIRE(pool.getUsedCount() == 3);

  pool.deallocate(b);
  pool.deallocate(c);
  pool.deallocate(d);
  REQUIRE(pool.getUsedCount() == 0);
  pool_test::set_on_error("abort");
}

TEST_CASE("slots that were never handed out, or whose chunk was released, are not taken back") {
  pool_test::set_on_error("report");
  // 24-byte slots in 4 KiB chunks: a chunk's state bytes (512) are less than a page, so
  // releasing the chunk clears them instead of purging them.
  MemoryPool pool(24, 64, "test.stale");
  auto* a = static_cast<char*>(pool.allocate());
  // The refill carved a batch: a's neighbours are carved and in this thread's cache, or not
  // carved yet; neither was handed out.
  std::string err = pool_test::stderr_of([&] { pool.deallocate(a - 24); });
  REQUIRE(err.find("memf: error: ") == 0);
  err = pool_test::stderr_of([&] { pool.deallocate(a + 24); });
  REQUIRE(err.find("memf: error: ") == 0);
  REQUIRE(pool.getUsedCount() == 1);
  pool.deallocate(a);
  pool.shrink();
  REQUIRE(pool.getCapacity() == 0);
  err = pool_test::stderr_of([&] { pool.deallocate(a); });
  REQUIRE(err.find("no live object there in MemoryPool \"test.stale\"") != std::string::npos);
  REQUIRE(pool.getUsedCount() == 0);
  // Nothing stale came back: the next objects are distinct and the pool's count is exact.
  std::set<void*> fresh;
  for (int i = 0; i < 500; ++i) REQUIRE(fresh.insert(pool.allocate()).second);
  REQUIRE(pool.getUsedCount() == 500);
  for (void* p : fresh) pool.deallocate(p);
  REQUIRE(pool.getUsedCount() == 0);

  MemoryPool tiny(1, 64, "test.tiny");  // a slot holds a link and a mark: at least 16 bytes
  void* t = tiny.allocate();
  const ptrdiff_t apart = static_cast<char*>(tiny.allocate()) - static_cast<char*>(t);
  REQUIRE((apart == 16 || apart == -16));
  tiny.deallocate(t);
  err = pool_test::stderr_of([&] { tiny.deallocate(t); });
  REQUIRE(err.find("double free") != std::string::npos);
  pool_test::set_on_error("abort");
}

TEST_CASE("bad input aborts with MEMF_ON_ERROR=abort") {
  std::string err;
  REQUIRE(pool_test::aborts_in_child(
      [] {
        MemoryPool pool(32);
        void* p = pool.allocate();
        pool.deallocate(p);
        pool.deallocate(p);
      },
      &err));
  REQUIRE(err.find("memf: error: double free of 0x") == 0);
  REQUIRE(err.find("; aborting (MEMF_ON_ERROR=abort)\n") != std::string::npos);
}

TEST_CASE("threads allocate and free concurrently, also each other's objects") {
  MemoryPool pool(48, 64, "test.threads");
  constexpr int kThreads = 4;
  constexpr int kRounds = 60000;
  std::mutex handoff_lock;
  std::vector<uint64_t*> handoff;
  std::atomic<int> corrupted{0};
  auto worker = [&](int id) {
    std::mt19937 rng{unsigned(id)};
    std::vector<uint64_t*> mine;
    for (int i = 0; i < kRounds; ++i) {
      const unsigned r = rng() % 8;
      if (r < 4 || mine.empty()) {
        auto* p = static_cast<uint64_t*>(pool.allocate());
        for (int w = 0; w < 6; ++w) p[w] = uint64_t(p) ^ uint64_t(w);
        mine.push_back(p);
      } else {
        uint64_t* p = mine.back();
        mine.pop_back();
        for (int w = 0; w < 6; ++w)
          if (p[w] != (uint64_t(p) ^ uint64_t(w))) corrupted.fetch_add(1);
        if (r == 7) {
          std::lock_guard<std::mutex> guard(handoff_lock);
          handoff.push_back(p);  // another thread frees it
        } else {
          pool.deallocate(p);
        }
      }
      if (i % 64 == 0) {
        std::vector<uint64_t*> theirs;
        {
          std::lock_guard<std::mutex> guard(handoff_lock);
          theirs.swap(handoff);
        }
        for (uint64_t* p : theirs) pool.deallocate(p);
      }
    }
    for (uint64_t* p : mine) pool.deallocate(p);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& t : threads) t.join();
  for (uint64_t* p : handoff) pool.deallocate(p);
  REQUIRE(corrupted.load() == 0);
  // Exited threads gave their cached slots back: nothing is used and every chunk can go.
  REQUIRE(pool.getUsedCount() == 0);
  pool.shrink();
  REQUIRE(pool.getCapacity() == 0);
  REQUIRE(category_bytes("test.threads") == 0);
}

TEST_CASE("threads refilling at once take their slots from chunks of their own") {
  // 1024 objects of 64 B: chunks of 64 KiB, the first one held from the start at the range's base.
  MemoryPool pool(64, 1024, "test.home");
  constexpr size_t kChunk = 64 * 1024;
  constexpr int kPerThread = 1000;  // several refills each
  std::vector<uintptr_t> slots[2];
  std::atomic<int> ready{0}, done{0};
  auto worker = [&](int id) {
    ready.fetch_add(1);
    while (ready.load() < 2) std::this_thread::yield();
    for (int i = 0; i < kPerThread; ++i) {
      void* p = pool.allocate();
      std::memset(p, id, 64);
      slots[id].push_back(uintptr_t(p));
    }
    // Neither thread exits (giving its cached slots and its home back) before both are done.
    done.fetch_add(1);
    while (done.load() < 2) std::this_thread::yield();
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  const uintptr_t base = std::min(*std::min_element(slots[0].begin(), slots[0].end()),
                                  *std::min_element(slots[1].begin(), slots[1].end()));
  std::set<uintptr_t> chunks[2];
  for (int id = 0; id < 2; ++id)
    for (uintptr_t p : slots[id]) chunks[id].insert((p - base) / kChunk);
  std::string sets;
  for (int id = 0; id < 2; ++id) {
    sets.append(" t").append(std::to_string(id)).append(":");
    for (uintptr_t x : chunks[id]) sets.append(" ").append(std::to_string(x));
  }
  INFO("chunks of each thread:" << sets);
  for (uintptr_t c : chunks[0]) REQUIRE(chunks[1].count(c) == 0);
  for (int id = 0; id < 2; ++id)
    for (uintptr_t p : slots[id]) pool.deallocate(reinterpret_cast<void*>(p));
  // The threads are gone: their home chunks are free for anyone, and all of them can go.
  REQUIRE(pool.getUsedCount() == 0);
  pool.shrink();
  REQUIRE(pool.getCapacity() == 0);
}

TEST_CASE("getUsedCount sees live threads' objects and not their caches") {
  MemoryPool pool(64);
  std::atomic<int> phase{0};
  std::thread holder([&] {
    std::vector<void*> objects;
    for (int i = 0; i < 1000; ++i) objects.push_back(pool.allocate());
    for (int i = 0; i < 500; ++i) {
      pool.deallocate(objects.back());
      objects.pop_back();
    }
    phase = 1;
    while (phase.load() != 2) std::this_thread::yield();
    for (void* p : objects) pool.deallocate(p);
  });
  while (phase.load() != 1) std::this_thread::yield();
  REQUIRE(pool.getUsedCount() == 500);
  phase = 2;
  holder.join();
  REQUIRE(pool.getUsedCount() == 0);
}

TEST_CASE("shrinkAllPools shrinks every live pool") {
  MemoryPool a(64, 64, "test.all.a");
  MemoryPool b(256, 64, "test.all.b");
  std::vector<void*> objects;
  for (int i = 0; i < 5000; ++i) objects.push_back(a.allocate());
  for (void* p : objects) a.deallocate(p);
  objects.clear();
  for (int i = 0; i < 5000; ++i) objects.push_back(b.allocate());
  for (void* p : objects) b.deallocate(p);
  const size_t held = a.getMemoryUsage() + b.getMemoryUsage();
  REQUIRE(memf::shrinkAllPools() >= held);
  REQUIRE(a.getMemoryUsage() == 0);
  REQUIRE(b.getMemoryUsage() == 0);
  void* p = a.allocate();
  const size_t usage = a.getMemoryUsage();
  REQUIRE(usage > 0);
  memf::shrinkAllPools();  // a's one live object keeps its chunk (the C spelling: tests/unit/api)
  REQUIRE(a.getUsedCount() == 1);
  REQUIRE(a.getMemoryUsage() > 0);
  a.deallocate(p);
}

TEST_CASE("many pools at once, beyond the per-thread cache table, still work") {
  std::vector<std::unique_ptr<MemoryPool>> pools;
  for (int i = 0; i < 1100; ++i) pools.push_back(std::make_unique<MemoryPool>(16, 4));
  std::vector<void*> objects;
  for (auto& pool : pools) objects.push_back(pool->allocate());
  for (size_t i = 0; i < pools.size(); ++i) {
    REQUIRE(pools[i]->getUsedCount() == 1);
    pools[i]->deallocate(objects[i]);
    REQUIRE(pools[i]->getUsedCount() == 0);
  }
  // Pools without a cache entry never see each other's objects.
  void* last = pools[1099]->allocate();
  pools[1099]->deallocate(last);
  void* other = pools[1098]->allocate();
  REQUIRE(other != last);
  pools[1098]->deallocate(other);
  REQUIRE(pools[1098]->getUsedCount() == 0);
  REQUIRE(pools[1099]->getUsedCount() == 0);
}

TEST_CASE("MemoryPoolResource serves pmr node containers from the pool") {
  MemoryPool pool(64, 64);
  std::pmr::monotonic_buffer_resource upstream_arena;
  memf::MemoryPoolResource resource(pool);
  {
    std::pmr::list<int> list(&resource);
    for (int i = 0; i < 1000; ++i) list.push_back(i);
    REQUIRE(pool.getUsedCount() == 1000);
    int expected = 0;
    for (int v : list) REQUIRE(v == expected++);
    std::pmr::map<int, double> map(&resource);
    for (int i = 0; i < 500; ++i) map[i] = i * 0.5;
    REQUIRE(pool.getUsedCount() == 1500);
    REQUIRE(map[250] == 125.0);
    // Too big for a slot: from upstream, not the pool.
    void* big = resource.allocate(1000, 8);
    REQUIRE(pool.getUsedCount() == 1500);
    resource.deallocate(big, 1000, 8);
  }
  REQUIRE(pool.getUsedCount() == 0);
  memf::MemoryPoolResource same(pool);
  MemoryPool other_pool(64);
  memf::MemoryPoolResource other(other_pool);
  REQUIRE(resource.is_equal(same));
  REQUIRE_FALSE(resource.is_equal(other));
}

TEST_CASE("PoolAllocator serves std::list and std::map nodes from shared pools") {
  struct Item {
    char bytes[40];
  };
  std::list<Item, memf::PoolAllocator<Item>> list;
#ifdef __GLIBCXX__
  MemoryPool& nodes = memf::detail::shared_node_pool(sizeof(std::_List_node<Item>));
  const size_t before = nodes.getUsedCount();
#endif
  for (int i = 0; i < 1000; ++i) list.push_back(Item{{char(i)}});
#ifdef __GLIBCXX__
  REQUIRE(nodes.getUsedCount() == before + 1000);
  REQUIRE(std::string(nodes.getName()).find("PoolAllocator(") == 0);
#endif
  int i = 0;
  for (const Item& item : list) REQUIRE(item.bytes[0] == char(i++));
  list.clear();
#ifdef __GLIBCXX__
  REQUIRE(nodes.getUsedCount() == before);
#endif

  std::map<int, std::string, std::less<int>, memf::PoolAllocator<std::pair<const int, std::string>>> map;
  for (int k = 0; k < 2000; ++k) map.emplace(k, std::to_string(k));
  for (int k = 0; k < 2000; k += 2) map.erase(k);
  REQUIRE(map.size() == 1000);
  REQUIRE(map.at(1999) == "1999");
  REQUIRE(map.begin()->first == 1);

  memf::PoolAllocator<int> a;
  memf::PoolAllocator<double> b;
  REQUIRE(a == b);
  int* array = a.allocate(100);  // arrays bypass the pools
  array[99] = 5;
  a.deallocate(array, 100);
}

TEST_CASE("shrink runs safely while other threads allocate and free") {
  MemoryPool pool(96, 64, "test.shrink.concurrent");
  std::atomic<bool> stop{false};
  std::atomic<int> corrupted{0};
  auto worker = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint64_t*> mine;
    while (!stop.load(std::memory_order_relaxed)) {
      // Grow to a few thousand objects, then free them all: chunks empty out all the time.
      const size_t n = 1 + rng() % 4000;
      for (size_t i = 0; i < n; ++i) {
        auto* p = static_cast<uint64_t*>(pool.allocate());
        p[0] = uint64_t(p);
        p[11] = ~uint64_t(p);
        mine.push_back(p);
      }
      for (uint64_t* p : mine) {
        if (p[0] != uint64_t(p) || p[11] != ~uint64_t(p)) corrupted.fetch_add(1);
        pool.deallocate(p);
      }
      mine.clear();
    }
  };
  std::thread a(worker, 1), b(worker, 2);
  size_t released = 0;
  for (int i = 0; i < 300; ++i) {
    released += memf::shrinkAllPools();
    std::this_thread::yield();
  }
  stop = true;
  a.join();
  b.join();
  REQUIRE(corrupted.load() == 0);
  REQUIRE(released > 0);
  REQUIRE(pool.getUsedCount() == 0);
  pool.shrink();
  REQUIRE(pool.getMemoryUsage() == 0);
}

TEST_CASE("a child forked while another thread uses the pool can use it") {
  MemoryPool pool(64, 64);
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    std::vector<void*> objects;
    while (!stop.load(std::memory_order_relaxed)) {
      for (int i = 0; i < 1000; ++i) objects.push_back(pool.allocate());
      for (void* p : objects) pool.deallocate(p);
      objects.clear();
    }
  });
  for (int round = 0; round < 20; ++round) {
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(10);  // a lock inherited held would hang here
      std::vector<void*> objects;
      for (int i = 0; i < 5000; ++i) objects.push_back(pool.allocate());
      for (void* p : objects) pool.deallocate(p);
      pool.shrink();
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }
  stop = true;
  churn.join();
}

TEST_CASE("a slot written after it was freed is found before its chunk's list is followed") {
  // Every freed object gets its first 8 bytes overwritten (a use after free); the ones that went
  // back to their chunks' lists are found when the pool takes them again, reported on one line,
  // and their list is dropped: no address read from an overwritten slot is ever handed out.
  pool_test::set_on_error("report");
  MemoryPool pool(64, 64, "test.corrupt");
  std::vector<void*> objects(20000);
  for (void*& p : objects) p = pool.allocate();
  for (void* p : objects) pool.deallocate(p);
  const uintptr_t garbage = 0x4242424242424242;
  for (void* p : objects) std::memcpy(p, &garbage, sizeof garbage);
  std::vector<void*> again(objects.size());
  const std::string err = pool_test::stderr_of([&] {
    for (void*& p : again) p = pool.allocate();
  });
  REQUIRE(err.find("memf: error: heap corruption detected in memf::MemoryPool::allocate(): free object at 0x") == 0);
  REQUIRE(err.find("(MemoryPool \"test.corrupt\", object size 64 B)") != std::string::npos);
  REQUIRE(err.find("; its free list is dropped\n") != std::string::npos);
  std::set<void*> distinct(again.begin(), again.end());
  REQUIRE(distinct.size() == again.size());
  REQUIRE(distinct.count(reinterpret_cast<void*>(garbage)) == 0);
  for (void* p : again) std::memset(p, 0, 64);  // each is writable memory of the pool
  for (void* p : again) pool.deallocate(p);
  REQUIRE(pool.getUsedCount() == 0);
  pool_test::set_on_error("abort");
}
