// engine/corrupt_list and the checks of core/free_mark.hpp on the allocator's lists: a free block
// the program writes over (use after free, overflow from its neighbour) is found before its link
// is followed, reported on one line, and under MEMF_ON_ERROR=report its list is dropped: the bad
// address is never handed out and the heap stays usable.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "central.hpp"
#include "core/misuse_test_util.hpp"
#include "corrupt_list.hpp"
#include "engine/slab_test_util.hpp"
#include "engine.hpp"
#include "thread_cache.hpp"

using namespace memf;

namespace {

constexpr size_t kSize = 48;

// Frees `count` blocks of kSize so that the last one freed heads this thread's bin; returns it.
void* freed_bin_head(std::vector<void*>* others, size_t count) {
  std::vector<void*> blocks;
  for (size_t i = 0; i < count; ++i) blocks.push_back(engine_malloc(kSize));
  for (void* p : blocks) engine_free(p);
  if (others) others->assign(blocks.begin(), blocks.end() - 1);
  return blocks.back();
}

// Mallocs of kSize until the bin's blocks are used up: none may be `bad` or unknown to memf.
std::vector<void*> allocate_many(size_t count) {
  std::vector<void*> out;
  for (size_t i = 0; i < count; ++i) {
    void* p = engine_malloc(kSize);
    REQUIRE(p != nullptr);
    REQUIRE(engine_owns(p));
    std::memset(p, 0x5a, kSize);
    out.push_back(p);
  }
  return out;
}

}  // namespace

TEST_CASE("a free block whose link the program overwrote is reported, never followed, and its list dropped") {
  misuse_test::set_on_error("report");
  REQUIRE(engine_malloc(kSize) != nullptr);  // the thread is set up
  const unsigned cls = size_to_class(kSize);
  for (size_t word : {size_t(0), size_t(1)}) {
    thread_cache_flush_current();
    void* head = freed_bin_head(nullptr, 8);
    REQUIRE(t_cache.bins[cls].head == head);
    const uintptr_t garbage = 0x4141414141414141;
    std::memcpy(static_cast<char*>(head) + word * 8, &garbage, 8);  // use after free
    std::vector<void*> got;
    const std::string err = misuse_test::stderr_of([&] { got = allocate_many(40); });
    INFO("word " << word << ": " << err);
    REQUIRE(err.find("memf: error: heap corruption detected in malloc(): free block at 0x") == 0);
    REQUIRE(err.find("(size class 48 B) was written after it was freed") != std::string::npos);
    REQUIRE(err.find("; its free list is dropped\n") != std::string::npos);
    REQUIRE(std::count(err.begin(), err.end(), '\n') == 1);
    // Neither the overwritten block nor anything its words name is handed out.
    for (void* p : got) {
      REQUIRE(p != head);
      REQUIRE(uintptr_t(p) != garbage);
    }
    for (void* p : got) engine_free(p);
  }
  misuse_test::set_on_error("abort");
}

TEST_CASE("a corrupted free block aborts by default, with one line") {
  std::string err;
  REQUIRE(misuse_test::aborts_in_child(
      [] {
        void* head = freed_bin_head(nullptr, 4);
        std::memset(head, 0, 16);  // a program zeroing a block it freed
        for (int i = 0; i < 4; ++i) engine_malloc(kSize);
      },
      &err));
  REQUIRE(err.find("memf: error: heap corruption detected in malloc()") == 0);
  REQUIRE(err.find("; aborting (MEMF_ON_ERROR=abort)\n") != std::string::npos);
}

TEST_CASE("a corrupted block deeper in the bin is found when the blocks before it are handed out") {
  misuse_test::set_on_error("report");
  thread_cache_flush_current();
  std::vector<void*> others;
  void* head = freed_bin_head(&others, 6);
  void* deeper = others[others.size() - 2];  // two pops away: head, then the block freed before it
  std::vector<void*> got;
  // An overflow from the block before it runs over its first 16 bytes.
  std::memset(deeper, 'x', 16);
  const std::string err = misuse_test::stderr_of([&] { got = allocate_many(30); });
  REQUIRE(err.find("heap corruption detected") != std::string::npos);
  REQUIRE(got[0] == head);
  REQUIRE(got[1] == others.back());
  for (size_t i = 2; i < got.size(); ++i) REQUIRE(got[i] != deeper);
  for (void* p : got) engine_free(p);
  misuse_test::set_on_error("abort");
}

TEST_CASE("a corrupted block on a thread's bin is found when the bin goes back to the centre too") {
  misuse_test::set_on_error("report");
  thread_cache_flush_current();
  void* head = freed_bin_head(nullptr, 10);
  std::memset(head, 0, 8);  // written after its free
  const std::string err = misuse_test::stderr_of([] { thread_cache_flush_current(); });  // flushes the bin
  REQUIRE(err.find("memf: error: heap corruption detected in free(): free block at 0x") == 0);
  REQUIRE(std::count(err.begin(), err.end(), '\n') == 1);
  // The heap goes on working, without the block.
  std::vector<void*> got = allocate_many(200);
  for (void* p : got) REQUIRE(p != head);
  for (void* p : got) engine_free(p);
  misuse_test::set_on_error("abort");
}

TEST_CASE("a corrupted block in the batch a full bin drains is found by the free that fills it") {
  misuse_test::set_on_error("report");
  engine_free(engine_malloc(kSize));  // the thread's cache is set up
  thread_cache_flush_current();
  const unsigned cls = size_to_class(kSize);
  CacheBin& bin = t_cache.bins[cls];
  std::vector<void*> blocks = allocate_many(4 * size_t(bin.max + 1));
  // Frees until the bin has overflowed once (which may grow it instead of draining); the next
  // overflow comes with no refill since, so it drains the batch at the bin's head. Just before
  // it, the head is written over: the drain's walk meets it second.
  unsigned overflows = 0;
  void* written = nullptr;
  const std::string err = misuse_test::stderr_of([&] {
    for (void* p : blocks) {
      if (overflows > 0 && !written && bin.room == 0) {
        written = bin.head;
        std::memset(written, 0, 8);
      }
      const int32_t room = bin.room;
      engine_free(p);
      if (bin.room >= room) ++overflows;  // a push alone takes one off
    }
  });
  REQUIRE(written != nullptr);
  REQUIRE(err.find("memf: error: heap corruption detected in free(): free block at 0x") == 0);
  REQUIRE(std::count(err.begin(), err.end(), '\n') == 1);
  char at[64];
  std::snprintf(at, sizeof at, "free block at %p ", written);
  REQUIRE(err.find(at) != std::string::npos);
  std::vector<void*> got = allocate_many(200);
  for (void* p : got) REQUIRE(p != written);
  for (void* p : got) engine_free(p);
  misuse_test::set_on_error("abort");
}

TEST_CASE("a slab's free list is checked as it is taken, and a corrupted one keeps its blocks out of use") {
  misuse_test::set_on_error("report");
  const unsigned cls = size_to_class(1024);
  FreeBlock* chain = nullptr;
  REQUIRE(central_take(cls, 9, &chain) == 9);
  std::vector<FreeBlock*> blocks;
  for (FreeBlock* b = chain; b; b = link_of(g_pool.free_key, b)) blocks.push_back(b);
  REQUIRE(blocks.size() == 9);
  // The first stays out, so that its slab is not released when the others come back.
  FreeBlock* kept = blocks.front();
  blocks.erase(blocks.begin());
  slab_test::give_back_one_by_one(cls, blocks, 0, blocks.size());
  // The last returned heads its slab's list: overwrite it.
  SlabMeta* slab = slab_of(blocks.back());
  REQUIRE(slab->free == blocks.back());
  std::memset(blocks.back(), 0x11, 16);
  // Take blocks one by one until the taking reaches that slab's list.
  std::vector<FreeBlock*> taken;
  std::string err;
  while (err.empty() && taken.size() < 100000) {
    FreeBlock* one = nullptr;
    err = misuse_test::stderr_of([&] { REQUIRE(central_take(cls, 1, &one) == 1); });
    taken.push_back(one);
  }
  REQUIRE(err.find("memf: error: heap corruption detected in malloc(): free block at 0x") == 0);
  for (FreeBlock* b : taken) REQUIRE(b != blocks.back());
  // Its blocks stay counted as used: the slab is never released or recycled under them.
  REQUIRE(slab->free == nullptr);
  REQUIRE(slab->used >= 1);
  for (FreeBlock* b : taken) {
    make_free(b, nullptr);
    central_return(cls, b, 1);
  }
  make_free(kept, nullptr);
  central_return(cls, kept, 1);
  REQUIRE(slab->used >= 1);
  misuse_test::set_on_error("abort");
}

TEST_CASE("a slab's list a refill takes whole is checked as the bin hands it out: the corrupted block is reported, never handed out") {
  misuse_test::set_on_error("report");
  REQUIRE(engine_malloc(kSize) != nullptr);  // the thread is set up
  constexpr size_t kListSize = 640;         // a class no other test here uses
  const unsigned cls = size_to_class(kListSize);
  const SizeClassInfo& info = kSizeClasses[cls];
  thread_cache_flush_current();
  CacheBin& bin = t_cache.bins[cls];
  REQUIRE(bin.head == nullptr);
  // A fresh slab, all of it out; then most of it back, one block at a time, so that its list
  // holds more than a batch and no more than the bin.
  const std::vector<FreeBlock*> blocks = slab_test::take_whole_slab(cls);
  const size_t on_list = std::min<size_t>(size_t(bin.max) + 1, info.capacity - 1);
  REQUIRE(on_list > info.batch);
  slab_test::give_back_one_by_one(cls, blocks, 0, on_list);
  SlabMeta* slab = slab_of(blocks[0]);
  REQUIRE(slab->free == blocks[on_list - 1]);
  // Half-way down the list (the last returned comes first), a use after free.
  FreeBlock* bad = blocks[on_list / 2];
  std::memset(bad, 0x22, 16);
  const uint64_t moved_in = bin.moved_in;
  std::vector<void*> got;
  std::string err;
  while (err.empty() && got.size() < on_list) {
    err = misuse_test::stderr_of([&] { got.push_back(engine_malloc(kListSize)); });
  }
  // One refill took the whole list, bad block and all, without reading it ...
  REQUIRE(bin.moved_in - moved_in >= on_list);
  REQUIRE(got.size() >= on_list - on_list / 2);  // ... and the blocks before the bad one were handed out
  // The malloc that reached it reported it; the blocks from there on are never handed out.
  REQUIRE(err.find("memf: error: heap corruption detected in malloc(): free block at 0x") == 0);
  for (void* p : got) REQUIRE(p != bad);
  std::set<void*> listed(blocks.begin() + on_list / 2 + 1, blocks.begin() + on_list);  // before it
  for (void* p : got) REQUIRE((listed.count(p) == 1 || slab_of(p) != slab));
  REQUIRE(slab->used == info.capacity);  // the dropped ones stay counted as used
  for (void* p : got) engine_free(p);
  slab_test::give_back_one_by_one(cls, blocks, on_list, blocks.size());
  misuse_test::set_on_error("abort");
}

TEST_CASE("a link that checks out but leads out of the class is refused on the slow paths") {
  REQUIRE(engine_malloc(kSize) != nullptr);
  const unsigned cls = size_to_class(kSize);
  auto* block = static_cast<FreeBlock*>(engine_malloc(kSize));
  auto* other_class = static_cast<FreeBlock*>(engine_malloc(4096));
  int on_stack = 0;
  FreeBlock* next = nullptr;
  make_free(block, nullptr);
  REQUIRE(next_free_of_class(block, cls, &next));
  REQUIRE(next == nullptr);
  make_free(block, other_class);
  REQUIRE_FALSE(next_free_of_class(block, cls, &next));
  make_free(block, reinterpret_cast<FreeBlock*>(&on_stack));
  REQUIRE_FALSE(next_free_of_class(block, cls, &next));
  mark_block_live(block);
  engine_free(block);
  engine_free(other_class);
}

TEST_CASE("a live block holding its own address where the mark goes is not taken for a free one") {
  // A handed-out block keeps its encoded link in its first word; a program that stores the
  // block's address in the second (a list head pointing at itself) must free it normally.
  misuse_test::set_on_error("report");
  for (int round = 0; round < 4; ++round) {
    std::vector<void*> blocks;
    for (int i = 0; i < 300; ++i) {
      void* p = engine_malloc(16 + (i % 8) * 16);
      const uintptr_t self = uintptr_t(p);
      std::memcpy(static_cast<char*>(p) + 8, &self, 8);
      blocks.push_back(p);
    }
    const std::string err = misuse_test::stderr_of([&] {
      for (void* p : blocks) engine_free(p);
    });
    REQUIRE(err.empty());
  }
  misuse_test::set_on_error("abort");
}
