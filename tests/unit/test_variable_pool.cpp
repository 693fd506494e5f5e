// memf::VariablePool: sizes and alignments, reuse, clear and shrink accounting, bad input,
// threads, and the pmr adapter.
#include <catch2/catch.hpp>

#include <memf/memf.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory_resource>
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
  REQUIRE(err.find("(VariablePool \"test.vbad\") in memf::VariablePool::deallocate(); ignored\n") != std::string::npos);
  int local = 0;
  err = pool_test::stderr_of([&] { pool.deallocate(&local, 4); });
  REQUIRE(err.find("not allocated by VariablePool \"test.vbad\"") != std::string::npos);
  err = pool_test::stderr_of([&] { pool.deallocate(static_cast<char*>(b) + 32, 16); });
  REQUIRE(err.find("32 bytes into the block at") != std::string::npos);
  err = pool_test::stderr_of([&] { pool.deallocate(b, 4000); });
  REQUIRE(err.find("size mismatch") != std::string::npos);
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
