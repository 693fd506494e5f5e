// Application pools compared: memf::MemoryPool and memf::VariablePool, new/delete (whatever
// allocator is preloaded), std::pmr's pool resources and boost::pool. Three patterns:
//
//   batch    each thread allocates 512 objects, writes each, frees them in reverse; repeated
//   random   each thread keeps 4096 live objects and replaces a random one per step
//   xthread  one thread allocates, another frees (a ring of 1024 pointers between them)
//
// each with 64-byte objects (every pool), and again with sizes of 16-512 B in 16-byte steps
// ("mixed": the pools that take any size: VariablePool, new/delete, pmr).
//
// Prints one row per (pattern, pool, threads): wall time divided by all threads' allocate+free
// pairs (so perfect scaling on two cores halves it), the best of five runs.
// Usage: pool_bench [filter] [pairs per thread, millions] [pattern]; filter picks the pools whose
// name contains it (e.g. "new/" when comparing preloaded allocators), "all" or nothing for every
// pool; pattern (batch, random or xthread) runs that pattern only.
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

// Every contender takes (size) and (pointer, size); `variable` says whether it serves any size
// (the mixed patterns) or kObject only; `shared` whether two threads may use one instance.
struct MemfPool {
  static constexpr const char* name = "memf::MemoryPool";
  static constexpr bool shared = true;
  static constexpr bool variable = false;
  memf::MemoryPool pool{kObject, 1024, "pool_bench"};
  void* alloc(size_t) { return pool.allocate(); }
  void release(void* p, size_t) { pool.deallocate(p); }
};

struct MemfVariable {
  static constexpr const char* name = "memf::VariablePool";
  static constexpr bool shared = true;
  static constexpr bool variable = true;
  memf::VariablePool pool{64 * 1024, "pool_bench"};
  void* alloc(size_t size) { return pool.allocate(size); }
  void release(void* p, size_t size) { pool.deallocate(p, size); }
};

struct NewDelete {
  static constexpr const char* name = "new/delete";
  static constexpr bool shared = true;
  static constexpr bool variable = true;
  // Called as functions, so the compiler may not pair them away as it may new-expressions.
  void* alloc(size_t size) { return ::operator new(size); }
  void release(void* p, size_t size) { ::operator delete(p, size); }
};

struct PmrUnsync {
  static constexpr const char* name = "pmr::unsynchronized_pool_resource";
  static constexpr bool shared = false;
  static constexpr bool variable = true;
  std::pmr::unsynchronized_pool_resource resource;
  void* alloc(size_t size) { return resource.allocate(size, 16); }
  void release(void* p, size_t size) { resource.deallocate(p, size, 16); }
};

struct PmrSync {
  static constexpr const char* name = "pmr::synchronized_pool_resource";
  static constexpr bool shared = true;
  static constexpr bool variable = true;
  std::pmr::synchronized_pool_resource resource;
  void* alloc(size_t size) { return resource.allocate(size, 16); }
  void release(void* p, size_t size) { resource.deallocate(p, size, 16); }
};

#ifdef MEMF_BENCH_BOOST
struct BoostPool {
  static constexpr const char* name = "boost::pool";
  static constexpr bool shared = false;
  static constexpr bool variable = false;
  boost::pool<> pool{kObject};
  void* alloc(size_t) { return pool.malloc(); }
  void release(void* p, size_t) { pool.free(p); }
};

struct BoostSingletonTag {};
struct BoostSingleton {
  static constexpr const char* name = "boost::singleton_pool (mutex)";
  static constexpr bool shared = true;
  static constexpr bool variable = false;
  using Pool = boost::singleton_pool<BoostSingletonTag, kObject>;
  void* alloc(size_t) { return Pool::malloc(); }
  void release(void* p, size_t) { Pool::free(p); }
};
#endif

volatile uint64_t g_sink;

// The size of object number n: kObject, or in the mixed patterns 16-512 B in 16-byte steps, a
// fixed function of n (so whoever frees the object can tell its size from its number).
inline size_t object_size(bool mixed, uint64_t n) {
  return mixed ? 16 * (1 + ((n * 0x9e3779b97f4a7c15ull) >> 59)) : kObject;
}

template <class Impl>
void batch(Impl& impl, size_t pairs, bool mixed) {
  void* objects[kBatch];
  uint64_t sum = 0;
  for (size_t done = 0; done < pairs; done += kBatch) {
    for (size_t i = 0; i < kBatch; ++i) {
      objects[i] = impl.alloc(object_size(mixed, done + i));
      *static_cast<uint64_t*>(objects[i]) = i;
    }
    for (size_t i = kBatch; i-- > 0;) {
      sum += *static_cast<uint64_t*>(objects[i]);
      impl.release(objects[i], object_size(mixed, done + i));
    }
  }
  g_sink = sum;
}

template <class Impl>
void random_replace(Impl& impl, size_t pairs, uint64_t seed, bool mixed) {
  std::vector<void*> live(kLive);
  std::vector<uint32_t> sizes(kLive);
  for (size_t k = 0; k < kLive; ++k) {
    sizes[k] = uint32_t(object_size(mixed, seed + k));
    live[k] = impl.alloc(sizes[k]);
    *static_cast<uint64_t*>(live[k]) = k;
  }
  uint64_t x = seed | 1, sum = 0;
  for (size_t i = 0; i < pairs; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const size_t k = x % kLive;
    sum += *static_cast<uint64_t*>(live[k]);
    impl.release(live[k], sizes[k]);
    sizes[k] = uint32_t(object_size(mixed, x));
    live[k] = impl.alloc(sizes[k]);
    *static_cast<uint64_t*>(live[k]) = i;
  }
  for (size_t k = 0; k < kLive; ++k) impl.release(live[k], sizes[k]);
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
void xthread(Impl& impl, size_t pairs, bool mixed) {
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
      const uint64_t n = *static_cast<uint64_t*>(p);
      sum += n;
      impl.release(p, object_size(mixed, n));
    }
    g_sink = sum;
  });
  size_t head = 0, tail_seen = 0;
  for (size_t i = 0; i < pairs; ++i) {
    void* p = impl.alloc(object_size(mixed, i));
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
double measure(const char* pattern, unsigned threads, size_t pairs, bool mixed) {
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    auto impl = std::make_unique<Impl>();
    const auto start = std::chrono::steady_clock::now();
    if (strcmp(pattern, "xthread") == 0) {
      xthread(*impl, pairs, mixed);
    } else {
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
          if (strcmp(pattern, "batch") == 0) batch(*impl, pairs, mixed);
          else random_replace(*impl, pairs, 0x9e3779b97f4a7c15ull * (t + 1), mixed);
        });
      for (auto& t : pool) t.join();
    }
    const double all = strcmp(pattern, "xthread") == 0 ? double(pairs) : double(pairs) * threads;
    best = std::min(best, seconds_since(start) * 1e9 / all);
  }
  return best;
}

void row(const char* pattern, bool mixed, const char* pool, unsigned threads, double ns) {
  char label[32];
  std::snprintf(label, sizeof(label), "%s%s", pattern, mixed ? " mixed" : "");
  std::printf("| %-13s | %-34s | %u | %6.1f |\n", label, pool, threads, ns);
  std::fflush(stdout);
}

std::string g_pattern;  // empty: every pattern

template <class Impl>
void rows(const std::string& filter, size_t pairs) {
  if (!filter.empty() && std::string(Impl::name).find(filter) == std::string::npos) return;
  auto wanted = [](const char* pattern) { return g_pattern.empty() || g_pattern == pattern; };
  for (bool mixed : {false, true}) {
    if (mixed && !Impl::variable) continue;
    for (const char* pattern : {"batch", "random"}) {
      if (!wanted(pattern)) continue;
      row(pattern, mixed, Impl::name, 1, measure<Impl>(pattern, 1, pairs, mixed));
      if (Impl::shared) row(pattern, mixed, Impl::name, 2, measure<Impl>(pattern, 2, pairs, mixed));
    }
    if (Impl::shared && wanted("xthread")) row("xthread", mixed, Impl::name, 2, measure<Impl>("xthread", 2, pairs, mixed));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string filter = argc > 1 && strcmp(argv[1], "all") != 0 ? argv[1] : "";
  const double millions = argc > 2 ? atof(argv[2]) : 4;
  const size_t pairs = size_t(std::max(millions, 0.01) * 1e6) / kBatch * kBatch;
  if (argc > 3) g_pattern = argv[3];
  std::printf("| pattern | pool | threads | ns per pair |\n|---|---|---|---|\n");
  rows<MemfPool>(filter, pairs);
  rows<MemfVariable>(filter, pairs);
  rows<NewDelete>(filter, pairs);
  rows<PmrUnsync>(filter, pairs);
  rows<PmrSync>(filter, pairs);
#ifdef MEMF_BENCH_BOOST
  rows<BoostPool>(filter, pairs);
  rows<BoostSingleton>(filter, pairs);
#endif
  return 0;
}
