// engine/central: each class's transfer stack (the core's batch shelf) under contention, taking
// blocks from slabs and returning them, the class's partial list, and what defragmentation asks
// of it (the densest other slab, whether a slab is sparse).
#include <catch2/catch.hpp>
#include <sys/mman.h>

#include <atomic>
#include <fstream>
#include <string>
#include <set>
#include <thread>
#include <vector>

#include "central.hpp"
#include "engine.hpp"
#include "release.hpp"
#include "engine/slab_test_util.hpp"

using namespace memf;

TEST_CASE("the transfer stack hands out each batch once under contention") {
  const unsigned cls = size_to_class(96);
  const unsigned batch = kSizeClasses[cls].batch;
  REQUIRE(pool_init());  // nothing here allocates through malloc first
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
  const uint8_t shard = t_central_shard;  // the batches' home: both threads pop from it
  auto worker = [&](std::vector<FreeBlock*> mine) {
    t_central_shard = shard;
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

namespace {
using slab_test::blocks_of;
// Links blocks[from, to) into a chain.
FreeBlock* chain_of(const std::vector<FreeBlock*>& blocks, size_t from, size_t to) {
  for (size_t i = from; i + 1 < to; ++i) make_free(blocks[i], blocks[i + 1]);
  make_free(blocks[to - 1], nullptr);
  return blocks[from];
}
}  // namespace

TEST_CASE("the transfer stack holds kShelfBatches batches, refuses more and gives back the last pushed first") {
  REQUIRE(pool_init());
  const unsigned cls = size_to_class(160);
  const unsigned batch = kSizeClasses[cls].batch;
  central_flush_transfers();
  std::vector<FreeBlock*> firsts;
  for (uint32_t b = 0; b < kShelfBatches; ++b) {
    FreeBlock* chain = nullptr;
    REQUIRE(central_take(cls, batch, &chain) == batch);
    REQUIRE(central_push_batch(cls, chain));
    firsts.push_back(chain);
  }
  REQUIRE(central_stats(cls).transfer_blocks == size_t(kShelfBatches) * batch);
  FreeBlock* extra = nullptr;
  REQUIRE(central_take(cls, batch, &extra) == batch);
  REQUIRE_FALSE(central_push_batch(cls, extra));  // full: nothing done, the caller keeps it
  central_return(cls, extra, batch);
  REQUIRE(central_pop_batch(cls) == firsts.back());
  REQUIRE(blocks_of(firsts.back()).size() == batch);  // the batch's links were not touched
  central_return(cls, firsts.back(), batch);
  // The flush returns every parked batch's blocks to their slabs, and says how many.
  REQUIRE(central_flush_transfers() == size_t(kShelfBatches - 1) * batch);
  REQUIRE(central_stats(cls).transfer_blocks == 0);
  REQUIRE(central_pop_batch(cls) == nullptr);
}

TEST_CASE("central_take carves a fresh slab in address order; central_return moves it between full, partial and empty") {
  REQUIRE(pool_init());
  const unsigned cls = size_to_class(2048);
  const SizeClassInfo& info = kSizeClasses[cls];
  REQUIRE(central_stats(cls).partial_slabs == 0);  // this class is untouched so far
  const PoolArenaStats start = pool_arena_stats();

  // Exactly one slab's worth: a fresh slab, carved in address order, every block a free block
  // start, the chain ending in null.
  FreeBlock* chain = nullptr;
  REQUIRE(central_take(cls, info.capacity, &chain) == info.capacity);
  std::vector<FreeBlock*> blocks = blocks_of(chain);
  REQUIRE(blocks.size() == info.capacity);
  SlabMeta* slab = slab_of(blocks[0]);
  REQUIRE(reinterpret_cast<char*>(blocks[0]) == slab_data(slab));
  for (size_t i = 0; i < blocks.size(); ++i) {
    REQUIRE(reinterpret_cast<char*>(blocks[i]) == slab_data(slab) + i * info.size);
    REQUIRE(slot_state(blocks[i]) == kSlotAllocated);
    REQUIRE(block_is_free(blocks[i]));
  }
  REQUIRE(pool_arena_stats().slabs_in_use == start.slabs_in_use + 1);
  // Every slot carved and out: the slab is full, on no list.
  REQUIRE(slab->used == info.capacity);
  REQUIRE(slab->carved == info.capacity);
  REQUIRE(slab->size_class == cls);
  REQUIRE(slab->list == kSlabFull);
  REQUIRE(central_stats(cls).partial_slabs == 0);

  // Half back: the slab has free slots and is on the partial list.
  const size_t half = blocks.size() / 2;
  central_return(cls, chain_of(blocks, 0, half), unsigned(half));
  REQUIRE(slab->used == info.capacity - half);
  REQUIRE(slab->list == kSlabPartial);
  REQUIRE(central_stats(cls).partial_slabs == 1);

  // Taking them again reuses the returned blocks, not a new slab.
  FreeBlock* again = nullptr;
  REQUIRE(central_take(cls, unsigned(half), &again) == half);
  std::set<FreeBlock*> returned(blocks.begin(), blocks.begin() + half);
  for (FreeBlock* block : blocks_of(again)) REQUIRE(returned.count(block) == 1);
  REQUIRE(slab->list == kSlabFull);
  REQUIRE(central_stats(cls).partial_slabs == 0);
  REQUIRE(pool_arena_stats().slabs_in_use == start.slabs_in_use + 1);

  // All back: no block out, the slab goes to the arena's empty list (committed until purged).
  central_return(cls, again, unsigned(half));
  central_return(cls, chain_of(blocks, half, blocks.size()), unsigned(blocks.size() - half));
  REQUIRE(slab->used == 0);
  REQUIRE(slab->list == kSlabEmpty);
  REQUIRE(central_stats(cls).partial_slabs == 0);
  REQUIRE(pool_arena_stats().slabs_in_use == start.slabs_in_use);
}

namespace {

// Which of a slab's pages are resident (mincore), as a string of 0s and 1s.
std::string resident_pages(SlabMeta* slab) {
  unsigned char pages[kSlabSize / 4096];
  REQUIRE(mincore(slab_data(slab), kSlabSize, pages) == 0);
  std::string out;
  for (unsigned char page : pages) out += (page & 1) ? '1' : '0';
  return out;
}

// With THP "always" the kernel may fault in a whole 2 MiB at the first touch.
bool thp_always() {
  std::ifstream file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(file, modes);
  return modes.find("[always]") != std::string::npos;
}

}  // namespace

TEST_CASE("carving a fresh slab faults its pages in a few at a time ahead of the cursor") {
  REQUIRE(pool_init());
  if (thp_always()) {
    WARN("skipped: transparent huge pages are 'always' here, so the kernel decides residency");
    return;
  }
  const unsigned cls = size_to_class(32);
  const SizeClassInfo& info = kSizeClasses[cls];
  REQUIRE(central_stats(cls).partial_slabs == 0);
  pool_purge_all();  // no committed empty slab left: the next one comes with no page resident
  FreeBlock* chain = nullptr;
  REQUIRE(central_take(cls, 1, &chain) == 1);
  std::vector<FreeBlock*> blocks = blocks_of(chain);
  SlabMeta* slab = slab_of(blocks[0]);
  // One block carved (32 bytes on page 0): pages 0-3 are populated together, the rest not yet.
  REQUIRE(resident_pages(slab) == "1111000000000000");
  REQUIRE(slab->pages_ready == 4);
  // Carving onto page 4 populates the next four.
  const unsigned to_page_4 = unsigned(4 * 4096 / info.size);
  FreeBlock* more = nullptr;
  REQUIRE(central_take(cls, to_page_4, &more) == to_page_4);
  REQUIRE(resident_pages(slab) == "1111111100000000");
  // The whole slab carved: every page resident, and ready for the slab's next use.
  const unsigned rest = info.capacity - 1 - to_page_4;
  FreeBlock* last = nullptr;
  REQUIRE(central_take(cls, rest, &last) == rest);
  REQUIRE(resident_pages(slab) == "1111111111111111");
  REQUIRE(slab->pages_ready == 16);
  central_return(cls, chain, 1);
  central_return(cls, more, to_page_4);
  central_return(cls, last, rest);
  REQUIRE(slab->list == kSlabEmpty);
  // Recycled while still committed: its pages are known resident, nothing to populate.
  FreeBlock* again = nullptr;
  REQUIRE(central_take(cls, 1, &again) == 1);
  REQUIRE(slab_of(again) == slab);
  REQUIRE(slab->pages_ready == 16);
  central_return(cls, again, 1);
}

TEST_CASE("central_take spans slabs when one does not hold enough") {
  REQUIRE(pool_init());
  const unsigned cls = size_to_class(4096);
  const SizeClassInfo& info = kSizeClasses[cls];
  FreeBlock* chain = nullptr;
  const unsigned wanted = info.capacity * 2 + 3;
  REQUIRE(central_take(cls, wanted, &chain) == wanted);
  std::vector<FreeBlock*> blocks = blocks_of(chain);
  REQUIRE(blocks.size() == wanted);
  std::set<SlabMeta*> slabs;
  for (FreeBlock* block : blocks) slabs.insert(slab_of(block));
  REQUIRE(slabs.size() == 3);
  REQUIRE(central_stats(cls).partial_slabs == 1);  // the third, with 3 of its blocks out
  central_return(cls, chain, wanted);
  REQUIRE(central_stats(cls).partial_slabs == 0);
}

TEST_CASE("defragmentation's questions: a slab is sparse below the partial slabs' average; the densest other slab gives the block") {
  REQUIRE(pool_init());
  const unsigned cls = size_to_class(1024);
  const uint32_t capacity = kSizeClasses[cls].capacity;  // 64
  REQUIRE(central_stats(cls).partial_slabs == 0);
  FreeBlock* chain = nullptr;
  REQUIRE(central_take(cls, 3 * capacity, &chain) == 3 * capacity);
  std::vector<FreeBlock*> blocks = blocks_of(chain);
  SlabMeta* sparse = slab_of(blocks[0]);
  SlabMeta* middle = slab_of(blocks[capacity]);
  SlabMeta* dense = slab_of(blocks[2 * capacity]);
  REQUIRE(sparse != middle);
  REQUIRE(middle != dense);
  // A full slab is never worth emptying.
  REQUIRE_FALSE(central_slab_is_sparse(cls, sparse));
  // Leave 4, 20 and 28 blocks out of the three slabs.
  central_return(cls, chain_of(blocks, 4, capacity), capacity - 4);
  central_return(cls, chain_of(blocks, capacity + 20, 2 * capacity), capacity - 20);
  central_return(cls, chain_of(blocks, 2 * capacity + 28, 3 * capacity), capacity - 28);
  REQUIRE(central_stats(cls).partial_slabs == 3);
  REQUIRE(sparse->used == 4);
  REQUIRE(dense->used == 28);
  // Average 52/3 blocks: only the slab with 4 is below it.
  REQUIRE(central_slab_is_sparse(cls, sparse));
  REQUIRE_FALSE(central_slab_is_sparse(cls, middle));
  REQUIRE_FALSE(central_slab_is_sparse(cls, dense));
  // Moving a block out of the sparse slab takes one from the densest other slab.
  FreeBlock* target = central_take_densest(cls, sparse);
  REQUIRE(target != nullptr);
  REQUIRE(slab_of(target) == dense);
  REQUIRE_FALSE(block_is_free(target));  // handed out: no longer marked free
  REQUIRE(dense->used == 29);
  // From the densest slab, no other slab is denser: moving would not help.
  REQUIRE(central_take_densest(cls, dense) == nullptr);
  REQUIRE(dense->used == 29);

  // Give everything back: the blocks still out, then the one taken.
  std::vector<FreeBlock*> out;
  for (uint32_t i = 0; i < 4; ++i) out.push_back(blocks[i]);
  for (uint32_t i = 0; i < 20; ++i) out.push_back(blocks[capacity + i]);
  for (uint32_t i = 0; i < 28; ++i) out.push_back(blocks[2 * capacity + i]);
  out.push_back(target);
  central_return(cls, chain_of(out, 0, out.size()), unsigned(out.size()));
  REQUIRE(central_stats(cls).partial_slabs == 0);
  // With a single partial slab nothing is sparse: there is nowhere to move to.
  REQUIRE(central_take(cls, 5, &chain) == 5);
  REQUIRE_FALSE(central_slab_is_sparse(cls, slab_of(chain)));
  REQUIRE(central_take_densest(cls, slab_of(chain)) == nullptr);
  central_return(cls, chain, 5);
}

TEST_CASE("central_take_slab_list hands over the first partial slab's whole list, only when its length is within the bounds") {
  REQUIRE(pool_init());
  const unsigned cls = size_to_class(512);
  const uint32_t capacity = kSizeClasses[cls].capacity;  // 128
  REQUIRE(central_stats(cls).partial_slabs == 0);
  std::vector<FreeBlock*> blocks = slab_test::take_whole_slab(cls);
  SlabMeta* slab = slab_of(blocks[0]);
  // 30 of the full slab's blocks back: its list holds exactly those.
  central_return(cls, chain_of(blocks, 10, 40), 30);
  REQUIRE(slab->list == kSlabPartial);
  FreeBlock* taken = nullptr;
  REQUIRE(central_take_slab_list(cls, 31, 100, &taken) == 0);  // shorter than asked for
  REQUIRE(central_take_slab_list(cls, 1, 29, &taken) == 0);    // longer than allowed
  REQUIRE(taken == nullptr);
  REQUIRE(slab->used == capacity - 30);
  REQUIRE(slab->free != nullptr);

  // Within the bounds: the whole list, every block of it once; the slab is full again.
  REQUIRE(central_take_slab_list(cls, 30, 30, &taken) == 30);
  std::vector<FreeBlock*> got = blocks_of(taken);
  REQUIRE(std::set<FreeBlock*>(got.begin(), got.end()) == std::set<FreeBlock*>(blocks.begin() + 10, blocks.begin() + 40));
  REQUIRE(got.size() == 30);
  REQUIRE(slab->free == nullptr);
  REQUIRE(slab->used == capacity);
  REQUIRE(slab->list == kSlabFull);
  REQUIRE(central_stats(cls).partial_slabs == 0);
  REQUIRE(central_take_slab_list(cls, 1, 100, &taken) == 0);  // no partial slab left

  // The list is not read: a block on it that fails its check is handed over all the same (the
  // bin that takes it checks each block as it hands it out).
  central_return(cls, chain_of(blocks, 10, 40), 30);
  blocks[20]->link = 0x4141414141414141;
  REQUIRE(central_take_slab_list(cls, 1, 100, &taken) == 30);
  REQUIRE(slab->used == capacity);

  // A slab with uncarved slots stays partial, and the next take carves where it left off.
  central_return(cls, chain_of(blocks, 0, capacity), capacity);  // rewrites every pair
  REQUIRE(slab->used == 0);
  FreeBlock* chain = nullptr;
  REQUIRE(central_take(cls, 8, &chain) == 8);
  std::vector<FreeBlock*> carved = blocks_of(chain);
  SlabMeta* fresh = slab_of(carved[0]);
  central_return(cls, chain_of(carved, 0, 4), 4);
  REQUIRE(central_take_slab_list(cls, 1, 100, &taken) == 4);
  REQUIRE(fresh->free == nullptr);
  REQUIRE(fresh->list == kSlabPartial);
  FreeBlock* next = nullptr;
  REQUIRE(central_take(cls, 1, &next) == 1);
  REQUIRE(reinterpret_cast<char*>(next) == slab_data(fresh) + 8 * size_t(kSizeClasses[cls].size));
  central_return(cls, taken, 4);
  central_return(cls, chain_of(carved, 4, 8), 4);
  central_return(cls, next, 1);
  REQUIRE(central_stats(cls).partial_slabs == 0);
}

TEST_CASE("each centre shard carves slabs of its own, and blocks go back to their slab's shard") {
  const unsigned cls = size_to_class(48);
  const unsigned batch = kSizeClasses[cls].batch;
  REQUIRE(pool_init());
  central_flush_transfers();
  // Two threads join shards (different ones: the join case below) and each take a batch while
  // both hold their shards (a shard without threads gives its slabs away: the last case). One
  // more block each stays out, so that neither slab empties and is released below.
  std::atomic<int> joined{0}, taken{0};
  std::atomic<bool> done{false};
  uint8_t shard[2] = {};
  FreeBlock* chain[2] = {};
  FreeBlock* kept[2] = {};
  unsigned got[2] = {};  // checked once both are done: assertions are not made from two threads at once
  auto holder = [&](int i) {
    central_join_shard();
    shard[i] = t_central_shard;
    ++joined;
    while (joined.load() < 2) std::this_thread::yield();
    got[i] = central_take(cls, batch, &chain[i]) + central_take(cls, 1, &kept[i]);
    ++taken;
    while (!done.load()) std::this_thread::yield();
    central_leave_shard();
  };
  std::thread first_holder(holder, 0), second_holder(holder, 1);
  while (taken.load() < 2) std::this_thread::yield();
  REQUIRE(got[0] == batch + 1);
  REQUIRE(got[1] == batch + 1);
  REQUIRE(shard[0] != shard[1]);
  std::set<const SlabMeta*> slabs_of_first;
  for (FreeBlock* b = chain[0]; b; b = link_of(g_pool.free_key, b)) {
    CHECK(slab_of(b)->shard == shard[0]);
    slabs_of_first.insert(slab_of(b));
  }
  for (FreeBlock* b = chain[1]; b; b = link_of(g_pool.free_key, b)) {
    CHECK(slab_of(b)->shard == shard[1]);
    CHECK(slabs_of_first.count(slab_of(b)) == 0);
  }
  // A thread of the second shard drains the first shard's batch: it lands on the first shard's
  // shelf, not its own.
  std::thread([&] {
    t_central_shard = shard[1];
    REQUIRE(central_push_batch(cls, chain[0]));
    CHECK(central_pop_batch(cls) == nullptr);
  }).join();
  CHECK(central_stats(cls).transfer_blocks == batch);
  std::thread([&] {
    t_central_shard = shard[0];
    CHECK(central_pop_batch(cls) == chain[0]);
  }).join();
  // Returned by a thread of another shard, each block goes to its own slab: the first shard's
  // partial slab takes its blocks back (its next take gets them again), no shard gains a slab.
  const size_t partial_before = central_stats(cls).partial_slabs;
  uint8_t other = 0;
  while (other == shard[0] || other == shard[1]) ++other;
  std::thread([&] {
    t_central_shard = other;
    central_return(cls, chain[0], batch);
    central_return(cls, chain[1], batch);
  }).join();
  CHECK(central_stats(cls).partial_slabs == partial_before);
  std::thread([&] {
    t_central_shard = shard[0];
    FreeBlock* again = nullptr;
    REQUIRE(central_take(cls, 1, &again) == 1);
    CHECK(slabs_of_first.count(slab_of(again)) == 1);
    central_return(cls, again, 1);
  }).join();
  done = true;
  first_holder.join();
  second_holder.join();
  central_return(cls, kept[0], 1);
  central_return(cls, kept[1], 1);
  CHECK(central_stats(cls).partial_slabs == partial_before - 2);
}

TEST_CASE("a thread joins the shard with the fewest threads, and leaves it at its exit") {
  // Besides the threads here, at most the main thread holds a shard (its cache set up by an
  // earlier case): no shard has two threads more than another.
  std::atomic<int> stage{0};
  int first = -1, second = -1, third = -1;
  std::thread holder([&] {
    central_join_shard();
    first = t_central_shard;
    stage = 1;
    while (stage.load() < 2) std::this_thread::yield();  // the second joins while this one holds its shard
    central_leave_shard();
  });
  while (stage.load() < 1) std::this_thread::yield();
  std::thread([&] {
    central_join_shard();
    second = t_central_shard;
    central_leave_shard();
  }).join();
  stage = 2;
  holder.join();
  std::thread([&] {
    central_join_shard();
    third = t_central_shard;
    central_leave_shard();
  }).join();
  CHECK(second != first);  // the first's shard had a thread more than another
  CHECK(third == first);   // it left: the counts are as they were before it joined
}

TEST_CASE("a thread whose shard has nothing takes what a shard without threads left") {
  // Threads here set their shard without joining one: no thread is counted in shard 3.
  const unsigned cls = size_to_class(80);  // used by no other case here
  const unsigned batch = kSizeClasses[cls].batch;
  REQUIRE(pool_init());
  central_flush_transfers();
  FreeBlock* left = nullptr;
  FreeBlock* kept = nullptr;
  std::thread([&] {
    t_central_shard = 3;
    REQUIRE(central_take(cls, batch, &left) == batch);
    REQUIRE(central_take(cls, 1, &kept) == 1);  // its slab stays partial, not released
    REQUIRE(central_push_batch(cls, left));
  }).join();
  SlabMeta* slab = slab_of(kept);
  REQUIRE(int(slab->shard) == 3);
  std::thread([&] {
    t_central_shard = 2;
    // Its own shelf and partial list of the class are empty: shard 3's batch, then its slab.
    CHECK(central_pop_batch(cls) == left);
    FreeBlock* got = nullptr;
    REQUIRE(central_take(cls, 1, &got) == 1);
    CHECK(slab_of(got) == slab);
    CHECK(int(__atomic_load_n(&slab->shard, __ATOMIC_RELAXED)) == 2);
    central_return(cls, got, 1);
  }).join();
  central_return(cls, left, batch);
  central_return(cls, kept, 1);
  CHECK(central_stats(cls).partial_slabs == 0);
}
