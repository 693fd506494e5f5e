// Soak test: `soak [seconds] [threads]` runs threads that allocate, free, reallocate and pass
// blocks to each other (one queue per thread) for that long, checking every block's contents
// whenever it changes hands or size and before it is freed. At the end, after every thread joined
// and every block is freed, memf's current bytes must be what they were at the start (exact once
// the threads exited: docs/tracker.md). Any corruption or difference exits non-zero.
//
// Built twice: with SOAK_ENGINE, linked with lib/ and calling the engine in-process (the only
// allocations memf sees are the soak's); without, a plain program run under LD_PRELOAD=libmemf.so,
// calling malloc and finding memf_get_stats with dlsym. A third argument `leak` leaks one block
// at the very end, for the test that the leak-check runs would see one.
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <memf/memf.h>

#ifdef SOAK_ENGINE
#include "engine.hpp"
#define SOAK_MALLOC memf::engine_malloc
#define SOAK_CALLOC memf::engine_calloc
#define SOAK_REALLOC memf::engine_realloc
#define SOAK_ALIGNED memf::engine_aligned_alloc
#define SOAK_FREE memf::engine_free
#else
#define SOAK_MALLOC malloc
#define SOAK_CALLOC calloc
#define SOAK_REALLOC realloc
#define SOAK_ALIGNED aligned_alloc
#define SOAK_FREE free
#endif

namespace {

constexpr size_t kLivePerThread = 2048;
constexpr size_t kQueueSlots = 1024;
constexpr size_t MiB = size_t(1) << 20;

[[noreturn]] void fail(const char* what, unsigned long long a = 0, unsigned long long b = 0) {
  fprintf(stderr, "soak: %s (%llu, %llu)\n", what, a, b);
  fflush(stderr);
  _exit(1);  // not exit(): no leak report of the half-finished run
}

struct Block {
  uint8_t* p;
  size_t size;
  uint64_t seed;
};

inline uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x9e3779b97f4a7c15ull;
  return x ^ (x >> 29);
}

// Byte i of a block stamped with seed: byte i % 8 of the word at i - i % 8.
inline uint8_t byte_at(uint64_t seed, size_t i) { return uint8_t(mix(seed + (i & ~size_t(7))) >> ((i & 7) * 8)); }

void stamp(const Block& b) {
  size_t i = 0;
  for (; i + 8 <= b.size; i += 8) {
    const uint64_t word = mix(b.seed + i);
    memcpy(b.p + i, &word, 8);
  }
  for (; i < b.size; ++i) b.p[i] = byte_at(b.seed, i);
}

// Checks the first `upto` bytes (all of them by default): every word up to 64 KiB, then one in 61.
void check(const Block& b, size_t upto = SIZE_MAX) {
  const size_t n = upto < b.size ? upto : b.size;
  size_t i = 0;
  for (; i + 8 <= n; i += (i < 65536 ? 8 : 8 * 61)) {
    uint64_t word;
    memcpy(&word, b.p + i, 8);
    if (word != mix(b.seed + i)) fail("a block's contents changed: size, offset", b.size, i);
  }
  for (i = n & ~size_t(7); i < n; ++i)
    if (b.p[i] != byte_at(b.seed, i)) fail("a block's tail changed: size, offset", b.size, i);
}

// A bounded queue of blocks handed to one thread (storage reserved before the run).
struct Queue {
  std::mutex lock;
  Block slots[kQueueSlots];
  size_t count = 0;
};

struct Counts {
  uint64_t allocations = 0, frees = 0, reallocs = 0, sent = 0, received = 0, checked_bytes = 0;
};

struct Shared {
  std::vector<Queue> queues;
  std::atomic<bool> stop{false};
  explicit Shared(unsigned threads) : queues(threads) {}
};

class Worker {
 public:
  Worker(Shared& shared, unsigned index, uint64_t seed) : shared_(shared), index_(index), rng_(seed) {
    live_.reserve(kLivePerThread);
  }

  void run() {
    while (!shared_.stop.load(std::memory_order_relaxed)) {
      for (int i = 0; i < 64; ++i) step();
      receive();
    }
    while (!live_.empty()) release(live_.size() - 1);
  }

  const Counts& counts() const { return counts_; }

 private:
  uint64_t next() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }

  size_t pick_size() {
    const uint64_t r = next();
    const unsigned kind = r % 1000;
    if (kind < 700) return (r >> 16) % 257;          // small pool classes
    if (kind < 950) return (r >> 16) % 16385;        // every pool class
    if (kind < 999) return 16385 + (r >> 16) % (256 * 1024);  // large
    return 2 * MiB + (r >> 16) % (2 * MiB);          // huge (cached mappings)
  }

  void step() {
    const unsigned op = next() % 16;
    if (live_.size() >= kLivePerThread || (op < 5 && !live_.empty())) return release(next() % live_.size());
    if (op < 11 || live_.empty()) return allocate();
    if (op < 14) return reallocate(next() % live_.size());
    send(next() % live_.size());
  }

  void allocate() {
    const size_t size = pick_size();
    const unsigned how = next() % 8;
    void* p;
    if (how == 0) {
      p = SOAK_CALLOC(1, size);
      if (p)
        for (size_t i = 0; i < size; ++i)
          if (static_cast<uint8_t*>(p)[i]) fail("calloc's block is not zeroed: size, offset", size, i);
    } else if (how == 1) {
      const size_t alignment = size_t(32) << (next() % 8);  // 32 B .. 4 KiB
      p = SOAK_ALIGNED(alignment, (size + alignment - 1) / alignment * alignment);
      if (p && uintptr_t(p) % alignment) fail("aligned_alloc's block is misaligned: alignment", alignment);
    } else {
      p = SOAK_MALLOC(size);
    }
    if (!p) fail("allocation failed: size", size);
    Block b{static_cast<uint8_t*>(p), size, next()};
    stamp(b);
    live_.push_back(b);
    ++counts_.allocations;
  }

  void release(size_t i) {
    check(live_[i]);
    counts_.checked_bytes += live_[i].size;
    SOAK_FREE(live_[i].p);
    live_[i] = live_.back();
    live_.pop_back();
    ++counts_.frees;
  }

  // The kept prefix must survive the move; the block is then stamped anew at its new size.
  void reallocate(size_t i) {
    Block& b = live_[i];
    check(b);
    const size_t size = pick_size() | 1;  // never 0: realloc(p, 0) frees
    void* q = SOAK_REALLOC(b.p, size);
    if (!q) fail("realloc failed: size", size);
    b.p = static_cast<uint8_t*>(q);
    check(b, size);
    b.size = size;
    b.seed = next();
    stamp(b);
    ++counts_.reallocs;
  }

  void send(size_t i) {
    const unsigned to = next() % shared_.queues.size();
    Queue& queue = shared_.queues[to];
    {
      std::lock_guard<std::mutex> guard(queue.lock);
      if (queue.count == kQueueSlots) return;
      queue.slots[queue.count++] = live_[i];
    }
    live_[i] = live_.back();
    live_.pop_back();
    ++counts_.sent;
  }

  void receive() {
    Queue& queue = shared_.queues[index_];
    std::lock_guard<std::mutex> guard(queue.lock);
    while (queue.count > 0 && live_.size() < kLivePerThread) {
      const Block& b = queue.slots[--queue.count];
      check(b);
      live_.push_back(b);
      ++counts_.received;
    }
  }

  Shared& shared_;
  unsigned index_;
  uint64_t rng_;
  std::vector<Block> live_;
  Counts counts_;
};

using GetStats = int (*)(memf_stats*);

GetStats find_get_stats() {
#ifdef SOAK_ENGINE
  return memf_get_stats;
#else
  // Under LD_PRELOAD the library's symbol is global; without it the test has nothing to check.
  auto fn = reinterpret_cast<GetStats>(dlsym(RTLD_DEFAULT, "memf_get_stats"));
  if (!fn) fail("memf_get_stats not found: run with LD_PRELOAD=libmemf.so");
  return fn;
#endif
}

memf_stats read_stats(GetStats get) {
  memf_stats s{};
  if (get(&s) != 0) fail("memf_get_stats failed");
  return s;
}

// One run of `threads` workers for `seconds`; the counts summed.
Counts run(Shared& shared, unsigned threads, double seconds, uint64_t seed) {
  std::vector<Worker> workers;
  workers.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) workers.emplace_back(shared, t, mix(seed + t) | 1);
  std::vector<std::thread> pool;
  pool.reserve(threads);
  shared.stop = false;
  for (Worker& w : workers) pool.emplace_back([&w] { w.run(); });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  shared.stop = true;
  for (std::thread& t : pool) t.join();
  // Blocks still queued: checked and freed here.
  Counts total;
  for (Queue& queue : shared.queues) {
    for (size_t i = 0; i < queue.count; ++i) {
      check(queue.slots[i]);
      SOAK_FREE(queue.slots[i].p);
      ++total.frees;
    }
    queue.count = 0;
  }
  for (const Worker& w : workers) {
    const Counts& c = w.counts();
    total.allocations += c.allocations, total.frees += c.frees, total.reallocs += c.reallocs;
    total.sent += c.sent, total.received += c.received, total.checked_bytes += c.checked_bytes;
  }
  if (total.frees != total.allocations) fail("blocks allocated != blocks freed", total.allocations, total.frees);
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 20;
  const unsigned threads = argc > 2 ? unsigned(atoi(argv[2])) : 4;
  if (seconds <= 0 || threads == 0 || threads > 64) fail("usage: soak [seconds > 0] [threads 1..64]");
  const GetStats get = find_get_stats();
  Shared shared(threads);
  // A short run first: whatever the C and C++ runtimes keep after a thread's first start and exit
  // (stdio's buffer included) is then part of the starting figure.
  printf("soak: %u threads, %.1f s\n", threads, seconds);
  fflush(stdout);
  run(shared, threads, 0.05, 1);
  const memf_stats start = read_stats(get);
  const Counts c = run(shared, threads, seconds, 2);
  const memf_stats end = read_stats(get);
  printf("soak: %llu allocations, %llu frees, %llu reallocs, %llu blocks passed between threads, %llu MiB checked\n",
         (unsigned long long)c.allocations, (unsigned long long)c.frees, (unsigned long long)c.reallocs,
         (unsigned long long)c.received, (unsigned long long)(c.checked_bytes >> 20));
  printf("soak: memf current bytes %llu at the start, %llu at the end; %llu allocations, %llu frees counted\n",
         (unsigned long long)start.current_bytes, (unsigned long long)end.current_bytes,
         (unsigned long long)(end.allocations - start.allocations), (unsigned long long)(end.frees - start.frees));
  if (end.current_bytes != start.current_bytes) fail("memf's current bytes did not return to the start", start.current_bytes, end.current_bytes);
  // Every allocation call of the run is counted (reallocs that moved are one more each).
  if (end.allocations - start.allocations < c.allocations) fail("memf counted fewer allocations than were made", end.allocations - start.allocations, c.allocations);
  if (end.allocations - start.allocations != end.frees - start.frees) fail("memf counted allocations != frees", end.allocations - start.allocations, end.frees - start.frees);
  if (end.peak_bytes < start.current_bytes) fail("peak below current");
  if (argc > 3 && strcmp(argv[3], "leak") == 0) {
    [[maybe_unused]] void* volatile leaked = SOAK_MALLOC(100);
    leaked = nullptr;
  }
  return 0;
}
