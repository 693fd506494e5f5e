// Fixed-size object pools compared: memf::MemoryPool, new/delete (whatever allocator is
// preloaded), std::pmr's pool resources and boost::pool. 64-byte objects, three patterns:
//
//   batch    each thread allocates 512 objects, writes each, frees them in reverse; repeated
//   random   each thread keeps 4096 live objects and replaces a random one per step
//   xthread  one thread allocates, another frees (a ring of 1024 pointers between them)
//
// Prints one row per (pattern, pool, threads): wall time divided by all threads' allocate+free
// pairs (so perfect scaling on two cores halves it), the best of five runs.
// Usage: pool_bench [filter] [pairs per thread, millions]; filter picks the pools whose name
// contains it (e.g. "new/" when comparing preloaded allocators), "all" or nothing for every pool.
#include <memf/memory_pool.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <string>
#include <thread>
#include <vector>

#ifdef MEMF_BENCH_BOOST
#include <boost/pool/pool.hpp>
#include <boost/pool/singleton_pool.hpp>
#endif

namespace {

constexpr size_t kObject = 64;
constexpr size_t kBatch = 512;
constexpr size_t kLive = 4096;

struct MemfPool {
  static constexpr const char* name = "memf::MemoryPool";
  static constexpr bool shared = true;
  memf::MemoryPool pool{kObject, 1024, "pool_bench"};
  void* alloc() { return pool.allocate(); }
  void release(void* p) { pool.deallocate(p); }
};

struct NewDelete {
  static constexpr const char* name = "new/delete";
  static constexpr bool shared = true;
  // Called as functions, so the compiler may not pair them away as it may new-expressions.
  void* alloc() { return ::operator new(kObject); }
  void release(void* p) { ::operator delete(p); }
};

struct PmrUnsync {
  static constexpr const char* name = "pmr::unsynchronized_pool_resource";
  static constexpr bool shared = false;
  std::pmr::unsynchronized_pool_resource resource;
  void* alloc() { return resource.allocate(kObject, 16); }
  void release(void* p) { resource.deallocate(p, kObject, 16); }
};

struct PmrSync {
  static constexpr const char* name = "pmr::synchronized_pool_resource";
  static constexpr bool shared = true;
  std::pmr::synchronized_pool_resource resource;
  void* alloc() { return resource.allocate(kObject, 16); }
  void release(void* p) { resource.deallocate(p, kObject, 16); }
};

#ifdef MEMF_BENCH_BOOST
struct BoostPool {
  static constexpr const char* name = "boost::pool";
  static constexpr bool shared = false;
  boost::pool<> pool{kObject};
  void* alloc() { return pool.malloc(); }
  void release(void* p) { pool.free(p); }
};

struct BoostSingletonTag {};
struct BoostSingleton {
  static constexpr const char* name = "boost::singleton_pool (mutex)";
  static constexpr bool shared = true;
  using Pool = boost::singleton_pool<BoostSingletonTag, kObject>;
  void* alloc() { return Pool::malloc(); }
  void release(void* p) { Pool::free(p); }
};
#endif

volatile uint64_t g_sink;

template <class Impl>
void batch(Impl& impl, size_t pairs) {
  void* objects[kBatch];
  uint64_t sum = 0;
  for (size_t done = 0; done < pairs; done += kBatch) {
    for (size_t i = 0; i < kBatch; ++i) {
      objects[i] = impl.alloc();
      *static_cast<uint64_t*>(objects[i]) = i;
    }
    for (size_t i = kBatch; i-- > 0;) {
      sum += *static_cast<uint64_t*>(objects[i]);
      impl.release(objects[i]);
    }
  }
  g_sink = sum;
}

template <class Impl>
void random_replace(Impl& impl, size_t pairs, uint64_t seed) {
  std::vector<void*> live(kLive);
  for (void*& p : live) p = impl.alloc();
  uint64_t x = seed | 1, sum = 0;
  for (size_t i = 0; i < pairs; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    void*& slot = live[x % kLive];
    sum += *static_cast<uint64_t*>(slot);
    impl.release(slot);
    slot = impl.alloc();
    *static_cast<uint64_t*>(slot) = i;
  }
  for (void* p : live) impl.release(p);
  g_sink = sum;
}

// Pointers move in groups of 32; a side with nothing to do spins briefly, then sleeps in a futex
// wait, so the pattern measures the pools even when both threads share one CPU.
struct Ring {
  static constexpr size_t kSize = 1024;
  static constexpr size_t kGroup = 32;
  alignas(64) std::atomic<size_t> head{0};
  alignas(64) std::atomic<size_t> tail{0};
  alignas(64) void* slots[kSize];
};

void wait_for_change(std::atomic<size_t>& value, size_t seen) {
  for (int spin = 0; spin < 200; ++spin) {
    if (value.load(std::memory_order_acquire) != seen) return;
    __builtin_ia32_pause();
  }
  value.wait(seen, std::memory_order_acquire);
}

template <class Impl>
void xthread(Impl& impl, size_t pairs) {
  auto ring = std::make_unique<Ring>();
  std::thread consumer([&] {
    uint64_t sum = 0;
    size_t tail = 0, head_seen = 0;
    for (size_t i = 0; i < pairs; ++i) {
      while (tail == head_seen) {
        head_seen = ring->head.load(std::memory_order_acquire);
        if (tail == head_seen) wait_for_change(ring->head, head_seen);
      }
      void* p = ring->slots[tail % Ring::kSize];
      if (++tail % Ring::kGroup == 0 || i + 1 == pairs) {
        ring->tail.store(tail, std::memory_order_release);
        ring->tail.notify_one();
      }
      sum += *static_cast<uint64_t*>(p);
      impl.release(p);
    }
    g_sink = sum;
  });
  size_t head = 0, tail_seen = 0;
  for (size_t i = 0; i < pairs; ++i) {
    void* p = impl.alloc();
    *static_cast<uint64_t*>(p) = i;
    while (head - tail_seen == Ring::kSize) {
      tail_seen = ring->tail.load(std::memory_order_acquire);
      if (head - tail_seen == Ring::kSize) wait_for_change(ring->tail, tail_seen);
    }
    ring->slots[head % Ring::kSize] = p;
    if (++head % Ring::kGroup == 0 || i + 1 == pairs) {
      ring->head.store(head, std::memory_order_release);
      ring->head.notify_one();
    }
  }
  consumer.join();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Best of five runs, each on a fresh pool: nanoseconds of wall time per pair, all threads' pairs
// counted (xthread moves `pairs` objects in all).
template <class Impl>
double measure(const char* pattern, unsigned threads, size_t pairs) {
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    auto impl = std::make_unique<Impl>();
    const auto start = std::chrono::steady_clock::now();
    if (strcmp(pattern, "xthread") == 0) {
      xthread(*impl, pairs);
    } else {
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
          if (strcmp(pattern, "batch") == 0) batch(*impl, pairs);
          else random_replace(*impl, pairs, 0x9e3779b97f4a7c15ull * (t + 1));
        });
      for (auto& t : pool) t.join();
    }
    const double all = strcmp(pattern, "xthread") == 0 ? double(pairs) : double(pairs) * threads;
    best = std::min(best, seconds_since(start) * 1e9 / all);
  }
  return best;
}

template <class Impl>
void rows(const std::string& filter, size_t pairs) {
  if (!filter.empty() && std::string(Impl::name).find(filter) == std::string::npos) return;
  for (const char* pattern : {"batch", "random"}) {
    std::printf("| %-7s | %-34s | 1 | %6.1f |\n", pattern, Impl::name, measure<Impl>(pattern, 1, pairs));
    std::fflush(stdout);
    if (Impl::shared) {
      std::printf("| %-7s | %-34s | 2 | %6.1f |\n", pattern, Impl::name, measure<Impl>(pattern, 2, pairs));
      std::fflush(stdout);
    }
  }
  if (Impl::shared) {
    std::printf("| %-7s | %-34s | 2 | %6.1f |\n", "xthread", Impl::name, measure<Impl>("xthread", 2, pairs));
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string filter = argc > 1 && strcmp(argv[1], "all") != 0 ? argv[1] : "";
  const double millions = argc > 2 ? atof(argv[2]) : 4;
  const size_t pairs = size_t(std::max(millions, 0.01) * 1e6) / kBatch * kBatch;
  std::printf("| pattern | pool | threads | ns per pair |\n|---|---|---|---|\n");
  rows<MemfPool>(filter, pairs);
  rows<NewDelete>(filter, pairs);
  rows<PmrUnsync>(filter, pairs);
  rows<PmrSync>(filter, pairs);
#ifdef MEMF_BENCH_BOOST
  rows<BoostPool>(filter, pairs);
  rows<BoostSingleton>(filter, pairs);
#endif
  return 0;
}
