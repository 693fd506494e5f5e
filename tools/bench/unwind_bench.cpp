// Stack-capture microbenchmark: cost per capture and completeness of the stack for memf's two
// modes (lib/stack_capture.cpp) and the raw unwinders they were chosen against, from a function
// that stands where the exported malloc / operator new stands, at the end of three call chains:
//   user    D frames of user code -> malloc
//   qsort   D frames -> qsort (libc, no frame pointers) -> comparator -> malloc
//   stream  D frames -> std::ostream::write (libstdc++.so, no frame pointers) -> operator new
// It also counts malloc calls made by each method (cold, on a fresh thread, and warm), and times
// the stack depot (lib/stack_depot.cpp): inserting new stacks and finding stored ones.
// Built by hand, twice (docs/stacks.md has the commands and the results):
//   g++ -O2 -std=c++20 -g [-fno-omit-frame-pointer] -Ilib tools/bench/unwind_bench.cpp \
//       lib/stack_capture.cpp lib/stack_depot.cpp lib/platform.cpp -ldl -pthread -o /tmp/unwind_bench
#include <dlfcn.h>
#include <pthread.h>
#include <time.h>
#include <unwind.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "stack_capture.hpp"
#include "stack_depot.hpp"

// --- malloc calls made while t_count is set ------------------------------------------------------
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}
static std::atomic<long> g_mallocs{0};
static thread_local bool t_count = false;
static void note_alloc() {
  if (t_count) g_mallocs.fetch_add(1, std::memory_order_relaxed);
}
extern "C" void* malloc(size_t n) { note_alloc(); return __libc_malloc(n); }
extern "C" void* calloc(size_t a, size_t b) { note_alloc(); return __libc_calloc(a, b); }
extern "C" void* realloc(void* p, size_t n) { note_alloc(); return __libc_realloc(p, n); }
extern "C" void* memalign(size_t a, size_t n) { note_alloc(); return __libc_memalign(a, n); }
extern "C" void* aligned_alloc(size_t a, size_t n) { note_alloc(); return __libc_memalign(a, n); }
extern "C" int posix_memalign(void** out, size_t a, size_t n) {
  note_alloc();
  *out = __libc_memalign(a, n);
  return *out ? 0 : 12;
}
extern "C" void free(void* p) { __libc_free(p); }

// --- methods --------------------------------------------------------------------------------------
// memf precise: as the allocation paths capture (the same stack again reuses the last walk);
// "full walk": each capture unwinds every frame on the cached rules.
enum Method { kMemfFp, kMemfPrecise, kMemfPreciseFull, kGccRaw, kLibunwind, kMethods };
static const char* const kMethodNames[] = {"memf frame-pointer", "memf precise", "memf precise full walk",
                                           "_Unwind_Backtrace raw", "libunwind unw_backtrace"};
using UnwBacktrace = int (*)(void**, int);
static UnwBacktrace g_unw_backtrace = nullptr;

struct RawTrace {
  uintptr_t* out;
  unsigned max, n;
};
static _Unwind_Reason_Code raw_step(_Unwind_Context* context, void* arg) {
  auto* t = static_cast<RawTrace*>(arg);
  if (t->n == t->max) return _URC_END_OF_STACK;
  t->out[t->n++] = _Unwind_GetIP(context);
  return _URC_NO_REASON;
}

constexpr unsigned kMax = 64;
struct Run {
  Method method;
  unsigned reps;
  double best_ns = 1e18;  // per capture, best of the rounds
  uintptr_t frames[kMax];
  unsigned depth = 0;
  long mallocs_first = -1, mallocs_warm = 0;
};

static inline double now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// Drops the frames a raw unwinder reports above the origin (its own and this harness's).
static unsigned normalize(uintptr_t* frames, unsigned n, uintptr_t origin_pc) {
  for (unsigned i = 0; i < n; ++i)
    if (frames[i] == origin_pc) {
      memmove(frames, frames + i, (n - i) * sizeof *frames);
      return n - i;
    }
  return n;
}

__attribute__((noinline)) static unsigned capture_once(Method m, const memf::StackOrigin& origin, uintptr_t* out) {
  switch (m) {
    case kMemfFp: return memf::capture_stack_from(origin, out, kMax, memf::UnwindMode::kFramePointer);
    case kMemfPrecise: return memf::capture_stack_from(origin, out, kMax, memf::UnwindMode::kPrecise);
    case kMemfPreciseFull:
      memf::stack_capture_forget_last_walk();
      return memf::capture_stack_from(origin, out, kMax, memf::UnwindMode::kPrecise);
    case kGccRaw: {
      RawTrace t{out, kMax, 0};
      _Unwind_Backtrace(raw_step, &t);
      return t.n;
    }
    case kLibunwind: return unsigned(g_unw_backtrace(reinterpret_cast<void**>(out), int(kMax)));
    default: return 0;
  }
}

// Called from the function standing in for malloc, with that function's origin.
__attribute__((noinline)) static void measure(Run& run, const memf::StackOrigin& origin) {
  uintptr_t scratch[kMax];
  if (run.mallocs_first < 0) {
    const long before = g_mallocs.load();
    t_count = true;
    capture_once(run.method, origin, scratch);
    t_count = false;
    run.mallocs_first = g_mallocs.load() - before;
  }
  for (int round = 0; round < 7; ++round) {
    const long before = g_mallocs.load();
    t_count = true;
    const double t0 = now_ns();
    for (unsigned i = 0; i < run.reps; ++i) {
      run.depth = capture_once(run.method, origin, scratch);
      asm volatile("" : : "r"(scratch) : "memory");
    }
    const double per = (now_ns() - t0) / run.reps;
    t_count = false;
    run.mallocs_warm += g_mallocs.load() - before;
    run.best_ns = std::min(run.best_ns, per);
  }
  memcpy(run.frames, scratch, sizeof scratch);
  run.depth = normalize(run.frames, run.depth, origin.pc);
}

// --- the stand-ins for the interposed functions ----------------------------------------------------
static thread_local Run* t_run = nullptr;

__attribute__((noinline)) void* stand_in_malloc(size_t size) {
  if (t_run != nullptr) measure(*t_run, MEMF_STACK_ORIGIN());
  return __libc_malloc(size);
}

void* operator new(size_t size) {
  if (t_run != nullptr) {
    measure(*t_run, MEMF_STACK_ORIGIN());
    t_run = nullptr;
  }
  note_alloc();
  void* p = __libc_malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete(void* p, size_t) noexcept { __libc_free(p); }

// --- call chains ---------------------------------------------------------------------------------
enum Chain { kUser, kQsort, kStream, kChains };
static const char* const kChainNames[] = {"user", "qsort", "stream"};

static int compare_ints(const void* a, const void* b) {
  if (t_run != nullptr) {
    free(stand_in_malloc(16));
    t_run = nullptr;  // once per sort
  }
  return *static_cast<const int*>(a) - *static_cast<const int*>(b);
}

__attribute__((noinline)) static void chain_leaf(Chain chain, Run& run) {
  t_run = &run;
  if (chain == kUser) {
    free(stand_in_malloc(16));
  } else if (chain == kQsort) {
    int values[16];
    for (int i = 0; i < 16; ++i) values[i] = (i * 7) % 16;
    qsort(values, 16, sizeof(int), compare_ints);
  } else {
    // Inside libstdc++.so: ostream::write -> stringbuf::xsputn -> overflow -> string growth.
    std::ostringstream stream;
    static const char text[100] = {};
    stream.write(text, sizeof text);
  }
  t_run = nullptr;
}

static void chain_b(Chain chain, Run& run, int left);
__attribute__((noinline)) static void chain_a(Chain chain, Run& run, int left) {
  volatile int local = left;
  if (left <= 0) chain_leaf(chain, run);
  else chain_b(chain, run, left - 1);
  local = local + 1;  // not a tail call: each level keeps a frame
}
__attribute__((noinline)) static void chain_b(Chain chain, Run& run, int left) {
  volatile long local[2] = {left, 0};
  if (left <= 0) chain_leaf(chain, run);
  else chain_a(chain, run, left - 1);
  local[1] = local[0] + 1;
}

// One call site for every run, so that all methods see the same stack.
__attribute__((noinline)) static void run_chain(Chain chain, Run& run, int depth) {
  chain_a(chain, run, depth);
  asm volatile("" : : : "memory");
}

// --- cold start on a fresh thread ------------------------------------------------------------------
struct Cold {
  Method method;
  double first_ns, second_ns;
  long mallocs;
};
static void* cold_thread(void* arg) {
  Cold& c = *static_cast<Cold*>(arg);
  uintptr_t frames[kMax];
  const memf::StackOrigin origin{reinterpret_cast<uintptr_t>(__builtin_return_address(0)),
                                 reinterpret_cast<uintptr_t>(__builtin_frame_address(0))};
  const long before = g_mallocs.load();
  t_count = true;
  double t0 = now_ns();
  capture_once(c.method, origin, frames);
  double t1 = now_ns();
  capture_once(c.method, origin, frames);
  double t2 = now_ns();
  t_count = false;
  c.first_ns = t1 - t0;
  c.second_ns = t2 - t1;
  c.mallocs = g_mallocs.load() - before;
  return nullptr;
}

int main(int argc, char** argv) {
  memf::stack_capture_init(0, 0);  // the threads' unwind states, as the allocation paths have them
  const int depth = argc > 1 ? atoi(argv[1]) : 20;
  const unsigned reps = argc > 2 ? unsigned(atoi(argv[2])) : 20000;
  void* unw = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);  // local: its _Unwind_* must not bind
  if (unw) g_unw_backtrace = reinterpret_cast<UnwBacktrace>(dlsym(unw, "unw_backtrace"));
  const bool have_libunwind = g_unw_backtrace != nullptr;
  if (!have_libunwind) g_unw_backtrace = [](void**, int) { return 0; };

  printf("chain depth %d (+ the chain's own frames), %u captures per round, best of 7 rounds\n", depth, reps);
  printf("%-7s %-24s %9s %6s %8s %9s %7s %8s %8s\n", "chain", "method", "ns/capt", "depth", "ns/frame",
         "same", "stray", "malloc1", "mallocW");
  const bool verbose = getenv("UNWIND_BENCH_VERBOSE") != nullptr;
  for (int chain = 0; chain < kChains; ++chain) {
    Run runs[kMethods];
    // One call site for every method (a peeled loop would give main a return address each).
#pragma GCC unroll 1
    for (int m = 0; m < kMethods; ++m) {
      runs[m].method = Method(m);
      runs[m].reps = reps;
      run_chain(Chain(chain), runs[m], depth);
    }
    const Run& ref = runs[kMemfPrecise];  // DWARF: the complete stack
    for (int m = 0; m < kMethods; ++m) {
      const Run& r = runs[m];
      if (m == kLibunwind && !have_libunwind) continue;
      unsigned same = 0;  // frames equal to the complete stack's at the same position
      for (unsigned i = 0; i < r.depth && i < ref.depth; ++i) same += r.frames[i] == ref.frames[i];
      unsigned stray = 0;
      for (unsigned i = 0; i < r.depth; ++i)
        if (std::find(ref.frames, ref.frames + ref.depth, r.frames[i]) == ref.frames + ref.depth) ++stray;
      printf("%-7s %-24s %9.1f %6u %8.2f %6u/%-2u %7u %8ld %8ld\n", kChainNames[chain], kMethodNames[m], r.best_ns,
             r.depth, r.depth ? r.best_ns / r.depth : 0.0, same, ref.depth, stray, r.mallocs_first, r.mallocs_warm);
      if (verbose)
        for (unsigned i = 0; i < r.depth || i < ref.depth; ++i)
          printf("    %2u %#14lx %#14lx\n", i, i < r.depth ? (unsigned long)r.frames[i] : 0ul,
                 i < ref.depth ? (unsigned long)ref.frames[i] : 0ul);
    }
  }

  printf("\nfirst and second capture on a fresh thread (median of 15 threads)\n");
  for (int m = 0; m < kMethods; ++m) {
    if (m == kLibunwind && !have_libunwind) continue;
    std::vector<double> first, second;
    long mallocs = 0;
    for (int i = 0; i < 15; ++i) {
      Cold c{Method(m), 0, 0, 0};
      pthread_t thread;
      pthread_create(&thread, nullptr, cold_thread, &c);
      pthread_join(thread, nullptr);
      first.push_back(c.first_ns);
      second.push_back(c.second_ns);
      mallocs += c.mallocs;
    }
    std::sort(first.begin(), first.end());
    std::sort(second.begin(), second.end());
    printf("%-24s first %8.0f ns  second %8.0f ns  mallocs %ld\n", kMethodNames[m], first[7], second[7], mallocs);
  }

  // Stack depot: 4096 distinct stacks of 28 frames (a captured stack's depth here).
  constexpr unsigned kStacks = 4096, kDepth = 28;
  std::vector<uintptr_t> stacks(size_t(kStacks) * kDepth);
  for (size_t i = 0; i < stacks.size(); ++i) stacks[i] = 0x555555554000ull + (i * 0x9e3779b9ull) % 0x200000;
  memf::StackDepot depot;
  depot.init(memf::kDefaultStackDepotBytes);
  double t0 = now_ns();
  for (unsigned i = 0; i < kStacks; ++i) depot.put(&stacks[size_t(i) * kDepth], kDepth);
  const double insert_ns = (now_ns() - t0) / kStacks;
  double hit_ns = 1e18;
  for (int round = 0; round < 7; ++round) {
    t0 = now_ns();
    for (unsigned r = 0; r < 10; ++r)
      for (unsigned i = 0; i < kStacks; ++i) depot.put(&stacks[size_t(i) * kDepth], kDepth);
    hit_ns = std::min(hit_ns, (now_ns() - t0) / (10.0 * kStacks));
  }
  double pair_ns = 0;  // two threads finding the same stacks at once
  {
    std::atomic<int> go{0};
    auto hammer = [&] {
      go.fetch_add(1);
      while (go.load() < 2) {
      }
      for (unsigned r = 0; r < 20; ++r)
        for (unsigned i = 0; i < kStacks; ++i) depot.put(&stacks[size_t(i) * kDepth], kDepth);
    };
    t0 = now_ns();
    pthread_t other;
    pthread_create(&other, nullptr, [](void* f) -> void* { (*static_cast<decltype(hammer)*>(f))(); return nullptr; }, &hammer);
    hammer();
    pthread_join(other, nullptr);
    pair_ns = (now_ns() - t0) / (20.0 * kStacks);
  }
  const memf::StackDepotStats stats = depot.stats();
  printf("\nstack depot, %u stacks of %u frames: insert %.0f ns/put, stored (hit) %.1f ns/put, "
         "two threads at once %.1f ns/put each; %lu bytes in records, %lu mapped\n",
         kStacks, kDepth, insert_ns, hit_ns, pair_ns, (unsigned long)stats.bytes, (unsigned long)stats.mapped_bytes);
  return 0;
}
