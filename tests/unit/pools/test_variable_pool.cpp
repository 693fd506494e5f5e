// memf::VariablePool: sizes and alignments, reuse, clear and shrink accounting, bad input,
// threads, and the pmr adapter.
#include <catch2/catch.hpp>

#include <memf/memf.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_util.hpp"

using pool_test::category_bytes;

using memf::VariablePool;

TEST_CASE("blocks of every size are distinct, aligned and writable") {
  VariablePool pool;
  REQUIRE(std::string(pool.getName()) == "VariablePool");
  std::vector<std::pair<char*, size_t>> blocks;
  for (size_t size : {1, 7, 16, 17, 100, 1000, 1025, 5000, 70000, 262144, 262145, 1000000}) {
    auto* p = static_cast<char*>(pool.allocate(size));
    REQUIRE(uintptr_t(p) % 16 == 0);
    memset(p, int(size & 0x7f), size);
    blocks.emplace_back(p, size);
  }
  for (size_t alignment : {32, 64, 256, 4096}) {
    auto* p = static_cast<char*>(pool.allocate(48, alignment));
    REQUIRE(uintptr_t(p) % alignment == 0);
    memset(p, 0x33, 48);
    blocks.emplace_back(p, 48);
  }
  REQUIRE_THROWS_AS(pool.allocate(8, 8192), std::bad_alloc);
  REQUIRE_THROWS_AS(pool.allocate(8, 24), std::bad_alloc);
  for (auto& [p, size] : blocks)
    if (size != 48) REQUIRE(p[size - 1] == char(size & 0x7f));
  REQUIRE(pool.getUsedBytes() >= 1000000 + 262145);
  REQUIRE(pool.getMemoryUsage() >= pool.getUsedBytes());
  for (auto& [p, size] : blocks) pool.deallocate(p, size);
  REQUIRE(pool.getUsedBytes() == 0);
}

TEST_CASE("a freed block is reused for the same size class") {
  VariablePool pool;
  void* a = pool.allocate(100);
  pool.deallocate(a, 100);
  REQUIRE(pool.allocate(112) == a);  // 100 and 112 share the 112-byte class
  pool.deallocate(a, 112);
  REQUIRE(pool.getUsedBytes() == 0);
}

TEST_CASE("clear keeps the first chunk, shrink returns everything free, the tracker follows") {
  VariablePool pool(64 * 1024, "test.vpool");
  std::vector<void*> blocks;
  for (int i = 0; i < 20000; ++i) blocks.push_back(pool.allocate(size_t(16 + i % 200)));
  const size_t grown = pool.getMemoryUsage();
  REQUIRE(grown > 2 * 1024 * 1024);
  REQUIRE(category_bytes("test.vpool") == grown);
  pool.clear();
  REQUIRE(pool.getUsedBytes() == 0);
  REQUIRE(pool.getMemoryUsage() > 0);
  REQUIRE(pool.getMemoryUsage() <= 64 * 1024 + 4096);
  REQUIRE(pool.getLastReleased() == grown - pool.getMemoryUsage());
  REQUIRE(category_bytes("test.vpool") == pool.getMemoryUsage());
  // The kept chunk serves the next round.
  void* p = pool.allocate(64);
  REQUIRE(p == blocks[0]);
  pool.deallocate(p, 64);
  pool.shrink();
  REQUIRE(pool.getMemoryUsage() == 0);
  REQUIRE(category_bytes("test.vpool") == 0);

  // Shrink keeps chunks with live blocks and drops the rest, free blocks in them included.
  blocks.clear();
  for (int i = 0; i < 20000; ++i) blocks.push_back(pool.allocate(256));
  void* kept = blocks.front();  // in the first, smallest chunk
  for (void* b : blocks)
    if (b != kept) pool.deallocate(b, 256);
  const size_t before = pool.getMemoryUsage();
  pool.shrink();
  REQUIRE(pool.getMemoryUsage() < before / 2);
  REQUIRE(pool.getUsedBytes() == 256);
  std::set<void*> fresh;
  for (int i = 0; i < 5000; ++i) fresh.insert(pool.allocate(256));  // never a dropped block
  REQUIRE(fresh.size() == 5000);
  REQUIRE(fresh.count(kept) == 0);
  for (void* b : fresh) memset(b, 1, 256);
  for (void* b : fresh) pool.deallocate(b, 256);
  pool.deallocate(kept, 256);
}

TEST_CASE("variable pool misuse is reported and ignored in report mode") {
  pool_test::set_on_error("report");
  VariablePool pool(64 * 1024, "test.vbad");
  void* a = pool.allocate(64);
  void* b = pool.allocate(200);
  pool.deallocate(a, 64);
  std::string err = pool_test::stderr_of([&] { pool.deallocate(a, 64); });
  REQUIRE(err.find("memf: error: double free of 0x") == 0);
  REQUIRE(err.find("(VariablePool \"test.vbad\", block of 64 B) in memf::VariablePool::deallocate(); ignored\n") !=
          std::string::npos);
  int local = 0;
  err = pool_test::stderr_of([&] { pool.deallocate(&local, 4); });
  REQUIRE(err.find("not allocated by VariablePool \"test.vbad\"") != std::string::npos);
  err = pool_test::stderr_of([&] { pool.deallocate(static_cast<char*>(b) + 32, 16); });
  REQUIRE(err.find("32 bytes into the block at") != std::string::npos);
  err = pool_test::stderr_of([&] { pool.deallocate(b, 4000); });
  REQUIRE(err.find("size mismatch in memf::VariablePool::deallocate(): block ") == 13);  // after "memf: error: "
  REQUIRE(err.find("(VariablePool \"test.vbad\", block of 208 B) freed with size 4000; ignored\n") != std::string::npos);
  REQUIRE(pool.getUsedBytes() == 208);  // b, untouched by the bad calls
  void* c = pool.allocate(64);
  void* d = pool.allocate(64);
  REQUIRE(c != d);
  pool.deallocate(b, 200);
  pool.deallocate(c, 64);
  pool.deallocate(d, 64);
  REQUIRE(pool.getUsedBytes() == 0);
  pool_test::set_on_error("abort");

  std::string child_err;
  REQUIRE(pool_test::aborts_in_child(
      [] {
        VariablePool p;
        void* x = p.allocate(10);
        p.deallocate(x, 10);
        p.deallocate(x, 10);
      },
      &child_err));
  REQUIRE(child_err.find("; aborting (MEMF_ON_ERROR=abort)") != std::string::npos);
}

TEST_CASE("threads share a variable pool") {
  VariablePool pool;
  std::atomic<int> corrupted{0};
  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<uint8_t*, size_t>> mine;
    for (int i = 0; i < 20000; ++i) {
      if (rng() % 2 || mine.empty()) {
        const size_t size = 1 + rng() % 3000;
        auto* p = static_cast<uint8_t*>(pool.allocate(size));
        memset(p, int(seed), size);
        mine.emplace_back(p, size);
      } else {
        auto [p, size] = mine.back();
        mine.pop_back();
        if (p[0] != uint8_t(seed) || p[size - 1] != uint8_t(seed)) corrupted.fetch_add(1);
        pool.deallocate(p, size);
      }
    }
    for (auto [p, size] : mine) pool.deallocate(p, size);
  };
  std::thread t1(worker, 1u), t2(worker, 2u);
  t1.join();
  t2.join();
  REQUIRE(corrupted.load() == 0);
  REQUIRE(pool.getUsedBytes() == 0);
}

TEST_CASE("VariablePoolResource backs pmr containers") {
  VariablePool pool;
  memf::VariablePoolResource resource(pool);
  {
    std::pmr::vector<std::pmr::string> words(&resource);
    for (int i = 0; i < 1000; ++i) words.emplace_back(std::string(size_t(20 + i % 50), char('a' + i % 26)));
    REQUIRE(words[999].size() == 20 + 999 % 50);
    REQUIRE(pool.getUsedBytes() > 1000 * 20);
    std::pmr::map<int, std::pmr::string> map(&resource);
    for (int i = 0; i < 100; ++i) map.emplace(i, "a value long enough to allocate its own buffer");
    REQUIRE(map.at(42).front() == 'a');
  }
  REQUIRE(pool.getUsedBytes() == 0);
  memf::VariablePoolResource same(pool);
  REQUIRE(resource.is_equal(same));
}

TEST_CASE("a block in a thread cache is still a double free, and one never handed out is refused") {
  pool_test::set_on_error("report");
  VariablePool pool(64 * 1024, "test.vcache.bad");
  auto* a = static_cast<char*>(pool.allocate(64));
  auto* b = static_cast<char*>(pool.allocate(64));
  pool.deallocate(a, 64);  // into this thread's cache
  std::string err = pool_test::stderr_of([&] { pool.deallocate(a, 64); });
  REQUIRE(err.find("memf: error: double free of 0x") == 0);
  // The refill carved a batch of 64-byte blocks; the ones after b are carved but not handed out.
  err = pool_test::stderr_of([&] { pool.deallocate(b + 64 * 3, 64); });
  REQUIRE(err.find("memf: error: ") == 0);
  err = pool_test::stderr_of([&] { pool.deallocate(b + 64 * 3, 128); });
  REQUIRE(err.find("size mismatch") != std::string::npos);
  REQUIRE(pool.getUsedBytes() == 64);
  // The cache is intact: every block handed out from here on is distinct.
  std::set<void*> seen{b};
  for (int i = 0; i < 1000; ++i) REQUIRE(seen.insert(pool.allocate(64)).second);
  for (void* p : seen) pool.deallocate(p, 64);
  REQUIRE(pool.getUsedBytes() == 0);
  pool_test::set_on_error("abort");
}

TEST_CASE("pointers released by clear() or shrink() are reported, never followed") {
  pool_test::set_on_error("report");
  VariablePool pool(64 * 1024, "test.vstale");
  std::vector<void*> blocks;
  for (int i = 0; i < 2000; ++i) blocks.push_back(pool.allocate(200));  // beyond the first chunk
  pool.clear();
  for (void* stale : {blocks.front(), blocks.back()}) {
    const std::string err = pool_test::stderr_of([&] { pool.deallocate(stale, 200); });
    REQUIRE(err.find("no live block there in VariablePool \"test.vstale\" (never handed out, or released by "
                     "clear() or shrink())") != std::string::npos);
  }
  REQUIRE(pool.getUsedBytes() == 0);
  void* p = pool.allocate(200);
  pool.deallocate(p, 200);
  pool.shrink();
  REQUIRE(pool.getMemoryUsage() == 0);
  const std::string err = pool_test::stderr_of([&] { pool.deallocate(p, 200); });
  REQUIRE(err.find("no live block there") != std::string::npos);
  pool_test::set_on_error("abort");
}

TEST_CASE("threads free each other's blocks; usage is exact; exiting threads give their caches back") {
  VariablePool pool(64 * 1024, "test.vthreads");
  constexpr int kPerThread = 20000;
  std::mutex lock;
  std::vector<std::pair<uint64_t*, size_t>> handoff;
  std::atomic<int> corrupted{0};
  auto producer = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<uint64_t*, size_t>> mine;
    for (int i = 0; i < kPerThread; ++i) {
      const size_t size = 16 + rng() % 4200;  // cached classes and a few above
      auto* p = static_cast<uint64_t*>(pool.allocate(size));
      p[0] = uint64_t(p) ^ size;
      p[1] = ~uint64_t(p);
      if (rng() % 2) {
        std::lock_guard<std::mutex> guard(lock);
        handoff.emplace_back(p, size);
      } else {
        mine.emplace_back(p, size);
      }
      if (mine.size() > 64) {
        for (auto [q, s] : mine) {
          if (q[0] != (uint64_t(q) ^ s) || q[1] != ~uint64_t(q)) corrupted.fetch_add(1);
          pool.deallocate(q, s);
        }
        mine.clear();
      }
    }
    for (auto [q, s] : mine) pool.deallocate(q, s);
  };
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    for (;;) {
      std::vector<std::pair<uint64_t*, size_t>> theirs;
      {
        std::lock_guard<std::mutex> guard(lock);
        theirs.swap(handoff);
      }
      for (auto [q, s] : theirs) {
        if (q[0] != (uint64_t(q) ^ s) || q[1] != ~uint64_t(q)) corrupted.fetch_add(1);
        pool.deallocate(q, s);
      }
      if (theirs.empty() && done.load()) break;
      std::this_thread::yield();
    }
    // Still alive here: its cache holds blocks, which usage does not count.
    REQUIRE(pool.getUsedBytes() == 0);
  });
  std::thread p1(producer, 1u), p2(producer, 2u);
  p1.join();
  p2.join();
  done = true;
  consumer.join();
  REQUIRE(corrupted.load() == 0);
  REQUIRE(pool.getUsedBytes() == 0);
  // Every thread has exited, so every cached block is back: shrink can release every chunk.
  pool.shrink();
  REQUIRE(pool.getMemoryUsage() == 0);
  REQUIRE(category_bytes("test.vthreads") == 0);
}

TEST_CASE("clear() empties other threads' caches and destruction drops them") {
  auto pool = std::make_unique<VariablePool>(64 * 1024, "test.vclear");
  std::mutex m;
  std::condition_variable cv;
  int step = 0;
  std::set<void*> theirs;
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) pool->deallocate(pool->allocate(48), 48);  // leaves blocks cached
    {
      std::unique_lock<std::mutex> guard(m);
      step = 1;
      cv.notify_all();
      cv.wait(guard, [&] { return step == 2; });
    }
    // After clear(): the cache was emptied, so these come from the pool afresh.
    for (int i = 0; i < 100; ++i) theirs.insert(pool->allocate(48));
    for (void* p : theirs) pool->deallocate(p, 48);
    {
      std::unique_lock<std::mutex> guard(m);
      step = 3;
      cv.notify_all();
      cv.wait(guard, [&] { return step == 4; });
    }
    // The pool this thread cached for is gone; a new one may have its id.
    for (int i = 0; i < 100; ++i) theirs.insert(pool->allocate(48));
  });
  {
    std::unique_lock<std::mutex> guard(m);
    cv.wait(guard, [&] { return step == 1; });
  }
  pool->clear();
  REQUIRE(pool->getUsedBytes() == 0);
  std::set<void*> mine;
  for (int i = 0; i < 100; ++i) mine.insert(pool->allocate(48));
  {
    std::unique_lock<std::mutex> guard(m);
    step = 2;
    cv.notify_all();
    cv.wait(guard, [&] { return step == 3; });
  }
  for (void* p : theirs) REQUIRE(mine.count(p) == 0);  // never handed out twice
  for (void* p : mine) pool->deallocate(p, 48);
  REQUIRE(pool->getUsedBytes() == 0);
  pool.reset();
  pool = std::make_unique<VariablePool>(64 * 1024, "test.vclear2");
  theirs.clear();
  {
    std::unique_lock<std::mutex> guard(m);
    step = 4;
    cv.notify_all();
  }
  other.join();
  REQUIRE(theirs.size() == 100);
  REQUIRE(pool->getUsedBytes() == 100 * 48);
  for (void* p : theirs) pool->deallocate(p, 48);
  REQUIRE(pool->getUsedBytes() == 0);
}

TEST_CASE("variable pools beyond the per-thread cache table work uncached") {
  pool_test::set_on_error("report");
  std::vector<std::unique_ptr<memf::MemoryPool>> fillers;
  for (int i = 0; i < 1100; ++i) fillers.push_back(std::make_unique<memf::MemoryPool>(16, 4));
  VariablePool pool(64 * 1024, "test.vuncached");
  void* a = pool.allocate(40);
  void* b = pool.allocate(40);
  REQUIRE(a != b);
  REQUIRE(pool.getUsedBytes() == 96);
  pool.deallocate(a, 40);
  const std::string err = pool_test::stderr_of([&] { pool.deallocate(a, 40); });
  REQUIRE(err.find("double free") != std::string::npos);
  REQUIRE(pool.allocate(40) == a);
  pool.deallocate(a, 40);
  pool.deallocate(b, 40);
  REQUIRE(pool.getUsedBytes() == 0);
  pool_test::set_on_error("abort");
}

TEST_CASE("shrink runs safely while other threads use the variable pool") {
  VariablePool pool(64 * 1024, "test.vshrink.concurrent");
  std::atomic<bool> stop{false};
  std::atomic<int> corrupted{0};
  auto worker = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::pair<uint64_t*, size_t>> mine;
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t n = 1 + rng() % 3000;
      for (size_t i = 0; i < n; ++i) {
        const size_t size = 16 + rng() % 2000;
        auto* p = static_cast<uint64_t*>(pool.allocate(size));
        p[0] = uint64_t(p);
        p[1] = ~uint64_t(p);
        mine.emplace_back(p, size);
      }
      for (auto [p, size] : mine) {
        if (p[0] != uint64_t(p) || p[1] != ~uint64_t(p)) corrupted.fetch_add(1);
        pool.deallocate(p, size);
      }
      mine.clear();
    }
  };
  std::thread a(worker, 1), b(worker, 2);
  for (int i = 0; i < 300; ++i) {
    memf::shrinkAllPools();
    std::this_thread::yield();
  }
  stop = true;
  a.join();
  b.join();
  REQUIRE(corrupted.load() == 0);
  REQUIRE(pool.getUsedBytes() == 0);
  pool.shrink();
  REQUIRE(pool.getMemoryUsage() == 0);
}

TEST_CASE("after a shrink, a live thread gives its cached blocks back on its next slow call") {
  VariablePool pool(64 * 1024, "test.vepoch");
  std::mutex m;
  std::condition_variable cv;
  int step = 0;
  auto wait_for = [&](int wanted) {
    std::unique_lock<std::mutex> guard(m);
    cv.wait(guard, [&] { return step == wanted; });
  };
  auto go_to = [&](int next) {
    std::lock_guard<std::mutex> guard(m);
    step = next;
    cv.notify_all();
  };
  std::thread other([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i) blocks.push_back(pool.allocate(256));
    for (void* p : blocks) pool.deallocate(p, 256);  // all in this thread's cache
    go_to(1);
    wait_for(2);
    pool.deallocate(pool.allocate(300000), 300000);  // a slow call of any kind
    go_to(3);
    wait_for(4);
  });
  wait_for(1);
  pool.shrink();
  REQUIRE(pool.getMemoryUsage() > 0);  // the cached blocks keep their chunk
  go_to(2);
  wait_for(3);
  pool.shrink();
  REQUIRE(pool.getMemoryUsage() == 0);
  REQUIRE(pool.getLastReleased() > 0);
  go_to(4);
  other.join();
}

TEST_CASE("a child forked while another thread uses the variable pool can use it") {
  VariablePool pool;
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    std::vector<std::pair<void*, size_t>> blocks;
    while (!stop.load(std::memory_order_relaxed)) {
      for (size_t i = 0; i < 1000; ++i) blocks.emplace_back(pool.allocate(16 + i % 600), 16 + i % 600);
      for (auto [p, size] : blocks) pool.deallocate(p, size);
      blocks.clear();
    }
  });
  for (int round = 0; round < 20; ++round) {
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(10);  // a lock inherited held would hang here
      // The churning thread's blocks at the moment of fork() stay counted as used in the child.
      const size_t used_before = pool.getUsedBytes();
      std::vector<std::pair<void*, size_t>> blocks;
      std::set<void*> distinct;
      for (size_t i = 0; i < 5000; ++i) {
        blocks.emplace_back(pool.allocate(16 + i % 600), 16 + i % 600);
        memset(blocks.back().first, 0x5a, blocks.back().second);
        distinct.insert(blocks.back().first);
      }
      for (auto [p, size] : blocks) pool.deallocate(p, size);
      pool.shrink();
      _exit(distinct.size() == 5000 && pool.getUsedBytes() == used_before ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }
  stop = true;
  churn.join();
}

TEST_CASE("threads carve their blocks from chunks of their own") {
  // Three batches of 64 B blocks per thread: less than a chunk, so each thread's home suffices.
  // Carved from one shared region instead, the two threads' batches interleave in most rounds.
  constexpr int kBlocks = 700;
  for (int round = 0; round < 8; ++round) {
    VariablePool pool(64 * 1024, "test.vhome");
    std::vector<uintptr_t> addresses[2];
    std::atomic<int> ready{0};
    auto worker = [&](int t) {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      for (int i = 0; i < kBlocks; ++i) addresses[t].push_back(uintptr_t(pool.allocate(64)));
      // Freeing waits for both: a batch one thread frees may be parked and refill the other.
      ready.fetch_add(1);
      while (ready.load() < 4) {
      }
      for (uintptr_t p : addresses[t]) pool.deallocate(reinterpret_cast<void*>(p), 64);
    };
    std::thread a(worker, 0), b(worker, 1);
    a.join();
    b.join();
    const auto [low0, high0] = std::minmax_element(addresses[0].begin(), addresses[0].end());
    const auto [low1, high1] = std::minmax_element(addresses[1].begin(), addresses[1].end());
    REQUIRE((*high0 < *low1 || *high1 < *low0));
    REQUIRE(pool.getUsedBytes() == 0);
  }
}

TEST_CASE("a block written after it was freed is found before its free list is followed") {
  pool_test::set_on_error("report");
  VariablePool pool(64 * 1024, "test.corrupt");
  std::vector<void*> blocks(20000);
  for (void*& p : blocks) p = pool.allocate(96);
  for (void* p : blocks) pool.deallocate(p, 96);
  const uintptr_t garbage = 0x4343434343434343;
  for (void* p : blocks) std::memcpy(p, &garbage, sizeof garbage);
  std::vector<void*> again(blocks.size());
  const std::string err = pool_test::stderr_of([&] {
    for (void*& p : again) p = pool.allocate(96);
  });
  REQUIRE(err.find("memf: error: heap corruption detected in memf::VariablePool::allocate(): free block at 0x") == 0);
  REQUIRE(err.find("(VariablePool \"test.corrupt\", block of 96 B)") != std::string::npos);
  std::set<void*> distinct(again.begin(), again.end());
  REQUIRE(distinct.size() == again.size());
  REQUIRE(distinct.count(reinterpret_cast<void*>(garbage)) == 0);
  for (void* p : again) std::memset(p, 0, 96);
  for (void* p : again) pool.deallocate(p, 96);
  pool_test::set_on_error("abort");
}
