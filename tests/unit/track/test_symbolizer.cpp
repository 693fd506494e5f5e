// Stack capture and symbolization together: captured frames of known call chains must name
// those functions, in order, with their file and line. Built with -g -fno-omit-frame-pointer;
// stack_fixtures/no_frame_pointer.cpp is built without frame pointers.
#include <catch2/catch.hpp>

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "debug_cache.hpp"
#include "stack_capture.hpp"
#include "stack_fixtures/no_frame_pointer.hpp"
#include "symbolizer.hpp"
#include "unloaded_modules.hpp"

using namespace memf;

namespace {

std::string basename_of(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

std::string executable_path() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  return n > 0 ? std::string(path, size_t(n)) : std::string();
}

SymbolizedFrame symbolized(uintptr_t pc, PcKind kind = PcKind::kReturnAddress) {
  SymbolizedFrame frame;
  symbolize(pc, &frame, kind);
  return frame;
}

std::string function_at(uintptr_t pc) { return symbolized(pc).function; }

// Keeps a call from being a tail call (which would replace the caller's frame).
#define NOT_A_TAIL_CALL() asm volatile("" ::: "memory")

// --- a known call chain -------------------------------------------------------------------------
struct Capture {
  explicit Capture(UnwindMode m) : mode(m) {}
  UnwindMode mode;
  uintptr_t frames[64] = {};
  unsigned depth = 0;
  int line = 0;  // the line of the capture call
};

__attribute__((noinline)) void chain_inner(Capture& c) {
  c.line = __LINE__ + 1;
  c.depth = capture_stack(c.frames, 64, 0, c.mode);
  NOT_A_TAIL_CALL();
}
__attribute__((noinline)) void chain_middle(Capture& c) {
  chain_inner(c);
  NOT_A_TAIL_CALL();
}
__attribute__((noinline)) void chain_outer(Capture& c) {
  chain_middle(c);
  NOT_A_TAIL_CALL();
}

}  // namespace

TEST_CASE("captured frames of a known call chain symbolize to its functions, in order") {
  for (UnwindMode mode : {UnwindMode::kFramePointer, UnwindMode::kPrecise}) {
    INFO("mode " << int(mode));
    Capture c{mode};
    chain_outer(c);
    REQUIRE(c.depth >= 4);  // the three, then this test case and its callers
    CHECK_THAT(function_at(c.frames[0]), Catch::Contains("chain_inner"));
    CHECK_THAT(function_at(c.frames[1]), Catch::Contains("chain_middle"));
    CHECK_THAT(function_at(c.frames[2]), Catch::Contains("chain_outer"));
    const SymbolizedFrame top = symbolized(c.frames[0]);
    REQUIRE(top.file != nullptr);
    CHECK(basename_of(top.file) == "test_symbolizer.cpp");
    CHECK(top.line == unsigned(c.line));
    CHECK(top.module == executable_path());
    // Both modes agree as far as frame pointers reach (from here on the call site differs).
    Capture other{mode == UnwindMode::kPrecise ? UnwindMode::kFramePointer : UnwindMode::kPrecise};
    chain_outer(other);
    for (unsigned i = 0; i < 3; ++i) CHECK(other.frames[i] == c.frames[i]);
  }
}

TEST_CASE("skip drops leading frames; max_depth bounds the capture") {
  for (UnwindMode mode : {UnwindMode::kFramePointer, UnwindMode::kPrecise}) {
    INFO("mode " << int(mode));
    uintptr_t frames[64];
    const unsigned depth = capture_stack(frames, 64, 0, mode);
    uintptr_t skipped[64];
    const unsigned skipped_depth = capture_stack(skipped, 64, 2, mode);  // same caller, two fewer
    REQUIRE(skipped_depth + 2 == depth);
    for (unsigned i = 0; i < skipped_depth; ++i) CHECK(skipped[i] == frames[i + 2]);
    uintptr_t two[2] = {0, 0};
    REQUIRE(capture_stack(two, 2, 0, mode) == 2);
    CHECK(two[1] == frames[1]);
    REQUIRE(capture_stack(two, 0, 0, mode) == 0);
  }
}

// --- the interposer's pattern: MEMF_STACK_ORIGIN in the function the program called -----------
namespace {

__attribute__((noinline)) unsigned fake_malloc(UnwindMode mode, uintptr_t* frames) {
  const unsigned depth = capture_stack_from(MEMF_STACK_ORIGIN(), frames, 64, mode);
  NOT_A_TAIL_CALL();
  return depth;
}
int g_allocating_line = 0;
__attribute__((noinline)) unsigned allocating_function(UnwindMode mode, uintptr_t* frames) {
  g_allocating_line = __LINE__ + 1;
  const unsigned depth = fake_malloc(mode, frames);
  NOT_A_TAIL_CALL();
  return depth;
}
__attribute__((noinline)) unsigned allocating_caller(UnwindMode mode, uintptr_t* frames) {
  const unsigned depth = allocating_function(mode, frames);
  NOT_A_TAIL_CALL();
  return depth;
}

}  // namespace

TEST_CASE("capture_stack_from(MEMF_STACK_ORIGIN()) starts at the interposed function's caller") {
  for (UnwindMode mode : {UnwindMode::kFramePointer, UnwindMode::kPrecise}) {
    INFO("mode " << int(mode));
    uintptr_t frames[64];
    const unsigned depth = allocating_caller(mode, frames);
    REQUIRE(depth >= 3);
    const SymbolizedFrame first = symbolized(frames[0]);
    CHECK_THAT(first.function, Catch::Contains("allocating_function"));
    CHECK(first.line == unsigned(g_allocating_line));
    CHECK_THAT(function_at(frames[1]), Catch::Contains("allocating_caller"));
    for (unsigned i = 0; i < depth; ++i) CHECK_THAT(function_at(frames[i]), !Catch::Contains("fake_malloc"));
  }
  // An origin that is not on this stack: only the pc, never a guess.
  uintptr_t frames[8];
  const StackOrigin elsewhere{0x123456, 0};
  CHECK(capture_stack_from(elsewhere, frames, 8, UnwindMode::kPrecise) == 1);
  CHECK(capture_stack_from(elsewhere, frames, 8, UnwindMode::kFramePointer) == 1);
  CHECK(frames[0] == 0x123456);
}

// --- broken frame chains ---------------------------------------------------------------------------
namespace {

__attribute__((noinline)) unsigned walk_from(uintptr_t frame, uintptr_t* frames) {
  const StackOrigin origin{0x1000, frame};
  const unsigned depth = capture_stack_from(origin, frames, 16, UnwindMode::kFramePointer);
  NOT_A_TAIL_CALL();
  return depth;
}

}  // namespace

TEST_CASE("the frame-pointer walk stops at broken links and never leaves the thread's stack") {
  uintptr_t lo = 0, hi = 0;
  REQUIRE(thread_stack_bounds(&lo, &hi));
  // Frame records built by hand in this frame (above the walker's frames, inside the stack).
  alignas(16) volatile uintptr_t records[16][2];
  auto at = [&](int i) { return reinterpret_cast<uintptr_t>(&records[i][0]); };
  uintptr_t frames[16];
  void* heap = malloc(64);
  std::memset(heap, 0, 64);
  const uintptr_t unmapped = 0x10000;

  auto set = [&](int i, uintptr_t next, uintptr_t pc) {
    records[i][0] = next;
    records[i][1] = pc;
  };
  // A good chain of three records ending in a zero link (how _start ends the chain).
  set(0, at(1), 0x401000);
  set(1, at(2), 0x401100);
  set(2, 0, 0x401200);
  REQUIRE(walk_from(at(0), frames) == 4);
  CHECK(frames[0] == 0x1000);
  CHECK(frames[1] == 0x401000);
  CHECK(frames[3] == 0x401200);

  records[2][0] = at(2);  // a loop
  CHECK(walk_from(at(0), frames) == 4);
  records[2][0] = at(0);  // back down the stack
  CHECK(walk_from(at(0), frames) == 4);
  records[2][0] = unmapped;  // below the stack
  CHECK(walk_from(at(0), frames) == 4);
  records[2][0] = reinterpret_cast<uintptr_t>(heap);  // another mapping: never read
  CHECK(walk_from(at(0), frames) == 4);
  records[2][0] = hi - 8;  // the record would straddle the stack's end
  CHECK(walk_from(at(0), frames) == 4);
  records[2][0] = at(3) + 4;  // misaligned
  CHECK(walk_from(at(0), frames) == 4);
  records[2][0] = at(3);
  set(3, at(4), 12);  // a "pc" that is no code address
  CHECK(walk_from(at(0), frames) == 4);

  CHECK(walk_from(0, frames) == 1);
  CHECK(walk_from(unmapped, frames) == 1);
  CHECK(walk_from(reinterpret_cast<uintptr_t>(heap), frames) == 1);
  CHECK(walk_from(~uintptr_t(7), frames) == 1);
  free(heap);
}

TEST_CASE("each thread's bounds contain its stack") {
  uintptr_t lo = 0, hi = 0;
  int local = 0;
  REQUIRE(thread_stack_bounds(&lo, &hi));
  CHECK(lo <= uintptr_t(&local));
  CHECK(uintptr_t(&local) < hi);
  uintptr_t thread_lo = 0, thread_hi = 0;
  bool found = false;
  bool contains = false;
  std::thread([&] {
    int thread_local_variable = 0;
    found = thread_stack_bounds(&thread_lo, &thread_hi);
    contains = thread_lo <= uintptr_t(&thread_local_variable) && uintptr_t(&thread_local_variable) < thread_hi;
  }).join();
  REQUIRE(found);
  CHECK(contains);
  CHECK((thread_hi <= lo || thread_lo >= hi));  // a different stack
}

// --- code without frame pointers -------------------------------------------------------------------
namespace {

unsigned capture_in_callback(void* arg) {
  Capture& c = *static_cast<Capture*>(arg);
  c.depth = capture_stack(c.frames, 64, 0, c.mode);
  NOT_A_TAIL_CALL();
  return c.depth;
}
__attribute__((noinline)) void call_through_no_frame_pointer_code(Capture& c) {
  stack_fixtures::call_without_frame_pointers(capture_in_callback, &c, 5);
  NOT_A_TAIL_CALL();
}

}  // namespace

TEST_CASE("precise mode unwinds through code without frame pointers; the fast walk stops safely") {
  Capture precise{UnwindMode::kPrecise};
  call_through_no_frame_pointer_code(precise);
  unsigned fixture_frames = 0, found_at = 0;
  for (unsigned i = 0; i < precise.depth; ++i) {
    const std::string name = function_at(precise.frames[i]);
    if (name.find("clobber_level") != std::string::npos) ++fixture_frames;
    if (name.find("call_through_no_frame_pointer_code") != std::string::npos && found_at == 0) found_at = i;
  }
  CHECK(fixture_frames == 6);
  CHECK(found_at > fixture_frames);  // the frames beyond the fixture are there too

  Capture fast{UnwindMode::kFramePointer};
  call_through_no_frame_pointer_code(fast);
  REQUIRE(fast.depth >= 1);
  CHECK(fast.frames[0] == precise.frames[0]);  // the first frame is always exact
  // Beyond, the walk either follows a frame chain or stops; it never reads outside the stack.
}

// --- malloc is never called while capturing --------------------------------------------------------
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
namespace {
std::atomic<long> g_mallocs{0};
__thread bool t_counting = false;
}  // namespace
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void* malloc(size_t size) {
  if (t_counting) g_mallocs.fetch_add(1);
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) {
  if (t_counting) g_mallocs.fetch_add(1);
  return __libc_calloc(count, size);
}
void* realloc(void* p, size_t size) {
  if (t_counting) g_mallocs.fetch_add(1);
  return __libc_realloc(p, size);
}
void* memalign(size_t alignment, size_t size) {
  if (t_counting) g_mallocs.fetch_add(1);
  return __libc_memalign(alignment, size);
}
}

TEST_CASE("capturing never calls malloc, also on a thread's first capture") {
  for (UnwindMode mode : {UnwindMode::kFramePointer, UnwindMode::kPrecise}) {
    INFO("mode " << int(mode));
    long during = -1;
    unsigned depth = 0;
    std::thread([&] {
      Capture c{mode};
      const long before = g_mallocs.load();
      t_counting = true;
      chain_outer(c);  // the thread's first capture: reads its stack bounds
      chain_outer(c);
      t_counting = false;
      during = g_mallocs.load() - before;
      depth = c.depth;
    }).join();
    CHECK(depth >= 3);
    CHECK(during == 0);
    // The counter works: an allocation under the flag is seen.
    t_counting = true;
    void* p = malloc(10);
    t_counting = false;
    free(p);
    CHECK(g_mallocs.load() > 0);
  }
}
#endif

// --- from a signal handler on an alternate stack ----------------------------------------------------
namespace {
Capture* g_signal_capture = nullptr;
void capture_in_handler(int) {
  Capture& c = *g_signal_capture;
  c.depth = capture_stack(c.frames, 64, 0, c.mode);
  NOT_A_TAIL_CALL();
}
__attribute__((noinline)) void raise_signal_here() {
  raise(SIGUSR1);
  NOT_A_TAIL_CALL();
}
}  // namespace

TEST_CASE("captures in a signal handler on an alternate stack") {
  const size_t size = 64 << 10;
  void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(memory != MAP_FAILED);
  stack_t alternate{}, old{};
  alternate.ss_sp = memory;
  alternate.ss_size = size;
  REQUIRE(sigaltstack(&alternate, &old) == 0);
  struct sigaction action {}, old_action{};
  action.sa_handler = capture_in_handler;
  action.sa_flags = SA_ONSTACK;
  REQUIRE(sigaction(SIGUSR1, &action, &old_action) == 0);

  Capture fast{UnwindMode::kFramePointer}, precise{UnwindMode::kPrecise};
  g_signal_capture = &fast;
  raise_signal_here();
  g_signal_capture = &precise;
  raise_signal_here();
  sigaction(SIGUSR1, &old_action, nullptr);
  sigaltstack(&old, nullptr);
  munmap(memory, size);

  // Off the thread's stack the fast walk keeps only the exact first frame.
  CHECK(fast.depth == 1);
  CHECK_THAT(function_at(fast.frames[0]), Catch::Contains("capture_in_handler"));
  // DWARF unwinding crosses the signal frame back to the code that raised it.
  bool raised_from_here = false;
  for (unsigned i = 0; i < precise.depth; ++i)
    raised_from_here |= function_at(precise.frames[i]).find("raise_signal_here") != std::string::npos;
  CHECK(raised_from_here);
}

// --- symbolizer --------------------------------------------------------------------------------------
namespace {
constexpr int kKnownFunctionLine = __LINE__ + 1;
__attribute__((noinline)) int known_function(int x) {
  NOT_A_TAIL_CALL();
  return x * 7 + 3;
}

int g_inlined_line = 0, g_inline_middle_line = 0, g_inline_call_line = 0;
__attribute__((always_inline)) inline unsigned inlined_helper(uintptr_t* frames) {
  g_inlined_line = __LINE__ + 1;
  return capture_stack(frames, 8, 0, UnwindMode::kFramePointer);
}
__attribute__((always_inline)) inline unsigned inlined_middle(uintptr_t* frames) {
  g_inline_middle_line = __LINE__ + 1;
  const unsigned depth = inlined_helper(frames);
  NOT_A_TAIL_CALL();
  return depth;
}
__attribute__((noinline)) unsigned inline_caller(uintptr_t* frames) {
  g_inline_call_line = __LINE__ + 1;
  const unsigned depth = inlined_middle(frames);
  NOT_A_TAIL_CALL();
  return depth;
}
}  // namespace

TEST_CASE("symbolize names a function of the executable with file and line") {
  const uintptr_t pc = reinterpret_cast<uintptr_t>(&known_function);
  SymbolizedFrame frame;
  REQUIRE(symbolize(pc, &frame, PcKind::kExact));
  CHECK(frame.pc == pc);
  CHECK_THAT(frame.function, Catch::Contains("known_function(int)"));
  CHECK(frame.module == executable_path());
  REQUIRE(frame.file != nullptr);
  CHECK(basename_of(frame.file) == "test_symbolizer.cpp");
  CHECK(frame.line >= unsigned(kKnownFunctionLine));
  CHECK(frame.line <= unsigned(kKnownFunctionLine) + 2);
  CHECK_FALSE(frame.inlined);
  // The offset is the address in the ELF file (PIE: pc minus the load address).
  Dl_info info;
  REQUIRE(dladdr(reinterpret_cast<void*>(pc), &info) != 0);
  CHECK(frame.offset == pc - reinterpret_cast<uintptr_t>(info.dli_fbase));

  // As a return address the lookup is at pc - 1: the byte before the function is not in it.
  CHECK_THAT(symbolized(pc, PcKind::kReturnAddress).function, !Catch::Contains("known_function"));
  CHECK(known_function(1) == 10);
}

TEST_CASE("inlined calls are frames of their own; symbolize gives the physical function") {
  uintptr_t frames[8];
  REQUIRE(inline_caller(frames) >= 2);
  SymbolizedFrame inlined[4];
  const unsigned n = symbolize_inlined(frames[0], inlined, 4);
  REQUIRE(n == 3);  // two levels of inlining, then the function they were inlined into
  CHECK(inlined[0].inlined);
  CHECK_THAT(inlined[0].function, Catch::Contains("inlined_helper"));
  CHECK(inlined[0].line == unsigned(g_inlined_line));
  CHECK(inlined[1].inlined);
  CHECK_THAT(inlined[1].function, Catch::Contains("inlined_middle"));
  CHECK(inlined[1].line == unsigned(g_inline_middle_line));
  CHECK_FALSE(inlined[2].inlined);
  CHECK_THAT(inlined[2].function, Catch::Contains("inline_caller"));
  CHECK(inlined[2].line == unsigned(g_inline_call_line));
  for (unsigned i = 0; i < n; ++i) {
    REQUIRE(inlined[i].file != nullptr);
    CHECK(basename_of(inlined[i].file) == "test_symbolizer.cpp");
  }
  const SymbolizedFrame physical = symbolized(frames[0]);
  CHECK_THAT(physical.function, Catch::Contains("inline_caller"));
  CHECK(physical.line == unsigned(g_inline_call_line));
  CHECK(symbolize_inlined(frames[0], inlined, 1) == 1);
  CHECK(inlined[0].inlined);
}

namespace {
Capture* g_sort_capture = nullptr;
int compare_and_capture(const void* a, const void* b) {
  if (g_sort_capture != nullptr) {
    g_sort_capture->depth = capture_stack(g_sort_capture->frames, 64, 0, g_sort_capture->mode);
    g_sort_capture = nullptr;
  }
  return *static_cast<const int*>(a) - *static_cast<const int*>(b);
}
__attribute__((noinline)) void sort_and_capture(Capture& c) {
  int values[8] = {5, 3, 7, 1, 8, 2, 6, 4};
  g_sort_capture = &c;
  qsort(values, 8, sizeof(int), compare_and_capture);
  NOT_A_TAIL_CALL();
}
}  // namespace

TEST_CASE("frames inside libc name libc.so.6 and its function") {
  // qsort by its address: libc's, except under a sanitizer whose runtime intercepts it.
  const SymbolizedFrame qsort_frame = symbolized(reinterpret_cast<uintptr_t>(&qsort), PcKind::kExact);
  const std::string provider = basename_of(qsort_frame.module);
  CHECK_THAT(qsort_frame.function, Catch::Contains("qsort"));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  CHECK(provider == "libc.so.6");
#endif

  Capture c{UnwindMode::kPrecise};
  sort_and_capture(c);
  REQUIRE(c.depth >= 3);
  CHECK_THAT(function_at(c.frames[0]), Catch::Contains("compare_and_capture"));
  // compare_and_capture <- libc's merge sort <- qsort_r <- sort_and_capture
  int provider_frames = 0;
  bool qsort_named = false;
  unsigned after = 0;
  for (unsigned i = 1; i < c.depth && after == 0; ++i) {
    const SymbolizedFrame frame = symbolized(c.frames[i]);
    if (basename_of(frame.module) != provider) {
      if (provider_frames > 0) after = i;
      continue;
    }
    ++provider_frames;
    CHECK(std::string(frame.function) != "?");
    qsort_named |= std::string(frame.function).find("qsort") != std::string::npos;
  }
  CHECK(provider_frames >= 1);
  CHECK(qsort_named);
  REQUIRE(after > 0);
  CHECK_THAT(function_at(c.frames[after]), Catch::Contains("sort_and_capture"));

  // The fast walk: the comparator has a frame record, so its return into libc is exact too.
  Capture fast{UnwindMode::kFramePointer};
  sort_and_capture(fast);
  REQUIRE(fast.depth >= 2);
  CHECK(fast.frames[0] != 0);
  CHECK(basename_of(symbolized(fast.frames[1]).module) == provider);
}

TEST_CASE("addresses in no module are unknown") {
  SymbolizedFrame frame;
  CHECK_FALSE(symbolize(0x10, &frame));
  CHECK(std::string(frame.function) == "?");
  CHECK(std::string(frame.module) == "?");
  CHECK(frame.file == nullptr);
  void* anonymous = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(anonymous != MAP_FAILED);
  CHECK_FALSE(symbolize(reinterpret_cast<uintptr_t>(anonymous) + 16, &frame, PcKind::kExact));
  CHECK(std::string(frame.module) == "?");
  munmap(anonymous, 4096);
  SymbolizedFrame frames[2];
  CHECK(symbolize_inlined(0x10, frames, 2) == 0);
}

TEST_CASE("a module loaded after the first lookup is found") {
  SymbolizedFrame frame;
  REQUIRE(symbolize(reinterpret_cast<uintptr_t>(&known_function), &frame, PcKind::kExact));  // list read
  void* handle = dlopen(MEMF_TEST_LOADED_LATER, RTLD_NOW | RTLD_LOCAL);
  REQUIRE(handle != nullptr);
  auto* function = reinterpret_cast<int (*)(int)>(dlsym(handle, "stack_fixture_loaded_later"));
  REQUIRE(function != nullptr);
  CHECK(function(2) == 7);
  REQUIRE(symbolize(reinterpret_cast<uintptr_t>(function), &frame, PcKind::kExact));
  CHECK(std::string(frame.function) == "stack_fixture_loaded_later");
  CHECK(basename_of(frame.module) == basename_of(MEMF_TEST_LOADED_LATER));
  dlclose(handle);
}

TEST_CASE("a module loaded where an unloaded one was is named for itself, not from the cache") {
  void* first = dlopen(MEMF_TEST_LOADED_LATER, RTLD_NOW | RTLD_LOCAL);
  REQUIRE(first != nullptr);
  const uintptr_t first_pc = reinterpret_cast<uintptr_t>(dlsym(first, "stack_fixture_loaded_later"));
  SymbolizedFrame frame;
  REQUIRE(symbolize(first_pc, &frame, PcKind::kExact));  // cached
  CHECK(std::string(frame.function) == "stack_fixture_loaded_later");
  dlclose(first);
  // The loader usually maps the next module of the same size at the same place, and both
  // fixtures have their function at the same offset: the same pc, now another function.
  void* second = dlopen(MEMF_TEST_SPLIT_DEBUG, RTLD_NOW | RTLD_LOCAL);
  REQUIRE(second != nullptr);
  const uintptr_t second_pc = reinterpret_cast<uintptr_t>(dlsym(second, "stack_fixture_split_debug"));
  INFO("the second module's function is at the first one's address: " << (second_pc == first_pc));
  REQUIRE(symbolize(second_pc, &frame, PcKind::kExact));
  CHECK(std::string(frame.function) == "stack_fixture_split_debug");
  CHECK(basename_of(frame.module) == basename_of(MEMF_TEST_SPLIT_DEBUG));
  dlclose(second);
}

namespace {
int count_mapped(dl_phdr_info* info, size_t, void* context) {
  const std::string name = info->dlpi_name ? info->dlpi_name : "";
  if (basename_of(name.c_str()) == basename_of(MEMF_TEST_UNLOADED)) ++*static_cast<int*>(context);
  return 0;
}
}  // namespace

TEST_CASE("a module the program unloaded keeps its name, function and line") {
  void* handle = dlopen(MEMF_TEST_UNLOADED, RTLD_NOW | RTLD_LOCAL);
  REQUIRE(handle != nullptr);
  auto* function = reinterpret_cast<int (*)(int)>(dlsym(handle, "stack_fixture_unloaded"));
  REQUIRE(function != nullptr);
  CHECK(function(1) == 7);
  const uintptr_t pc = reinterpret_cast<uintptr_t>(function) + 4;  // inside it, as a captured pc
  const uint64_t recorded = unloaded_module_count();
  REQUIRE(close_module(handle) == 0);
  int mapped = 0;
  dl_iterate_phdr(count_mapped, &mapped);
  REQUIRE(mapped == 0);  // really gone
  CHECK(unloaded_module_count() == recorded + 1);
  UnloadedModule module;
  REQUIRE(find_unloaded_module(pc, &module));
  CHECK(basename_of(module.path) == basename_of(MEMF_TEST_UNLOADED));
  CHECK(module.begin <= pc);
  CHECK(pc < module.end);
  SymbolizedFrame frame;
  REQUIRE(symbolize(pc, &frame, PcKind::kExact));
  CHECK(std::string(frame.function) == "stack_fixture_unloaded");
  CHECK(basename_of(frame.module) == basename_of(MEMF_TEST_UNLOADED));
  CHECK(frame.offset == pc - module.bias);
  REQUIRE(frame.file != nullptr);
  CHECK(basename_of(frame.file) == "unloaded.cpp");
  CHECK(frame.line > 0);
}

TEST_CASE("closing a handle that leaves the module loaded records nothing") {
  void* first = dlopen(MEMF_TEST_UNLOADED, RTLD_NOW | RTLD_LOCAL);
  void* second = dlopen(MEMF_TEST_UNLOADED, RTLD_NOW | RTLD_LOCAL);
  REQUIRE(first != nullptr);
  REQUIRE(second == first);
  const uint64_t recorded = unloaded_module_count();
  REQUIRE(close_module(second) == 0);  // the reference count keeps it
  CHECK(unloaded_module_count() == recorded);
  REQUIRE(close_module(first) == 0);
  CHECK(unloaded_module_count() == recorded + 1);
}

namespace {
int count_debuginfod(dl_phdr_info* info, size_t, void* context) {
  if (info->dlpi_name && strstr(info->dlpi_name, "libdebuginfod") != nullptr) ++*static_cast<int*>(context);
  return 0;
}

// The frame of the fixture function in the split module at path, after loading it.
SymbolizedFrame symbolize_split_fixture(const char* path) {
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  REQUIRE(handle != nullptr);
  auto* function = reinterpret_cast<int (*)(int)>(dlsym(handle, "stack_fixture_split_debug"));
  REQUIRE(function != nullptr);
  CHECK(function(1) == 7);
  SymbolizedFrame frame;
  REQUIRE(symbolize(reinterpret_cast<uintptr_t>(function), &frame, PcKind::kExact));
  return frame;  // the module stays loaded: the frame's strings are the symbolizer's
}
}  // namespace

TEST_CASE("a module's separate debug file named by .gnu_debuglink gives file and line, not libdebuginfod") {
  const char* saved = getenv("DEBUGINFOD_URLS");
  const std::string before = saved ? saved : "";
  unsetenv("DEBUGINFOD_URLS");
  // The three variants share one build-id: no decompressed copy of an earlier run may stand in
  // for the debug file each one names.
  const std::string cache = debug_cache_directory();
  REQUIRE(cache.find("symbolizer-debug-cache") != std::string::npos);  // MEMF_DEBUG_CACHE, set by meson
  REQUIRE(std::system(("rm -rf " + cache).c_str()) == 0);
  SymbolizedFrame frame = symbolize_split_fixture(MEMF_TEST_SPLIT_DEBUG);
  CHECK(std::string(frame.function) == "stack_fixture_split_debug");
  CHECK(basename_of(frame.module) == basename_of(MEMF_TEST_SPLIT_DEBUG));
  REQUIRE(frame.file != nullptr);  // only the debug file has line tables
  CHECK(basename_of(frame.file) == "split_debug.cpp");
  CHECK(frame.line >= 3);  // a line of the function (its first, or its body when optimized)
  CHECK(frame.line <= 5);
  // A debug file whose CRC no longer matches the link is not used: the symbol table still names
  // the function, without a line.
  frame = symbolize_split_fixture(MEMF_TEST_SPLIT_BAD_DEBUG);
  CHECK(std::string(frame.function) == "stack_fixture_split_debug");
  CHECK(frame.file == nullptr);
  CHECK(frame.line == 0);
  // A debug file with compressed sections, as Debian's are, is read through the decompressed
  // copy made now in the cache directory.
  frame = symbolize_split_fixture(MEMF_TEST_SPLIT_ZLIB);
  CHECK(std::string(frame.function) == "stack_fixture_split_debug");
  REQUIRE(frame.file != nullptr);
  CHECK(basename_of(frame.file) == "split_debug.cpp");
  CHECK(frame.line >= 3);
  CHECK(frame.line <= 5);
  const int module = open(MEMF_TEST_SPLIT_ZLIB, O_RDONLY | O_CLOEXEC);
  REQUIRE(module >= 0);
  const std::string copy = cache + "/" + debug_file_build_id(module) + ".debug";
  close(module);
  const int copied = open(copy.c_str(), O_RDONLY | O_CLOEXEC);
  INFO(copy);
  REQUIRE(copied >= 0);
  CHECK_FALSE(has_compressed_sections(copied));
  close(copied);
  // libstdc++ has no debug file on this machine (no libstdc++6-dbgsym): libdw's standard lookup
  // would end with the debuginfod client. None of these lookups loaded it: no server is set.
  SymbolizedFrame in_libstdcxx;
  REQUIRE(symbolize(reinterpret_cast<uintptr_t>(&std::terminate), &in_libstdcxx, PcKind::kExact));
  CHECK(basename_of(in_libstdcxx.module).find("libstdc++") == 0);
  int debuginfod = 0;
  dl_iterate_phdr(count_debuginfod, &debuginfod);
  CHECK(debuginfod == 0);
  if (saved) setenv("DEBUGINFOD_URLS", before.c_str(), 1);
}

TEST_CASE("warming up symbolizes libc and the program's entry point ahead of any report") {
  symbolizer_reset();
  REQUIRE(symbolizer_cached_addresses() == 0);
  symbolizer_warm_up();
  CHECK(symbolizer_cached_addresses() == 2);
  // Both were the lookups a report makes: asking again resolves nothing new.
  SymbolizedFrame frame;
  REQUIRE(symbolize(reinterpret_cast<uintptr_t>(&abort) + 1, &frame));
  CHECK_THAT(frame.function, Catch::Contains("abort"));
  REQUIRE(symbolize(uintptr_t(getauxval(AT_ENTRY)) + 1, &frame));
  CHECK(basename_of(frame.module) == basename_of(executable_path().c_str()));
  CHECK(symbolizer_cached_addresses() == 2);
}

namespace {
// Checks that a forked child symbolizes qsort within 20 s.
void check_child_symbolizes() {
  const pid_t child = fork();
  if (child == 0) {
    alarm(20);
    SymbolizedFrame frame;
    const bool named = symbolize(reinterpret_cast<uintptr_t>(&qsort), &frame, PcKind::kExact) &&
                       strstr(frame.function, "qsort") != nullptr;
    _exit(named ? 0 : 1);
  }
  REQUIRE(child > 0);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  INFO((WIFSIGNALED(status) ? "child killed by signal " : "child exited with ")
       << (WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)));
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

struct Hold {
  std::atomic<bool> holding{false};
  std::atomic<bool> release{false};
};
void hold_until_released(void* arg) {
  Hold& hold = *static_cast<Hold*>(arg);
  hold.holding.store(true);
  while (!hold.release.load()) usleep(1000);
}
}  // namespace

TEST_CASE("a child forked while another thread holds the symbolizer can symbolize") {
  symbolizer_warm_up();
  // Another thread inside the symbolizer at the fork (here: holding its mutex, waiting, so that
  // it holds no other lock): the child's copy may be half updated and its mutex is never
  // released there. The child must start afresh, not wait forever (the alarm would end it).
  Hold hold;
  std::thread busy([&] { symbolizer_while_busy(hold_until_released, &hold); });
  while (!hold.holding.load()) usleep(1000);
  check_child_symbolizes();
  hold.release.store(true);
  busy.join();
  // Idle at the fork: the child keeps the parent's symbolizer, and the parent's is usable after.
  const size_t cached = symbolizer_cached_addresses();
  check_child_symbolizes();
  SymbolizedFrame frame;
  REQUIRE(symbolize(reinterpret_cast<uintptr_t>(&qsort), &frame, PcKind::kExact));
  CHECK(symbolizer_cached_addresses() >= cached);
}
