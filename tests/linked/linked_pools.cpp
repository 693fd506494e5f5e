// Linked with -lmemf: MemoryPool's and VariablePool's inline paths, compiled into this program,
// read the per-thread table that libmemf.so exports; several threads allocate, free each
// other's objects and misuse the pools (MEMF_ON_ERROR=report). Exits non-zero on failure.
#include <memf/memf.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace {

int failures = 0;
std::mutex failures_lock;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::lock_guard<std::mutex> guard(failures_lock);                      \
      std::fprintf(stderr, "linked_pools:%d: %s\n", __LINE__, #cond);        \
      ++failures;                                                            \
    }                                                                        \
  } while (0)

constexpr int kThreads = 4;
constexpr int kObjects = 20000;

size_t size_of(int n) { return size_t(16 + (n * 37) % 500); }

// Each thread allocates, writes a pattern, frees half itself and hands the other half to the
// next thread, then frees what it was handed.
template <class Allocate, class Release>
void exchange(Allocate allocate, Release release) {
  std::mutex lock;
  std::vector<std::vector<uint64_t*>> handed(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::vector<uint64_t*> mine;
      for (int n = 0; n < kObjects; ++n) {
        auto* p = static_cast<uint64_t*>(allocate(n));
        p[0] = uint64_t(p) ^ uint64_t(n);
        p[1] = uint64_t(n);
        mine.push_back(p);
      }
      for (size_t i = 0; i < mine.size(); ++i) {
        const int n = int(mine[i][1]);
        CHECK(mine[i][0] == (uint64_t(mine[i]) ^ uint64_t(n)));
        if (i % 2) {
          release(mine[i], n);
        } else {
          std::lock_guard<std::mutex> guard(lock);
          handed[(t + 1) % kThreads].push_back(mine[i]);
        }
      }
    });
  for (auto& thread : threads) thread.join();
  threads.clear();
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (uint64_t* p : handed[t]) {
        const int n = int(p[1]);
        CHECK(p[0] == (uint64_t(p) ^ uint64_t(n)));
        release(p, n);
      }
    });
  for (auto& thread : threads) thread.join();
}

}  // namespace

int main() {
  memf::MemoryPool pool(48, 64, "linked.pool");
  void* first = pool.allocate();
  // The first call created this thread's table inside libmemf.so; the inline paths, compiled
  // here, must see that same table, not a copy of their own.
  CHECK(memf::detail::t_pool_table != nullptr);
  pool.deallocate(first);

  exchange([&](int) { return pool.allocate(); }, [&](uint64_t* p, int) { pool.deallocate(p); });
  CHECK(pool.getUsedCount() == 0);
  pool.shrink();
  CHECK(pool.getCapacity() == 0);

  // Misuse through the inline path is reported and changes nothing (MEMF_ON_ERROR=report).
  void* a = pool.allocate();
  pool.deallocate(a);
  pool.deallocate(a);                                  // double free
  pool.deallocate(static_cast<char*>(pool.allocate()) + 8);  // interior pointer
  int on_stack = 0;
  pool.deallocate(&on_stack);                          // not the pool's
  CHECK(pool.getUsedCount() == 1);

  memf::VariablePool arena(64 * 1024, "linked.arena");
  exchange([&](int n) { return arena.allocate(size_of(n)); }, [&](uint64_t* p, int n) { arena.deallocate(p, size_of(n)); });
  CHECK(arena.getUsedBytes() == 0);
  void* b = arena.allocate(100);
  arena.deallocate(b, 100);
  arena.deallocate(b, 100);  // double free
  CHECK(arena.getUsedBytes() == 0);
  arena.shrink();
  CHECK(arena.getMemoryUsage() == 0);

  if (failures) std::fprintf(stderr, "linked_pools: %d failure(s)\n", failures);
  else std::printf("linked_pools: ok\n");
  return failures ? 1 : 0;
}
