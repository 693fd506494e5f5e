// The cached frame rules against libgcc's unwinder, frame by frame: on real stacks (code with
// and without frame pointers, libc's qsort, libstdc++'s std::sort and std::function, a thread, a
// large frame, alloca) each frame's rule must give the CFA, return address and caller's rbp that
// libgcc's DWARF interpreter computes for it. Then the precise capture that runs on the rules
// must equal libgcc's stack, and repeated captures must be answered from the table.
#include <catch2/catch.hpp>

#include <alloca.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <unwind.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cfi_rules.hpp"
#include "stack_capture.hpp"
#include "stack_depot.hpp"
#include "stack_fixtures/no_frame_pointer.hpp"
#include "unloaded_modules.hpp"

using namespace memf;

namespace {

#define NOT_A_TAIL_CALL() asm volatile("" ::: "memory")

// One frame as libgcc sees it: its return address, its rsp and rbp, its CFA (0 for the last).
struct ReferenceFrame {
  uintptr_t ip, sp, rbp, cfa;
  bool signal_frame;
};

struct Reference {
  std::vector<ReferenceFrame> frames;
};

_Unwind_Reason_Code reference_step(_Unwind_Context* context, void* arg) {
  auto& reference = *static_cast<Reference*>(arg);
  int before_insn = 0;
  const uintptr_t ip = _Unwind_GetIPInfo(context, &before_insn);
  if (ip == 0) return _URC_END_OF_STACK;
  // In the callback, libgcc's "CFA" is the callee's, which is this frame's rsp; this frame's own
  // CFA is the next frame's rsp (filled in below).
  if (!reference.frames.empty()) reference.frames.back().cfa = _Unwind_GetCFA(context);
  reference.frames.push_back({ip, _Unwind_GetCFA(context), _Unwind_GetGR(context, 6), 0, before_insn != 0});
  return _URC_NO_REASON;
}

struct Checked {
  unsigned frames = 0, stepped = 0, outermost = 0, unsupported = 0;
  unsigned wrong = 0;      // frames whose rule disagreed with libgcc
  std::string first_wrong;  // the first of them
};

// Each frame's rule applied to libgcc's registers for the frame must give libgcc's caller.
// Counts disagreements rather than asserting: it also runs on a thread of its own, and Catch's
// assertions are for the main thread only.
Checked check_rules_against_libgcc() {
  Reference reference;
  _Unwind_Backtrace(reference_step, &reference);
  Checked checked;
  const auto& f = reference.frames;
  const auto wrong = [&](size_t i, const char* what) {
    if (checked.wrong++ == 0) {
      char text[160];
      snprintf(text, sizeof text, "frame %zu of %zu, ip %#lx: %s", i, f.size(), (unsigned long)f[i].ip, what);
      checked.first_wrong = text;
    }
  };
  for (size_t i = 0; i < f.size(); ++i) {
    ++checked.frames;
    const FrameRule rule = decode_frame_rule(f[i].ip);
    if (!(cached_frame_rule(f[i].ip) == rule)) wrong(i, "the table's rule is not the decoded one");
    if (f[i].signal_frame) {
      ++checked.unsupported;
      continue;
    }
    if (rule.kind == FrameRule::kOutermost) {
      ++checked.outermost;
      if (i + 1 != f.size()) wrong(i, "outermost, but libgcc goes on");
      continue;
    }
    if (rule.kind == FrameRule::kUnsupported) {
      ++checked.unsupported;
      continue;
    }
    ++checked.stepped;
    const uintptr_t cfa = (rule.cfa_from_rbp ? f[i].rbp : f[i].sp) + rule.cfa_offset;
    if (i + 1 < f.size() && !f[i + 1].signal_frame) {
      if (cfa != f[i].cfa) wrong(i, "CFA");
      if (*reinterpret_cast<const uintptr_t*>(cfa + intptr_t(rule.ra_slot) * 8) != f[i + 1].ip)
        wrong(i, "return address");
      const uintptr_t caller_rbp =
          rule.rbp_slot ? *reinterpret_cast<const uintptr_t*>(cfa + intptr_t(rule.rbp_slot) * 8) : f[i].rbp;
      if (caller_rbp != f[i + 1].rbp) wrong(i, "caller's rbp");
    }
  }
  return checked;
}

// The precise capture (on the rules) against libgcc's stack from the same function.
struct Both {
  uintptr_t captured[64];
  unsigned depth = 0;
  Reference reference;
};

__attribute__((noinline)) void capture_both(Both& both) {
  both.depth = capture_stack(both.captured, 64, 0, UnwindMode::kPrecise);
  NOT_A_TAIL_CALL();
  _Unwind_Backtrace(reference_step, &both.reference);
  NOT_A_TAIL_CALL();
}

void check_same_stack(const Both& both) {
  // captured[0] and reference[0] are two call sites in capture_both; their callers must match.
  const auto& f = both.reference.frames;
  REQUIRE(both.depth >= 2);
  REQUIRE(f.size() == both.depth);
  for (unsigned i = 1; i < both.depth; ++i) CHECK(both.captured[i] == f[i].ip);
}

Checked g_checked;

__attribute__((noinline)) unsigned check_here(void*) {
  const Checked c = check_rules_against_libgcc();
  g_checked.frames += c.frames;
  g_checked.stepped += c.stepped;
  g_checked.outermost += c.outermost;
  g_checked.unsupported += c.unsupported;
  if (g_checked.wrong == 0) g_checked.first_wrong = c.first_wrong;
  g_checked.wrong += c.wrong;
  NOT_A_TAIL_CALL();
  return c.frames;
}

__attribute__((noinline)) void big_frame(unsigned n) {
  volatile char buffer[200000];
  buffer[n] = 1;
  check_here(nullptr);
  buffer[0] = buffer[n];  // the buffer lives across the call: the frame keeps its 200 KB
}

__attribute__((noinline)) void with_alloca(size_t n) {
  auto* p = static_cast<volatile char*>(alloca(n));
  p[0] = 1;
  check_here(nullptr);
  p[n - 1] = 2;
  NOT_A_TAIL_CALL();
}

int compare_and_check(const void* a, const void* b) {
  static bool done = false;
  if (!done) {
    done = true;
    check_here(nullptr);
  }
  return *static_cast<const int*>(a) - *static_cast<const int*>(b);
}

void* thread_main(void*) {
  check_here(nullptr);
  return nullptr;
}

}  // namespace

TEST_CASE("each frame's cached rule gives the caller libgcc's unwinder finds") {
  g_checked = {};
  check_here(nullptr);
  stack_fixtures::call_without_frame_pointers(check_here, nullptr, 6);
  big_frame(123);
  with_alloca(5000);
  int values[64];
  for (int i = 0; i < 64; ++i) values[i] = (i * 37) % 64;
  qsort(values, 64, sizeof values[0], compare_and_check);
  std::vector<int> v(values, values + 64);
  bool sorted_checked = false;
  std::sort(v.begin(), v.end(), [&](int a, int b) {
    if (!sorted_checked) sorted_checked = true, check_here(nullptr);
    return a > b;
  });
  std::function<void()> call = [] { check_here(nullptr); };
  call();
  pthread_t thread;
  REQUIRE(pthread_create(&thread, nullptr, thread_main, nullptr) == 0);
  pthread_join(thread, nullptr);
  INFO("frames " << g_checked.frames << ", stepped " << g_checked.stepped << ", outermost " << g_checked.outermost
                 << ", unsupported " << g_checked.unsupported);
  INFO(g_checked.first_wrong);
  CHECK(g_checked.wrong == 0);
  CHECK(g_checked.frames > 60);
  // Every frame here has a plain rule; the stacks end at _start and at the thread's clone.
  CHECK(g_checked.unsupported == 0);
  CHECK(g_checked.outermost >= 2);
  CHECK(g_checked.stepped + g_checked.outermost == g_checked.frames);
}

TEST_CASE("the program's entry point is the outermost frame; an address without an FDE is unsupported") {
  CHECK(decode_frame_rule(getauxval(AT_ENTRY) + 4).kind == FrameRule::kOutermost);
  static const unsigned char not_code[64] = {};
  CHECK(decode_frame_rule(reinterpret_cast<uintptr_t>(not_code) + 8).kind == FrameRule::kUnsupported);
  CHECK(decode_frame_rule(0).kind == FrameRule::kUnsupported);
}

TEST_CASE("the precise capture runs on the cached rules: libgcc's stack, answered from the table") {
  Both first;
  stack_fixtures::call_without_frame_pointers(
      [](void* both) -> unsigned {
        capture_both(*static_cast<Both*>(both));
        return 0;
      },
      &first, 4);
  check_same_stack(first);
  CHECK(first.depth > 8);

  // The same stack three times: the first capture decodes at most its new frames' rules, the
  // next ones none.
  Both runs[3];
  uint64_t decoded[4];
  decoded[0] = frame_rules_decoded();
  // One call site for the three (an unrolled loop would give each its own return address).
#pragma GCC unroll 1
  for (int i = 0; i < 3; ++i) {
    capture_both(runs[i]);
    decoded[i + 1] = frame_rules_decoded();
  }
  CHECK(decoded[1] - decoded[0] <= runs[0].depth);
  CHECK(decoded[2] == decoded[1]);
  CHECK(decoded[3] == decoded[1]);
  check_same_stack(runs[2]);
  const uint64_t after_two = frame_rules_decoded();

  // After forget_frame_rules (a dlclose), every rule is decoded again.
  forget_frame_rules();
  Both fresh;
  capture_both(fresh);
  CHECK(frame_rules_decoded() - after_two >= fresh.depth);
  check_same_stack(fresh);
}

TEST_CASE("unloading a module (memf's dlclose) drops the cached rules") {
  Both runs[3];
  uint64_t decoded[3];
#pragma GCC unroll 1
  for (int i = 0; i < 3; ++i) {
    if (i == 2) {
      void* module = dlopen(MEMF_TEST_UNLOADED, RTLD_NOW);
      REQUIRE(module != nullptr);
      const uint64_t before_close = frame_rules_decoded();
      REQUIRE(close_module(module) == 0);
      CHECK(frame_rules_decoded() == before_close);
    }
    decoded[i] = frame_rules_decoded();
    capture_both(runs[i]);
  }
  const uint64_t after = frame_rules_decoded();
  CHECK(decoded[2] - decoded[1] == 0);  // the second capture: all from the table
  CHECK(after - decoded[2] >= runs[2].depth);  // after the module went: decoded again
  check_same_stack(runs[2]);
}

namespace {

struct DepotCapture {
  uint32_t id = 0;
  uintptr_t origin_sp = 0;
  Reference reference;
};

__attribute__((noinline)) void capture_to_depot(DepotCapture& c) {
  const StackOrigin origin = MEMF_STACK_ORIGIN();
  c.origin_sp = origin.sp;
  c.id = capture_precise_to_depot(origin, 64);
  NOT_A_TAIL_CALL();
  _Unwind_Backtrace(reference_step, &c.reference);
  NOT_A_TAIL_CALL();
}
// common() is called from two parents with identical frames, so its frame (pc, rsp, rbp) is the
// same in both, and only the return address above it differs: the stack captured must follow
// it, although the thread's last walk matches up to there. One chain for both captures: the
// precise capture against libgcc's stack (Both) and the depot's (DepotCapture).
__attribute__((always_inline)) inline void capture_at_leaf(Both& both) { capture_both(both); }
__attribute__((always_inline)) inline void capture_at_leaf(DepotCapture& c) { capture_to_depot(c); }
template <class Capture>
__attribute__((noinline)) void common(Capture& c) {
  capture_at_leaf(c);
  NOT_A_TAIL_CALL();
}
// Different stores keep the compiler from folding the two parents into one function.
volatile int g_parent = 0;
template <class Capture>
__attribute__((noinline)) void parent_a(Capture& c) {
  g_parent = 1;
  common(c);
  NOT_A_TAIL_CALL();
}
template <class Capture>
__attribute__((noinline)) void parent_b(Capture& c) {
  g_parent = 2;
  common(c);
  NOT_A_TAIL_CALL();
}
__attribute__((noinline)) void capture_through(bool b, DepotCapture& c) {
  if (b) parent_b(c);
  else parent_a(c);
  NOT_A_TAIL_CALL();
}

// The depot's stack must be libgcc's from common() on.
void check_depot_stack(const DepotCapture& c) {
  const uintptr_t* frames = nullptr;
  const unsigned depth = stack_depot_get(c.id, &frames);
  const auto& f = c.reference.frames;
  REQUIRE(f.size() >= 2);
  REQUIRE(depth == f.size() - 1);
  for (unsigned i = 0; i < depth; ++i) CHECK(frames[i] == f[i + 1].ip);
}

}  // namespace

TEST_CASE("a stack is reused from the thread's last walk only where the frames above are unchanged") {
  stack_depot_init();
  stack_capture_init(0, 0);  // the threads' unwind states, which keep the last walk
  DepotCapture c[4];  // through parent a, a, b, a, from one call site
  const bool through_b[4] = {false, false, true, false};
#pragma GCC unroll 1
  for (int i = 0; i < 4; ++i) capture_through(through_b[i], c[i]);
  REQUIRE(c[0].origin_sp == c[2].origin_sp);  // the case in question: one origin frame, other callers
  for (const DepotCapture& each : c) check_depot_stack(each);
  CHECK(c[1].id == c[0].id);
  CHECK(c[2].id != c[0].id);
  CHECK(c[3].id == c[0].id);

  // The same through capture_stack_from, which reuses the frames above a frame it shares with
  // the last walk: each capture must still be libgcc's stack.
  for (int round = 0; round < 2; ++round) {
    Both through_a, through_b;
    parent_a(through_a);
    parent_b(through_b);
    check_same_stack(through_a);
    check_same_stack(through_b);
    CHECK(through_a.captured[2] != through_b.captured[2]);
  }
}

namespace {
__attribute__((noinline)) unsigned capture_limited(uintptr_t* frames, unsigned max_depth) {
  const unsigned n = capture_stack(frames, max_depth, 0, UnwindMode::kPrecise);
  NOT_A_TAIL_CALL();
  return n;
}
}  // namespace

TEST_CASE("a capture cut short by its depth limit is not kept as a whole stack") {
  stack_capture_init(0, 0);
  uintptr_t whole[64], cut[64], again[64];
  uintptr_t* out[3] = {whole, cut, again};
  const unsigned limits[3] = {64, 3, 64};
  unsigned n[3];
#pragma GCC unroll 1
  for (int i = 0; i < 3; ++i) n[i] = capture_limited(out[i], limits[i]);
  REQUIRE(n[0] > 3);
  CHECK(n[1] == 3);
  CHECK(n[2] == n[0]);
  for (unsigned i = 0; i < n[0] && i < n[2]; ++i) CHECK(again[i] == whole[i]);
}
