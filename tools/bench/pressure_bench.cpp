// Cost of memf's pressure detection on the allocation path, and latency from crossing a level's
// threshold to the subscriber's callback. Run under memf (LD_PRELOAD=libmemf.so); memf's
// functions are looked up at run time so the program links against nothing of memf's.
//
//   pressure_bench churn off|armed [iterations]   ns per malloc+free pair, small and 64 KiB blocks
//                                                  (off: the monitor never started; armed: a limit
//                                                  and the watermark set, never reached)
//   pressure_bench latency [rounds]                crossing -> callback, microseconds
#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

struct Stats {
  uint64_t current_bytes, peak_bytes, total_allocated_bytes, total_freed_bytes, allocations, frees, limit_bytes;
};
using SetLimitFn = void (*)(size_t);
using LevelFn = int (*)();
using OnPressureFn = int (*)(void (*)(int, void*), void*);
using OffPressureFn = int (*)(int);
using GetStatsFn = int (*)(Stats*);

template <class F>
F lookup(const char* name) {
  F f = reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
  if (!f) {
    fprintf(stderr, "pressure_bench: %s not found: run under LD_PRELOAD=libmemf.so\n", name);
    exit(2);
  }
  return f;
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// Frees each block 1024 iterations after allocating it; sizes from a xorshift generator.
double churn(size_t iterations, size_t min_size, size_t max_size) {
  std::vector<void*> ring(1024, nullptr);
  uint32_t x = 2463534242u;
  const uint64_t start = now_ns();
  for (size_t i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    const size_t size = min_size + x % (max_size - min_size + 1);
    void*& slot = ring[i & 1023];
    free(slot);
    slot = malloc(size);
    if (slot) static_cast<char*>(slot)[0] = char(i);
  }
  const uint64_t elapsed = now_ns() - start;
  for (void* p : ring) free(p);
  return double(elapsed) / double(iterations);
}

int run_churn(bool armed, size_t iterations) {
  if (armed) {
    // A limit far above what this program uses: the watermark is armed but never reached.
    lookup<SetLimitFn>("memf_set_limit")(size_t(64) << 30);
    lookup<LevelFn>("memf_pressure_level")();
  }
  double small = 1e18, large = 1e18;
  for (int round = 0; round < 5; ++round) {
    small = std::min(small, churn(iterations, 8, 256));
    large = std::min(large, churn(iterations / 20, 65536, 65536));
  }
  printf("churn %s: %.2f ns per pair (8-256 B), %.1f ns per pair (64 KiB), best of 5\n", armed ? "armed" : "off", small,
         large);
  return 0;
}

struct Crossing {
  std::atomic<uint64_t> when{0};
  std::atomic<int> level{-1};
};

void on_level(int level, void* ctx) {
  auto* c = static_cast<Crossing*>(ctx);
  c->level.store(level);
  c->when.store(now_ns());
}

int run_latency(int rounds) {
  auto set_limit = lookup<SetLimitFn>("memf_set_limit");
  auto on_pressure = lookup<OnPressureFn>("memf_on_pressure");
  auto off_pressure = lookup<OffPressureFn>("memf_off_pressure");
  auto get_stats = lookup<GetStatsFn>("memf_get_stats");
  auto level_now = lookup<LevelFn>("memf_pressure_level");
  Crossing crossing;
  const int id = on_pressure(&on_level, &crossing);
  constexpr size_t kBlock = 1 << 20;
  std::vector<double> micros;
  for (int round = 0; round < rounds; ++round) {
    Stats stats{};
    get_stats(&stats);
    const size_t limit = stats.current_bytes + 64 * kBlock;
    set_limit(limit);
    // Wait for the monitor to take the new limit (level none).
    for (int i = 0; i < 200 && level_now() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    crossing.when = 0;
    crossing.level = -1;
    // memf_set_limit does not wake the monitor: its next poll (100 ms) arms the watermark.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::vector<void*> blocks;
    uint64_t crossed_at = 0;
    // 75% of the limit is the moderate level's start: the block that reaches it is the crossing.
    for (size_t i = 0; i < 50; ++i) {
      const uint64_t t = now_ns();
      blocks.push_back(malloc(kBlock));
      memset(blocks.back(), 1, 64);
      if (!crossed_at && stats.current_bytes + (i + 1) * kBlock >= limit / 4 * 3) crossed_at = t;
    }
    for (int i = 0; i < 400 && crossing.when.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const uint64_t when = crossing.when.load();
    if (when && crossing.level.load() >= 1 && when > crossed_at) micros.push_back(double(when - crossed_at) / 1000.0);
    for (void* p : blocks) free(p);
    set_limit(0);
    for (int i = 0; i < 200 && level_now() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  off_pressure(id);
  if (micros.empty()) {
    printf("latency: no callback observed\n");
    return 1;
  }
  std::sort(micros.begin(), micros.end());
  printf("latency crossing -> callback over %zu rounds: median %.0f us, p90 %.0f us, max %.0f us\n", micros.size(),
         micros[micros.size() / 2], micros[micros.size() * 9 / 10], micros.back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "churn";
  if (strcmp(mode, "churn") == 0) {
    const bool armed = argc > 2 && strcmp(argv[2], "armed") == 0;
    const size_t iterations = argc > 3 ? strtoul(argv[3], nullptr, 10) : 20000000;
    return run_churn(armed, iterations);
  }
  if (strcmp(mode, "latency") == 0) return run_latency(argc > 2 ? atoi(argv[2]) : 20);
  fprintf(stderr, "usage: pressure_bench churn off|armed [iterations] | latency [rounds]\n");
  return 2;
}
