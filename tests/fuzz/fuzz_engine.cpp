// libFuzzer target: the input is a program of allocator operations run in-process against the
// engine (engine_*), the application pools and the C/C++ interface (categories, limits, release,
// optimizer, defragmentation), with a helper thread that frees and allocates blocks handed over in
// batches. After every operation: the touched block's contents, and memf's figures against the
// harness's own sums where docs/tracker.md and docs/pools.md promise exactness (current bytes, the
// harness's categories, the pools' chunk memory and used counts). At the end of every input
// everything is freed and memf's current bytes must be back where they were before it.
#include <memf/memf.h>
#include <memf/memf.hpp>
#include <memf/memory_pool.hpp>
#include <memf/pressure.h>

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/misuse_test_util.hpp"
#include "engine.hpp"
#include "pool_arena.hpp"

using namespace memf;

namespace {

constexpr size_t KiB = 1024, MiB = KiB * KiB;
constexpr size_t kPoolLimit = 16384;      // the build's default MEMF_POOL_LIMIT; the run sets none
constexpr size_t kMaxLiveBytes = 48 * MiB;  // keeps one input's footprint bounded
constexpr size_t kMaxBlocks = 256;
constexpr size_t kMaxOps = 4096;
constexpr unsigned kScopeDepthMax = 12;  // below the 14 levels memf remembers: every push counts
constexpr unsigned kMemoryPools = 3;
constexpr const char* kCategories[] = {"fuzz.a", "fuzz.b", "fuzz.c", "fuzz.d"};
constexpr unsigned kNoCategory = 4;  // "Unknown": no harness scope was active

[[noreturn]] void fail(const char* what, size_t a = 0, size_t b = 0) {
  fprintf(stderr, "fuzz_engine: %s (%zu, %zu)\n", what, a, b);
  abort();
}
#define CHECK(cond, ...) \
  do {                   \
    if (!(cond)) fail(#cond, ##__VA_ARGS__); \
  } while (0)

// Reads the input; past its end every read is 0, so any byte string is a valid program.
struct Input {
  const uint8_t* data;
  size_t size, at = 0;
  bool done() const { return at >= size; }
  uint8_t u8() { return at < size ? data[at++] : 0; }
  uint16_t u16() { return uint16_t(u8() | (u8() << 8)); }
};

enum class Owner : uint8_t { kEngine, kMemoryPool, kVariablePool };

struct Block {
  uint8_t* p;
  size_t asked;      // bytes the harness may use and fills
  size_t accounted;  // what memf counts: the size class for pool blocks, the bytes asked otherwise
  uint64_t id;
  Owner owner;
  uint8_t pool;       // MemoryPool index for kMemoryPool
  uint8_t category;   // kCategories index or kNoCategory
  uint8_t alt_category;  // != category: memf may have kept either (a large block moved in place)
};

// The byte loops below are the harness's, not memf's: kept out of the coverage feedback (and
// fast), word by word.
#define NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))

inline uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x9e3779b97f4a7c15ull;
  return x ^ (x >> 29);
}

// Byte i of block id's contents.
inline uint8_t pattern(uint64_t id, size_t i) { return uint8_t(mix(id + (i >> 3)) >> ((i & 7) * 8)); }

NO_COVERAGE void fill(const Block& b) {
  size_t i = 0;
  for (; i + 8 <= b.asked; i += 8) {
    const uint64_t word = mix(b.id + (i >> 3));
    memcpy(b.p + i, &word, 8);
  }
  for (; i < b.asked; ++i) b.p[i] = pattern(b.id, i);
}

// The first differing offset of [from, to) of b, or SIZE_MAX.
NO_COVERAGE size_t first_difference(const Block& b, size_t from, size_t to) {
  size_t i = from;
  for (; i < to && (i & 7); ++i)
    if (b.p[i] != pattern(b.id, i)) return i;
  for (; i + 8 <= to; i += 8) {
    uint64_t word;
    memcpy(&word, b.p + i, 8);
    if (word != mix(b.id + (i >> 3))) break;
  }
  for (; i < to; ++i)
    if (b.p[i] != pattern(b.id, i)) return i;
  return SIZE_MAX;
}

NO_COVERAGE bool all_zero(const uint8_t* p, size_t n) {
  uint8_t any = 0;
  for (size_t i = 0; i < n; ++i) any |= p[i];
  return any == 0;
}

// Every byte of blocks up to 1 MiB; larger ones' first and last 64 KiB and every 509th byte.
void verify(const Block& b) {
  const size_t n = b.asked;
  size_t bad = SIZE_MAX;
  if (n <= MiB) {
    bad = first_difference(b, 0, n);
  } else {
    bad = std::min(first_difference(b, 0, 64 * KiB), first_difference(b, n - 64 * KiB, n));
    for (size_t i = 64 * KiB; i < n - 64 * KiB && bad == SIZE_MAX; i += 509) bad = first_difference(b, i, i + 1);
  }
  if (bad != SIZE_MAX) fail("block contents changed: block id, offset", b.id, bad);
}

// The bytes VariablePool counts for a request (include/memf/memory_pool.hpp): 16-byte steps up
// to 1 KiB, then four classes per doubling; past 256 KiB the block's own mapping, whole pages.
size_t variable_class_bytes(size_t size) {
  if (size > 256 * KiB) return (size + 4095) & ~size_t(4095);
  const unsigned cls = detail::variable_class_of(size);
  if (cls < 64) return size_t(cls + 1) * 16;
  const unsigned bits = (cls - 64) / 4 + 11, quarter = (cls - 64) % 4;
  return (size_t(1) << (bits - 1)) + (size_t(quarter) + 1) * (size_t(1) << (bits - 3));
}

// Gives p back to b's owner; size is VariablePool's size argument.
void owner_free(const Block& b, void* p, size_t size, MemoryPool* mpool, VariablePool* vpool) {
  switch (b.owner) {
    case Owner::kEngine: engine_free(p); break;
    case Owner::kMemoryPool: mpool->deallocate(p); break;
    case Owner::kVariablePool: vpool->deallocate(p, size); break;
  }
}

memf_stats stats() {
  memf_stats s{};
  CHECK(memf_get_stats(&s) == 0);
  return s;
}

// One thread that frees and allocates what the main thread hands it, a batch at a time; the main
// thread waits for each batch, so the helper is idle whenever figures are compared.
class Helper {
 public:
  struct Job {
    Block block;
    MemoryPool* mpool;
    VariablePool* vpool;
    bool allocate;  // allocate block.asked bytes from the engine into block.p; else free block
  };

  Helper() : thread_([this] { run(); }) {}

  void run_batch(std::vector<Job>& jobs) {
    std::unique_lock<std::mutex> lock(mutex_);
    jobs_ = &jobs;
    cv_.notify_all();
    cv_.wait(lock, [&] { return jobs_ == nullptr; });
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return jobs_ != nullptr; });
      for (Job& job : *jobs_) {
        Block& b = job.block;
        if (job.allocate) {
          b.p = static_cast<uint8_t*>(engine_malloc(b.asked));
          if (b.p) fill(b);
          continue;
        }
        verify(b);
        owner_free(b, b.p, b.asked, job.mpool, job.vpool);
      }
      jobs_ = nullptr;
      cv_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Job>* jobs_ = nullptr;
  std::thread thread_;  // never joined: it lives as long as the fuzzing process
};

Helper& helper() {
  static Helper* h = new Helper;
  return *h;
}

struct Run {
  Input in;
  std::vector<Block> blocks;
  std::unique_ptr<MemoryPool> mpools[kMemoryPools];
  std::unique_ptr<VariablePool> vpool;
  bool helper_used_pool[kMemoryPools] = {};
  unsigned scopes[kScopeDepthMax];
  unsigned depth = 0;
  bool limit_fails = false;  // a limit is set with MEMF_LIMIT_FAIL: allocations may return null
  uint64_t next_id = 1;
  uint64_t base_bytes;
  size_t live_bytes = 0;

  unsigned category() const { return depth ? scopes[depth - 1] : kNoCategory; }

  size_t pick_size() {
    const uint8_t kind = in.u8();
    const uint16_t v = in.u16();
    if (kind < 128) return v % 257;                 // the smallest classes, 0 included
    if (kind < 200) return v % (kPoolLimit + 1);    // every pool class
    if (kind < 250) return kPoolLimit + 1 + size_t(v) * 16;  // large, up to about 1 MiB
    if (kind < 254) return 2 * MiB - 64 + (v % 128);  // around the huge threshold
    return 2 * MiB + size_t(v) * 64;                   // huge, up to 6 MiB
  }

  bool room_for(size_t size) const { return blocks.size() < kMaxBlocks && live_bytes + size <= kMaxLiveBytes; }

  // An allocation returned null: only allowed while a failing limit is set.
  void null_result(const char* what, size_t size) {
    if (!limit_fails) fail(what, size);
  }

  void add_engine(void* p, size_t asked, bool zeroed, size_t alignment = 16) {
    CHECK(uintptr_t(p) % alignment == 0, uintptr_t(p), alignment);
    Block b{static_cast<uint8_t*>(p), asked, 0, next_id++, Owner::kEngine, 0, uint8_t(category()), uint8_t(category())};
    b.accounted = pool_contains(p) ? engine_usable_size(p) : asked;
    CHECK(engine_usable_size(p) >= asked, engine_usable_size(p), asked);
    if (zeroed) CHECK(all_zero(b.p, asked), asked);
    fill(b);
    blocks.push_back(b);
    live_bytes += asked;
  }

  Block take(size_t index) {
    Block b = blocks[index];
    blocks[index] = blocks.back();
    blocks.pop_back();
    live_bytes -= b.asked;
    return b;
  }

  MemoryPool* pool_of(const Block& b) { return b.owner == Owner::kMemoryPool ? mpools[b.pool].get() : nullptr; }

  void release(const Block& b) {
    verify(b);
    owner_free(b, b.p, b.asked, pool_of(b), vpool.get());
  }

  void op_malloc() {
    const size_t size = pick_size();
    if (!room_for(size)) return;
    void* p = engine_malloc(size);
    if (!p) return null_result("malloc returned null", size);
    add_engine(p, size, false);
  }

  void op_calloc() {
    const size_t count = 1 + in.u8() % 16, size = pick_size() / count;
    if (!room_for(count * size)) return;
    void* p = engine_calloc(count, size);
    if (!p) return null_result("calloc returned null", count * size);
    add_engine(p, count * size, true);
  }

  void op_aligned() {
    const uint8_t how = in.u8();
    const size_t alignment = size_t(8) << (how % 14);  // 8 B .. 64 KiB
    size_t size = pick_size();
    if (!room_for(size)) return;
    void* p = nullptr;
    switch (how / 14 % 4) {
      case 0: CHECK(engine_posix_memalign(&p, alignment, size) == 0 || limit_fails); break;
      case 1: p = engine_aligned_alloc(alignment, size); break;
      case 2: p = engine_memalign(alignment, size); break;
      case 3: p = engine_new_aligned_nothrow(size, alignment); break;
    }
    if (!p) return null_result("aligned allocation returned null", size);
    add_engine(p, size, false, alignment);
  }

  void op_realloc() {
    if (blocks.empty()) return;
    const size_t index = in.u8() % blocks.size();
    const size_t size = std::max<size_t>(1, pick_size());  // size 0 frees: op_free covers freeing
    Block& b = blocks[index];
    if (b.owner != Owner::kEngine || !room_for(size)) return;
    verify(b);
    settle(b);
    void* q = engine_realloc(b.p, size);
    if (!q) return null_result("realloc returned null", size);  // b is untouched then
    const bool was_large = !pool_contains(b.p);
    const uint8_t old_category = b.category, old_alt = b.alt_category;
    Block old = take(index);
    Block kept = old;  // the new block starts with the old contents
    kept.p = static_cast<uint8_t*>(q);
    kept.asked = std::min(old.asked, size);
    verify(kept);
    add_engine(q, size, false);
    Block& moved = blocks.back();
    if (q == old.p) {  // in place: the tag stays (still unresolved if it was)
      moved.category = old_category;
      moved.alt_category = old_alt;
    } else if (was_large && size > kPoolLimit && old_category != moved.category) {
      moved.alt_category = old_category;  // moved by the large path (which keeps the tag) or copied
    }
  }

  void op_free() {
    if (blocks.empty()) return;
    release(take(in.u8() % blocks.size()));
  }

  // Hands up to 16 blocks to the helper to free, and has it allocate a few for this thread.
  void op_cross_thread() {
    std::vector<Helper::Job> jobs;
    const unsigned frees = in.u8() % 17, allocations = in.u8() % 5;
    for (unsigned i = 0; i < frees && !blocks.empty(); ++i) {
      Block b = take(in.u8() % blocks.size());
      if (b.owner == Owner::kMemoryPool) helper_used_pool[b.pool] = true;
      jobs.push_back({b, pool_of(b), vpool.get(), false});
    }
    for (unsigned i = 0; i < allocations; ++i) {
      const size_t size = pick_size();
      if (!room_for(size)) break;
      jobs.push_back({Block{nullptr, size, 0, next_id++, Owner::kEngine, 0, kNoCategory, kNoCategory}, nullptr, nullptr, true});
    }
    helper().run_batch(jobs);
    for (const Helper::Job& job : jobs) {
      if (!job.allocate) continue;
      Block b = job.block;
      if (!b.p) {
        null_result("the helper's malloc returned null", b.asked);
        continue;
      }
      verify(b);
      b.accounted = pool_contains(b.p) ? engine_usable_size(b.p) : b.asked;
      blocks.push_back(b);
      live_bytes += b.asked;
    }
  }

  void op_memory_pool() {
    const uint8_t how = in.u8();
    const unsigned k = how % kMemoryPools;
    if (!mpools[k]) {
      static const size_t kObjectSizes[kMemoryPools] = {8, 48, 1000};
      const std::string name = "fuzz.pool." + std::to_string(k);
      mpools[k] = std::make_unique<MemoryPool>(kObjectSizes[k], 1 + in.u8(), name.c_str());
      helper_used_pool[k] = false;
      return;
    }
    MemoryPool& pool = *mpools[k];
    switch (how / kMemoryPools % 4) {
      case 0:
      case 1: {
        for (unsigned n = 1 + in.u8() % 8; n > 0 && room_for(pool.getObjectSize()); --n) {
          void* p = pool.allocate();
          CHECK(p != nullptr);
          CHECK(uintptr_t(p) % pool.getAlignment() == 0);
          Block b{static_cast<uint8_t*>(p), pool.getObjectSize(), 0, next_id++, Owner::kMemoryPool, uint8_t(k), kNoCategory, kNoCategory};
          fill(b);
          blocks.push_back(b);
          live_bytes += b.asked;
        }
        break;
      }
      case 2: drop_pool_blocks(Owner::kMemoryPool, k), pool.clear(), helper_used_pool[k] = false; break;
      case 3:
        if (in.u8() & 1) {
          drop_pool_blocks(Owner::kMemoryPool, k);
          mpools[k].reset();
        } else {
          pool.shrink();
        }
        break;
    }
  }

  void op_variable_pool() {
    const uint8_t how = in.u8();
    if (!vpool) {
      vpool = std::make_unique<VariablePool>(size_t(in.u8()) * KiB, "fuzz.vpool");
      return;
    }
    switch (how % 5) {
      case 0:
      case 1:
      case 2: {
        size_t size = pick_size();
        if (size > 512 * KiB) size %= 512 * KiB;  // past 256 KiB a block is a mapping of its own
        const size_t alignment = size_t(1) << (in.u8() % 13);
        if (!room_for(size)) return;
        void* p = vpool->allocate(size, alignment);
        CHECK(p != nullptr, size, alignment);
        CHECK(uintptr_t(p) % std::max<size_t>(alignment, 16) == 0, uintptr_t(p), alignment);
        Block b{static_cast<uint8_t*>(p), size, variable_class_bytes(size), next_id++, Owner::kVariablePool, 0, kNoCategory, kNoCategory};
        fill(b);
        blocks.push_back(b);
        live_bytes += size;
        break;
      }
      case 3: drop_pool_blocks(Owner::kVariablePool, 0), vpool->clear(); break;
      case 4:
        if (in.u8() & 1) {
          drop_pool_blocks(Owner::kVariablePool, 0);
          vpool.reset();
        } else {
          vpool->shrink();
        }
        break;
    }
  }

  // clear() and the destructor free a pool's blocks: check them, then forget them.
  void drop_pool_blocks(Owner owner, unsigned k) {
    for (size_t i = blocks.size(); i-- > 0;)
      if (blocks[i].owner == owner && blocks[i].pool == k) verify(take(i));
  }

  void op_scope() {
    const uint8_t how = in.u8();
    if (how & 1) {
      if (depth > 0) {
        memf_category_pop();
        --depth;
      }
    } else if (depth < kScopeDepthMax) {
      scopes[depth++] = (how >> 1) % 4;
      memf_category_push(kCategories[scopes[depth - 1]]);
    }
  }

  // A limit around the current usage (below it, too), warning or failing.
  void op_limit() {
    const uint8_t how = in.u8();
    if (how < 32) {
      memf_set_limit(0);
      CHECK(memf_set_limit_action(MEMF_LIMIT_WARN) == 0);
      limit_fails = false;
      return;
    }
    const uint64_t now = stats().current_bytes;
    const uint64_t limit = std::max<uint64_t>(1, now / 2 + now / 64 * (in.u8() % 128));
    const bool fails = how & 1;
    CHECK(memf_set_limit_action(fails ? MEMF_LIMIT_FAIL : MEMF_LIMIT_WARN) == 0);
    memf_set_limit(limit);
    limit_fails = fails;
    CHECK(stats().limit_bytes == limit);
    // The moderate threshold (0.75: the harness never moves it) of the limit just set. The
    // monitor may be freeing memory meanwhile: usage read on both sides, judged when they agree.
    MemoryTracker& tracker = MemoryTracker::getInstance();
    const bool before = double(tracker.getCurrentUsage()) >= 0.75 * double(limit);
    const bool pressure = tracker.isMemoryPressure();
    const bool after = double(tracker.getCurrentUsage()) >= 0.75 * double(limit);
    if (before == after) CHECK(pressure == before, size_t(pressure), size_t(before));
  }

  void op_maintenance() {
    switch (in.u8() % 5) {
      case 0: memf_release_memory(); break;
      case 1: memf_optimize(size_t(in.u16()) * KiB); break;
      case 2: memf_pools_shrink_all(); break;
      case 3: shrinkAllPools(); break;
      case 4: {  // defragmentation: a moved block keeps its contents
        if (blocks.empty()) return;
        Block& b = blocks[in.u8() % blocks.size()];
        if (b.owner != Owner::kEngine) return;
        settle(b);
        const int hint = memf_defrag_hint(b.p);
        CHECK(hint == 0 || hint == 1, size_t(hint));
        void* q = memf_defrag_move(b.p);
        CHECK(q != nullptr);
        if (q != b.p) {
          CHECK(engine_owns(q));
          b.p = static_cast<uint8_t*>(q);
          b.accounted = pool_contains(q) ? engine_usable_size(q) : b.asked;
          if (b.category != category()) b.alt_category = uint8_t(category());  // the old tag or this thread's
        }
        verify(b);
        break;
      }
    }
  }

  void op_usable_size() {
    if (blocks.empty()) return;
    const Block& b = blocks[in.u8() % blocks.size()];
    verify(b);
    if (b.owner != Owner::kEngine) return;
    CHECK(engine_owns(b.p));
    const size_t usable = engine_usable_size(b.p);
    CHECK(usable >= b.asked, usable, b.asked);
    if (pool_contains(b.p)) CHECK(usable == b.accounted, usable, b.accounted);
  }

  // The program's own bugs (MEMF_ON_ERROR=report, set at start-up): a second free right after the
  // first (nothing is allocated between, so the address is not handed out again), a free inside a
  // live block, a free of memory memf never handed out. Each is reported on one line and changes
  // nothing: the live block stays intact, and the figures are checked after the operation.
  void op_misuse() {
    const uint8_t how = in.u8();
    if (blocks.empty()) return;
    const size_t index = in.u8() % blocks.size();
    std::string report;
    switch (how % 3) {
      case 0: {
        const Block b = take(index);
        release(b);
        report = misuse_test::stderr_of([&] { owner_free(b, b.p, b.asked, pool_of(b), vpool.get()); });
        break;
      }
      case 1: {
        const Block& b = blocks[index];
        const size_t offset = 16 * (1 + in.u8() % 4);
        if (b.asked < offset + 16) return;
        report = misuse_test::stderr_of([&] { owner_free(b, b.p + offset, b.asked - offset, pool_of(b), vpool.get()); });
        verify(b);
        break;
      }
      case 2: {
        uint64_t local[4] = {};
        report = misuse_test::stderr_of([&] { engine_free(&local[in.u8() % 4]); });
        break;
      }
    }
    CHECK(report.rfind("memf: error: ", 0) == 0 && report.find("ignored") != std::string::npos, how % 3, report.size());
  }

  // Every harness block is in memf's snapshot of live blocks, in a category memf may have put it;
  // the snapshot settles which one.
  void op_snapshot() {
    std::vector<AllocationInfo> active = MemoryTracker::getInstance().getActiveAllocations();
    std::sort(active.begin(), active.end(), [](const AllocationInfo& a, const AllocationInfo& b) { return a.ptr < b.ptr; });
    for (Block& b : blocks) {
      if (b.owner != Owner::kEngine) continue;
      auto it = std::lower_bound(active.begin(), active.end(), static_cast<void*>(b.p),
                                 [](const AllocationInfo& a, void* p) { return a.ptr < p; });
      CHECK(it != active.end() && it->ptr == b.p, b.id, b.asked);
      auto name_of = [](uint8_t c) { return std::string(c == kNoCategory ? "Unknown" : kCategories[c]); };
      CHECK(it->category == name_of(b.category) || it->category == name_of(b.alt_category), b.id);
      b.category = b.alt_category = it->category == name_of(b.category) ? b.category : b.alt_category;
    }
  }

  // Before a block may move again: its category settled, so that two candidates stay enough.
  void settle(const Block& b) {
    if (b.category != b.alt_category) op_snapshot();
  }

  // memf's figures against the harness's sums. The pressure monitor (running when a limit or a
  // cgroup limit exists) may shrink the pools meanwhile, between a pool's chunk count and the
  // tracker's: a mismatch fails only when it persists (0.2 s), a real miscount does not go away.
  void check_figures() {
    uint64_t engine_bytes = 0;
    uint64_t by_category[kNoCategory] = {};
    bool ambiguous = false;
    uint64_t used[kMemoryPools] = {}, variable_used = 0;
    for (const Block& b : blocks) {
      switch (b.owner) {
        case Owner::kEngine:
          engine_bytes += b.accounted;
          if (b.category != b.alt_category) ambiguous = true;
          if (b.category != kNoCategory) by_category[b.category] += b.accounted;
          break;
        case Owner::kMemoryPool: ++used[b.pool]; break;
        case Owner::kVariablePool: variable_used += b.accounted; break;
      }
    }
    for (unsigned k = 0; k < kMemoryPools; ++k)
      // Exact for this thread; the helper's frees are seen once it exchanged with the pool.
      if (mpools[k] && !helper_used_pool[k]) CHECK(mpools[k]->getUsedCount() == used[k], mpools[k]->getUsedCount(), used[k]);
    if (vpool) CHECK(vpool->getUsedBytes() == variable_used, vpool->getUsedBytes(), variable_used);
    for (unsigned attempt = 0;; ++attempt) {
      const char* mismatch = figures_mismatch(engine_bytes, ambiguous ? nullptr : by_category);
      if (!mismatch) return;
      if (attempt == 200) fail(mismatch, attempt);
      usleep(1000);
    }
  }

  // What differs between memf's figures and the expected ones, or nullptr.
  const char* figures_mismatch(uint64_t engine_bytes, const uint64_t* by_category) {
    std::unordered_map<std::string, size_t> usage = MemoryTracker::getInstance().getUsageByCategory();
    uint64_t expected = base_bytes + engine_bytes;
    for (unsigned k = 0; k < kMemoryPools; ++k) {
      if (!mpools[k]) continue;
      const size_t chunk_bytes = mpools[k]->getMemoryUsage();
      expected += chunk_bytes;
      if (usage["fuzz.pool." + std::to_string(k)] != chunk_bytes) return "a MemoryPool's category != its chunk memory";
    }
    if (vpool) {
      expected += vpool->getMemoryUsage();
      if (usage["fuzz.vpool"] != vpool->getMemoryUsage()) return "the VariablePool's category != its chunk memory";
    }
    const memf_stats s = stats();
    if (s.current_bytes != expected) {
      static char text[160];
      snprintf(text, sizeof text, "memf's current bytes %zu != the blocks' and the pools' %zu", size_t(s.current_bytes),
               size_t(expected));
      return text;
    }
    if (s.peak_bytes < s.current_bytes) return "peak bytes < current bytes";
    if (by_category)
      for (unsigned c = 0; c < kNoCategory; ++c)
        if (usage[kCategories[c]] != by_category[c]) {
          static char text[160];
          snprintf(text, sizeof text, "category %s: memf counts %zu bytes, its blocks are %zu", kCategories[c],
                   usage[kCategories[c]], size_t(by_category[c]));
          return text;
        }
    return nullptr;
  }

  void execute() {
    static const bool trace = getenv("FUZZ_ENGINE_TRACE") != nullptr;  // each operation on stderr
    base_bytes = stats().current_bytes;
    for (unsigned c = 0; c < kNoCategory; ++c)
      CHECK(MemoryTracker::getInstance().getUsageByCategory()[kCategories[c]] == 0, c);
    for (size_t n = 0; n < kMaxOps && !in.done(); ++n) {
      const unsigned code = in.u8() % 16;
      if (trace) fprintf(stderr, "op %u: %zu blocks, scope depth %u\n", code, blocks.size(), depth);
      switch (code) {
        case 0: case 1: op_malloc(); break;
        case 2: op_calloc(); break;
        case 3: op_aligned(); break;
        case 4: op_realloc(); break;
        case 5: case 6: op_free(); break;
        case 7: op_cross_thread(); break;
        case 8: op_memory_pool(); break;
        case 9: op_variable_pool(); break;
        case 10: op_scope(); break;
        case 11: op_limit(); break;
        case 12: op_maintenance(); break;
        case 13: op_usable_size(); break;
        case 14: op_snapshot(); break;
        case 15: op_misuse(); break;
      }
      check_figures();
    }
    finish();
  }

  // Frees everything (half through the helper), undoes scopes and limits; memf must be back at
  // the figures it had before the input.
  void finish() {
    memf_set_limit(0);
    CHECK(memf_set_limit_action(MEMF_LIMIT_WARN) == 0);
    limit_fails = false;
    std::vector<Helper::Job> jobs;
    for (size_t i = blocks.size(); i-- > 0;) {
      if (i % 2) {
        const Block& b = blocks[i];
        jobs.push_back({b, pool_of(b), vpool.get(), false});
      } else {
        release(blocks[i]);
      }
    }
    helper().run_batch(jobs);
    blocks.clear();
    live_bytes = 0;
    check_figures();
    for (auto& pool : mpools) pool.reset();
    vpool.reset();
    for (; depth > 0; --depth) memf_category_pop();
    const uint64_t after = stats().current_bytes;
    CHECK(after == base_bytes, after, base_bytes);
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  misuse_test::set_on_error("report");  // op_misuse: reported and ignored, not aborted
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Run run{Input{data, size}};
  run.execute();
  return 0;
}
