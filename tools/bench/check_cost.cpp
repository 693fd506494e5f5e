// What memf::MemoryPool's misuse checks cost, against boost::pool, in one process: minimal
// single-thread pools of 64-byte slots built only for this measurement, each inlined into the
// same loops as boost::pool's malloc/free (the batch and random patterns of pool_bench):
//
//   unchecked   an array of free slots: pop and push, nothing else (boost::pool's promise: none)
//   checked     the same plus MemoryPool's deallocate checks: range and slot start (a rotate and
//               a compare), the slot's state byte, and the free mark in the slot's second word,
//               which allocate clears and deallocate tests and writes
//
// and memf::MemoryPool itself (thread-safe: the same checks plus the thread's cache lookup).
// Prints nanoseconds per allocate+free pair, best of seven runs, all rows interleaved.
// Usage: check_cost [pairs, millions]
#include <memf/memory_pool.hpp>
#include <sys/mman.h>

#include <algorithm>
#include <boost/pool/pool.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

namespace {

constexpr size_t kObject = 64;
constexpr size_t kBatch = 512;
constexpr size_t kLive = 4096;
constexpr size_t kSlots = 1 << 16;  // enough for both patterns; the pools never grow

// Slots carved up front from one mapping; a free slot's second word holds its mark.
template <bool kChecked>
class MinimalPool {
 public:
  MinimalPool() {
    base_ = static_cast<char*>(mmap(nullptr, kSlots * kObject, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    states_ = static_cast<uint8_t*>(mmap(nullptr, kSlots * kObject / 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base_ == MAP_FAILED || states_ == MAP_FAILED) std::abort();
    free_.reserve(kSlots);
    for (size_t i = kSlots; i-- > 0;) {
      char* slot = base_ + i * kObject;
      states_[(i * kObject) >> 4] = 1;
      reinterpret_cast<uintptr_t*>(slot)[1] = mark_of(slot);
      free_.push_back(slot);
    }
    top_ = free_.data() + free_.size();
  }
  ~MinimalPool() {
    munmap(base_, kSlots * kObject);
    munmap(states_, kSlots * kObject / 16);
  }

  void* alloc() {
    void* slot = *--top_;
    if (kChecked) static_cast<uintptr_t*>(slot)[1] = 0;
    return slot;
  }
  void release(void* p) {
    if (kChecked) {
      const size_t offset = uintptr_t(p) - uintptr_t(base_);
      const size_t granule = (offset >> 4) | (offset << 60);
      if (__builtin_expect(granule >= kSlots * kObject / 16 || states_[granule] == 0 ||
                               static_cast<uintptr_t*>(p)[1] == mark_of(p),
                           0))
        std::abort();
      static_cast<uintptr_t*>(p)[1] = mark_of(p);
    }
    *top_++ = p;
  }

 private:
  uintptr_t mark_of(const void* p) const { return key_ ^ uintptr_t(p); }
  char* base_;
  uint8_t* states_;
  uintptr_t key_ = 0x9e3779b97f4a7c15ull;
  void** top_;
  std::vector<void*> free_;
};

struct Boost {
  boost::pool<> pool{kObject};
  void* alloc() { return pool.malloc(); }
  void release(void* p) { pool.free(p); }
};

struct Memf {
  memf::MemoryPool pool{kObject, 1024, "check_cost"};
  void* alloc() { return pool.allocate(); }
  void release(void* p) { pool.deallocate(p); }
};

volatile uint64_t g_sink;

template <class Pool>
void batch(Pool& pool, size_t pairs) {
  void* objects[kBatch];
  uint64_t sum = 0;
  for (size_t done = 0; done < pairs; done += kBatch) {
    for (size_t i = 0; i < kBatch; ++i) {
      objects[i] = pool.alloc();
      *static_cast<uint64_t*>(objects[i]) = i;
    }
    for (size_t i = kBatch; i-- > 0;) {
      sum += *static_cast<uint64_t*>(objects[i]);
      pool.release(objects[i]);
    }
  }
  g_sink = sum;
}

template <class Pool>
void random_replace(Pool& pool, size_t pairs) {
  std::vector<void*> live(kLive);
  for (size_t k = 0; k < kLive; ++k) {
    live[k] = pool.alloc();
    *static_cast<uint64_t*>(live[k]) = k;
  }
  uint64_t x = 0x9e3779b97f4a7c15ull, sum = 0;
  for (size_t i = 0; i < pairs; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const size_t k = x % kLive;
    sum += *static_cast<uint64_t*>(live[k]);
    pool.release(live[k]);
    live[k] = pool.alloc();
    *static_cast<uint64_t*>(live[k]) = i;
  }
  for (void* p : live) pool.release(p);
  g_sink = sum;
}

template <class Pool>
double run(bool random, size_t pairs) {
  auto pool = std::make_unique<Pool>();
  if (random) random_replace(*pool, pairs / 8);  // warm: the pool's memory is touched
  else batch(*pool, pairs / 8);
  const auto start = std::chrono::steady_clock::now();
  if (random) random_replace(*pool, pairs);
  else batch(*pool, pairs);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() * 1e9 / double(pairs);
}

}  // namespace

int main(int argc, char** argv) {
  const double millions = argc > 1 ? std::atof(argv[1]) : 4;
  const size_t pairs = size_t(std::max(millions, 0.01) * 1e6) / kBatch * kBatch;
  const char* names[] = {"boost::pool", "unchecked", "checked", "memf::MemoryPool"};
  double best[2][4];
  std::fill(&best[0][0], &best[0][0] + 8, 1e30);
  for (int rep = 0; rep < 7; ++rep)
    for (int random = 0; random < 2; ++random) {
      best[random][0] = std::min(best[random][0], run<Boost>(random, pairs));
      best[random][1] = std::min(best[random][1], run<MinimalPool<false>>(random, pairs));
      best[random][2] = std::min(best[random][2], run<MinimalPool<true>>(random, pairs));
      best[random][3] = std::min(best[random][3], run<Memf>(random, pairs));
    }
  std::printf("| pattern | %s | %s | %s | %s |\n|---|---|---|---|---|\n", names[0], names[1], names[2], names[3]);
  for (int random = 0; random < 2; ++random)
    std::printf("| %s | %.2f | %.2f | %.2f | %.2f |\n", random ? "random" : "batch", best[random][0], best[random][1],
                best[random][2], best[random][3]);
  return 0;
}
