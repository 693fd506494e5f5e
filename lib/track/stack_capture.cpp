#include "stack_capture.hpp"

#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "cfi_rules.hpp"
#include "compiler.hpp"
#include "fork.hpp"
#include "proc_maps.hpp"
#include "spare_blocks.hpp"
#include "stack_depot.hpp"
#include "thread_exit.hpp"

extern "C" void* __libc_stack_end;  // ld.so: the initial stack pointer of the main thread

namespace memf {
namespace {

// Where a frame-pointer walk may read: the calling thread's own stack, found without
// allocating (pthread_getattr_np allocates) and never guessed (a guessed range can span an
// unmapped hole, and one stray rbp would then fault inside malloc).
//
// Threads other than the main one: from the start of the mapping that holds this thread's
// static TLS up to that TLS. glibc puts the thread descriptor and static TLS at the top of every
// thread's stack block (its own or one given with pthread_attr_setstack), and the block stays
// mapped while the thread runs, so the range is mapped and holds every frame of the thread.
// Anchoring on the TLS, not on the stack pointer of the first capture, means a first capture on
// a coroutine stack or a sigaltstack cannot leave a wrong range cached.
//
// The main thread's TLS is elsewhere and its stack grows: its range is the [stack] mapping that
// holds __libc_stack_end, from its lowest address seen so far, read again when the stack pointer
// is below that (the stack grew; bounded by the stack's size in pages over the process's life).
enum : uint8_t { kBoundsUnknown = 0, kBoundsThread = 1, kBoundsMain = 2, kBoundsUnavailable = 3 };
struct ThreadStack {
  // Where walks may read, once known: [lo, hi) holds every stack pointer checked so far (empty
  // until the first capture). Tested first and inline: the common case costs two compares.
  uintptr_t lo;
  uintptr_t hi;
  // Main thread only: the last other mapping its stack pointer was seen on (a coroutine stack).
  uintptr_t other_lo;
  uintptr_t other_hi;
  uint8_t state;
};
constinit __thread ThreadStack t_stack MEMF_TLS = {0, 0, 0, 0, kBoundsUnknown};
constinit std::atomic<uintptr_t> g_main_stack_lo{0};  // 0: not read yet

// Set while this thread is inside the DWARF unwinder: a nested capture (malloc from the unwinder
// or from a signal handler) falls back to the reentrant frame-pointer walk.
constinit __thread bool t_in_unwinder MEMF_TLS = false;

// Re-reads the main stack's mapping when sp is below its known start; true if sp is on it.
// Otherwise remembers the mapping sp is on (a coroutine stack, a sigaltstack) in cached, so
// that captures there do not read the maps again.
bool main_stack_contains(uintptr_t sp, uintptr_t top, ThreadStack& cached) {
  Mapping mapping;
  if (!find_mapping(sp, &mapping)) return false;
  const uintptr_t lo = mapping.begin, hi = mapping.end;
  if (hi < top) {  // sp is on some other mapping
    cached.other_lo = lo, cached.other_hi = hi;
    return false;
  }
  uintptr_t known = g_main_stack_lo.load(std::memory_order_relaxed);
  while ((known == 0 || lo < known) &&
         !g_main_stack_lo.compare_exchange_weak(known, lo, std::memory_order_relaxed)) {
  }
  return true;
}

MEMF_ALWAYS_INLINE bool stack_bounds_for(uintptr_t sp, uintptr_t* lo, uintptr_t* hi);

// The slow part of stack_bounds_for: the thread's first capture, and the main thread's stack
// pointer below the range known so far (the stack grew) or on another mapping.
MEMF_NOINLINE bool stack_bounds_slow(uintptr_t sp, uintptr_t* lo, uintptr_t* hi) {
  ThreadStack& cached = t_stack;
  if (cached.state == kBoundsUnknown) {
    const int saved = errno;
    const bool is_main = syscall(SYS_gettid) == syscall(SYS_getpid);
    errno = saved;
    Mapping mapping;
    const uintptr_t tls = reinterpret_cast<uintptr_t>(&cached);
    if (is_main) cached.state = kBoundsMain;
    else if (find_mapping(tls, &mapping)) cached.lo = mapping.begin, cached.hi = tls, cached.state = kBoundsThread;
    else cached.state = kBoundsUnavailable;
    if (cached.state != kBoundsMain) return stack_bounds_for(sp, lo, hi);  // known now, or never
  }
  if (cached.state != kBoundsMain) return false;
  const uintptr_t top = reinterpret_cast<uintptr_t>(__libc_stack_end);
  const uintptr_t known = g_main_stack_lo.load(std::memory_order_relaxed);
  if (sp >= top || (sp >= cached.other_lo && sp < cached.other_hi)) return false;
  if ((known == 0 || sp < known) && !main_stack_contains(sp, top, cached)) return false;
  cached.lo = *lo = g_main_stack_lo.load(std::memory_order_relaxed);
  cached.hi = *hi = top;
  return true;
}

// Bounds for a walk that starts at sp on the calling thread's stack; false if sp is not on it.
MEMF_ALWAYS_INLINE bool stack_bounds_for(uintptr_t sp, uintptr_t* lo, uintptr_t* hi) {
  const ThreadStack& cached = t_stack;
  if (MEMF_LIKELY(sp >= cached.lo && sp < cached.hi)) {
    *lo = cached.lo;
    *hi = cached.hi;
    return true;
  }
  return stack_bounds_slow(sp, lo, hi);
}

// Follows frame records ([fp] = caller's fp, [fp + 8] = return address) from fp, giving each
// return address to visit until it returns false. Every read is inside [lo, hi) -- mapped, this
// thread's own stack -- and fp strictly increases, so a broken chain (code without frame pointers
// leaves anything in rbp) ends the walk instead of faulting or looping. Not instrumented: a stray
// fp may point into a sanitizer's stack redzone.
template <class Visit>
__attribute__((no_sanitize("address", "thread"))) MEMF_ALWAYS_INLINE void for_each_frame_record(
    uintptr_t fp, uintptr_t lo, uintptr_t hi, Visit&& visit) {
  for (;;) {
    if (fp < lo || fp >= hi - 2 * sizeof(uintptr_t) || (fp & (sizeof(uintptr_t) - 1)) != 0) break;
    const uintptr_t* record = reinterpret_cast<const uintptr_t*>(fp);
    const uintptr_t pc = record[1];
    if (pc < kPageSize) break;  // not code: the chain's end (zeroed rbp) or garbage
    if (!visit(pc)) break;
    const uintptr_t next = record[0];
    if (next <= fp) break;
    fp = next;
  }
}

// The frames of the records from fp after `skip` of them, stored from frames[n] up to max_depth.
__attribute__((no_sanitize("address", "thread")))
unsigned walk_frame_records(uintptr_t fp, uintptr_t lo, uintptr_t hi, uintptr_t* frames, unsigned n,
                            unsigned max_depth, unsigned skip) {
  if (n >= max_depth) return n;
  for_each_frame_record(fp, lo, hi, [&](uintptr_t pc) {
    if (skip > 0) --skip;
    else frames[n++] = pc;
    return n < max_depth;
  });
  return n;
}

MEMF_NOINLINE unsigned capture_frame_pointers(const StackOrigin& origin, uintptr_t* frames, unsigned max_depth,
                                              unsigned skip) {
  unsigned n = 0;
  if (skip > 0) --skip;
  else frames[n++] = origin.pc;
  // Frames of the origin's callers lie above this function's own frame.
  const uintptr_t here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  uintptr_t lo, hi;
  if (n < max_depth && origin.frame != 0 && stack_bounds_for(here, &lo, &hi))
    n = walk_frame_records(origin.frame, here > lo ? here : lo, hi, frames, n, max_depth, skip);
  return n;
}

struct PreciseWalk {
  uintptr_t* frames;
  unsigned max_depth;
  unsigned n;
  unsigned skip;
  uintptr_t origin_pc;
  unsigned seek_budget;  // frames of memf's own allowed above the origin before giving up
  bool found;
};

// One frame's return address for the walk: seeks the origin, skips, stores. False: stop.
MEMF_ALWAYS_INLINE bool precise_take(PreciseWalk& walk, uintptr_t pc) {
  if (!walk.found) {
    if (pc != walk.origin_pc) return --walk.seek_budget != 0;
    walk.found = true;
  }
  if (walk.skip > 0) {
    --walk.skip;
    return true;
  }
  walk.frames[walk.n++] = pc;
  return walk.n != walk.max_depth;
}

_Unwind_Reason_Code precise_step(_Unwind_Context* context, void* arg) {
  PreciseWalk& walk = *static_cast<PreciseWalk*>(arg);
  int before_insn = 0;
  uintptr_t pc = _Unwind_GetIPInfo(context, &before_insn);
  if (pc == 0) return _URC_END_OF_STACK;
  // A signal frame's pc is the interrupted instruction itself; + 1 keeps the rule that every
  // stored entry is a return address (looked up at pc - 1).
  if (before_insn) ++pc;
  return precise_take(walk, pc) ? _URC_NO_REASON : _URC_END_OF_STACK;
}

// The thread's last precise walk, frame by frame: what lets the next walk stop unwinding where
// it reaches a frame of the last one (same pc, rsp and rbp) and the return addresses and saved
// rbp values above it are still the ones that walk read. Those are loads at known addresses,
// independent of each other, where unwinding is a chain of rule lookup, load, lookup; consecutive
// allocations mostly share their callers. Kept only for walks that ended at the stack's end
// within kFrames frames, with every return address just below its CFA (ra_slot -1, as on x86-64
// everywhere), under the rules' current generation.
struct PreviousWalk {
  static constexpr unsigned kFrames = 32;
  struct Frame {
    uintptr_t pc, sp, rbp;  // the frame's return address and registers
    int8_t rbp_slot;        // its rule's: the caller's rbp at the next frame's sp + 8 * rbp_slot
  };
  unsigned n;           // frames kept; 0: none to reuse
  uintptr_t zero_at;    // the walk ended on reading a return address of 0 here; 0: at an outermost rule
  uint64_t generation;  // of the rules it was walked with
  // The depot's id for the stack this walk gave capture_precise_to_depot, with its max_depth;
  // 0: none (the walk was another capture's).
  uint32_t stack_id;
  unsigned stack_max_depth;
  Frame frames[kFrames];
};

// A thread's unwind state, out of static TLS (which glibc zeroes for every new thread): mapped on
// the thread's first precise capture, given to the next thread at its exit (the rules stay valid;
// the last walk, of another stack, is dropped).
struct ThreadUnwindState {
  detail::ThreadFrameRules rules;
  PreviousWalk previous;
  ThreadUnwindState* next_spare;
};
constinit __thread ThreadUnwindState* t_unwind MEMF_TLS = nullptr;
constinit __thread bool t_unwind_retired MEMF_TLS = false;  // the thread's exit handler has run
constinit SpareBlocks<ThreadUnwindState> g_spare_unwind_states;
constinit std::atomic<bool> g_unwind_states_return{false};  // stack_capture_init registered the exit handler

void retire_unwind_state() {
  t_unwind_retired = true;
  if (ThreadUnwindState* state = t_unwind) {
    t_unwind = nullptr;
    g_spare_unwind_states.give(state);
  }
}

// The calling thread's unwind state, nullptr when it cannot have one (before stack_capture_init,
// no memory, past its exit).
MEMF_NOINLINE ThreadUnwindState* take_unwind_state() {
  if (t_unwind_retired || !g_unwind_states_return.load(std::memory_order_relaxed)) return nullptr;
  ThreadUnwindState* state = g_spare_unwind_states.take();
  if (!state) return nullptr;
  state->previous.n = 0;
  t_unwind = state;
  thread_exit_arm();
  return state;
}

// A word of this thread's stack, read with a load the sanitizers do not see: the DWARF walk reads
// return-address and saved-rbp slots of other functions' frames, and an address kept from the
// last walk may now lie in a redzone of a frame that an instrumented function has there. (The
// walk's functions stay instrumented otherwise: marking them no_sanitize would leave the scope
// poisoning of the instrumented code inlined into them behind on the stack.)
MEMF_ALWAYS_INLINE uintptr_t stack_word(uintptr_t at) {
  uintptr_t value;
  asm volatile("movq (%1), %0" : "=r"(value) : "r"(at) : "memory");
  return value;
}

// Whether the stack above previous.frames[j] is still as that walk read it.
MEMF_ALWAYS_INLINE bool unchanged_above(const PreviousWalk& previous, unsigned j) {
  bool same = true;
  for (unsigned m = j; m + 1 < previous.n; ++m) {
    const PreviousWalk::Frame& caller = previous.frames[m + 1];
    same &= stack_word(caller.sp - sizeof(uintptr_t)) == caller.pc;
    if (const int8_t slot = previous.frames[m].rbp_slot) same &= stack_word(caller.sp + intptr_t(slot) * 8) == caller.rbp;
  }
  if (previous.zero_at != 0) same &= stack_word(previous.zero_at) == 0;
  return same;
}

// The precise walk on the cached rules (cfi_rules.hpp): each frame costs a table lookup and two
// reads, and frames the thread's last walk had (above) cost a compare. It follows rsp and rbp
// only, which is all the CFA and the return address depend on in code whose rules are kStep. It
// starts at the origin's caller when the origin has its stack pointer (on this stack, above this
// frame), else at this function's caller, unwinding memf's own frames until it meets origin.pc.
// False, with walk as it was, when a frame needs more (a signal frame, a CFA expression, no FDE):
// libgcc then walks the stack. Reads only [lo, hi) of this thread's stack, the CFA rising each
// frame.
// (Inlined into the function that calls it, whose caller it starts at.)
MEMF_ALWAYS_INLINE bool walk_cached_rules_with(
    PreciseWalk& walk, const StackOrigin& origin, ThreadUnwindState* state) {
  const uintptr_t* own_frame = static_cast<const uintptr_t*>(__builtin_frame_address(0));
  // The caller's registers as they are when this function has returned.
  uintptr_t pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  uintptr_t sp = reinterpret_cast<uintptr_t>(own_frame) + 2 * sizeof(uintptr_t);
  uintptr_t rbp = stack_word(reinterpret_cast<uintptr_t>(own_frame));
  uintptr_t lo, hi;
  if (!stack_bounds_for(sp, &lo, &hi)) return false;
  PreciseWalk result = walk;
  if (origin.sp > sp && origin.sp <= hi) {
    pc = origin.pc, sp = origin.sp, rbp = origin.frame;
    result.found = true;
  }
  const auto readable = [&](uintptr_t at) {
    return at >= lo && at <= hi - sizeof(uintptr_t) && (at & (sizeof(uintptr_t) - 1)) == 0;
  };
  detail::ThreadFrameRules& recent = state->rules;
  refresh_thread_frame_rules(recent);
  PreviousWalk& previous = state->previous;
  const uint64_t generation = recent.generation;
  const unsigned reusable = previous.generation == generation ? previous.n : 0;
  unsigned j = 0;  // the first of the previous walk's frames not below sp
  PreviousWalk::Frame walked[PreviousWalk::kFrames];
  unsigned count = 0;
  bool keep = true;  // this walk may be kept for the next one
  uintptr_t zero_at = 0;
  for (;;) {
    if (pc == 0) break;
    if (reusable) {
      while (j < reusable && previous.frames[j].sp < sp) ++j;
      const PreviousWalk::Frame* same = j < reusable ? &previous.frames[j] : nullptr;
      if (same && same->sp == sp && same->pc == pc && same->rbp == rbp && unchanged_above(previous, j)) {
        for (unsigned m = j; m < reusable; ++m) {
          if (count < PreviousWalk::kFrames) walked[count++] = previous.frames[m];
          else keep = false;
          if (!precise_take(result, previous.frames[m].pc)) {
            keep &= m + 1 == reusable;  // cut short by max_depth: not a whole stack to keep
            break;
          }
        }
        zero_at = previous.zero_at;
        break;
      }
    }
    if (!precise_take(result, pc)) {
      keep = false;
      break;
    }
    const FrameRule rule = thread_frame_rule(recent, pc);
    if (count < PreviousWalk::kFrames) walked[count++] = {pc, sp, rbp, rule.rbp_slot};
    else keep = false;
    if (rule.kind == FrameRule::kOutermost) break;
    if (rule.kind != FrameRule::kStep) return false;
    const uintptr_t cfa = (rule.cfa_from_rbp ? rbp : sp) + rule.cfa_offset;
    const uintptr_t ra_at = cfa + intptr_t(rule.ra_slot) * 8;
    const uintptr_t rbp_at = cfa + intptr_t(rule.rbp_slot) * 8;
    if (cfa <= sp || !readable(ra_at) || (rule.rbp_slot != 0 && !readable(rbp_at))) {
      keep = false;
      break;
    }
    keep &= rule.ra_slot == -1;
    pc = stack_word(ra_at);
    if (pc == 0) zero_at = ra_at;
    if (rule.rbp_slot != 0) rbp = stack_word(rbp_at);
    sp = cfa;
  }
  if (keep && count > 0) {
    memcpy(previous.frames, walked, count * sizeof walked[0]);
    previous.n = count;
    previous.zero_at = zero_at;
    previous.generation = generation;
  } else {
    previous.n = 0;
  }
  previous.stack_id = 0;
  walk = result;
  return true;
}

// A thread without a state of its own (none could be mapped, or past its exit) walks with one for
// this walk only.
MEMF_NOINLINE bool walk_cached_rules_scratch(PreciseWalk& walk, const StackOrigin& origin) {
  ThreadUnwindState scratch;
  scratch.rules.generation = 0;
  scratch.previous.n = 0;
  return walk_cached_rules_with(walk, origin, &scratch);
}

MEMF_NOINLINE bool walk_cached_rules(PreciseWalk& walk, const StackOrigin& origin) {
  ThreadUnwindState* state = t_unwind;
  if (MEMF_UNLIKELY(!state) && !(state = take_unwind_state())) return walk_cached_rules_scratch(walk, origin);
  if (walk_cached_rules_with(walk, origin, state)) return true;
  // libgcc walks this stack: the last walk kept is not this capture's, and must not get its id
  // (capture_precise_to_depot names the kept walk's stack after the capture).
  state->previous.n = 0;
  return false;
}

MEMF_NOINLINE unsigned capture_precise(const StackOrigin& origin, uintptr_t* frames, unsigned max_depth,
                                       unsigned skip) {
  if (t_in_unwinder) return capture_frame_pointers(origin, frames, max_depth, skip);
  t_in_unwinder = true;
  const int saved_errno = errno;
  PreciseWalk walk{frames, max_depth, 0, skip, origin.pc, 16, false};
  if (!walk_cached_rules(walk, origin)) _Unwind_Backtrace(precise_step, &walk);
  errno = saved_errno;
  t_in_unwinder = false;
  if (!walk.found) {  // the origin is not on this stack: keep only what is certain
    if (skip > 0) return 0;
    frames[0] = origin.pc;
    return 1;
  }
  return walk.n;
}

unsigned capture(const StackOrigin& origin, uintptr_t* frames, unsigned max_depth, unsigned skip,
                 UnwindMode mode) {
  if (max_depth == 0 || frames == nullptr) return 0;
  if (max_depth > kMaxStackDepth) max_depth = kMaxStackDepth;
  return mode == UnwindMode::kPrecise ? capture_precise(origin, frames, max_depth, skip)
                                      : capture_frame_pointers(origin, frames, max_depth, skip);
}

}  // namespace

MEMF_NOINLINE unsigned capture_stack(uintptr_t* frames, unsigned max_depth, unsigned skip, UnwindMode mode) {
  // This function's own frame record is exact whatever its caller was compiled with.
  const StackOrigin origin = MEMF_STACK_ORIGIN();
  return capture(origin, frames, max_depth, skip, mode);
}

namespace {

// The frame records' walk with the leading own frames left out and the kept ones hashed as they
// are stored: the allocation path's capture, so one pass and no second loop over frames.
// kStore false: the kept frames are only hashed, and the first kept one is left in frames[0].
template <bool kStore>
__attribute__((no_sanitize("address", "thread"))) MEMF_ALWAYS_INLINE unsigned walk_hashed(
    const StackOrigin& origin, uintptr_t* frames, unsigned max_depth, uintptr_t own_begin, uintptr_t own_end,
    uint64_t* hash) {
  if (max_depth > kMaxStackDepth) max_depth = kMaxStackDepth;
  StackHash hashed;
  unsigned n = 0;
  bool leading = true;  // no frame kept yet: an own frame is left out
  const auto keep = [&](uintptr_t pc) {
    if (leading) {
      if (pc >= own_begin && pc < own_end) return;
      leading = false;
      frames[0] = pc;
    } else if (kStore) {
      frames[n] = pc;
    }
    ++n;
    hashed.add(pc);
  };
  if (max_depth > 0) keep(origin.pc);
  // Frames of the origin's callers lie above this function's own frame.
  const uintptr_t here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  uintptr_t lo, hi;
  if (n < max_depth && origin.frame != 0 && stack_bounds_for(here, &lo, &hi)) {
    if (here > lo) lo = here;
    for_each_frame_record(origin.frame, lo, hi, [&](uintptr_t pc) {
      keep(pc);
      return n < max_depth;
    });
  }
  *hash = hashed.finish(n);
  return n;
}

constinit uintptr_t g_own_code_begin = 0, g_own_code_end = 0;

}  // namespace

__attribute__((no_sanitize("address", "thread"))) unsigned capture_frame_pointers_hashed(
    const StackOrigin& origin, uintptr_t* frames, unsigned max_depth, uintptr_t own_begin, uintptr_t own_end,
    uint64_t* hash) {
  return walk_hashed<true>(origin, frames, max_depth, own_begin, own_end, hash);
}

void stack_capture_init(uintptr_t own_begin, uintptr_t own_end) {
  g_own_code_begin = own_begin;
  g_own_code_end = own_end;
  fork_register(kForkUnwind, {[] { g_spare_unwind_states.lock(); }, [] { g_spare_unwind_states.unlock(); },
                              [] { g_spare_unwind_states.reset_after_fork(); }});
  thread_exit_register(kThreadExitUnwind, retire_unwind_state);
  g_unwind_states_return.store(true, std::memory_order_relaxed);
}

namespace {

// A stack the thread's memo does not have: walked again, storing its frames, into the depot.
MEMF_NOINLINE uint32_t capture_frame_pointers_to_depot_slow(const StackOrigin& origin, unsigned max_depth) {
  uintptr_t frames[kMaxStackDepth];
  uint64_t hash;
  const unsigned kept = walk_hashed<true>(origin, frames, max_depth, g_own_code_begin, g_own_code_end, &hash);
  if (kept == 0) return 0;
  return stack_depot_put_hashed(hash, frames, kept);
}

}  // namespace

// One function from the walk to the memo's answer: the allocation path's capture is one call.
// The common case, a stack the thread saw recently, only hashes the walk (no frame array in
// this function's frame); a miss walks again from a function of its own.
__attribute__((no_sanitize("address", "thread"))) uint32_t capture_frame_pointers_to_depot(const StackOrigin& origin,
                                                                                        unsigned max_depth) {
  uintptr_t innermost;
  uint64_t hash;
  const unsigned kept = walk_hashed<false>(origin, &innermost, max_depth, g_own_code_begin, g_own_code_end, &hash);
  if (kept == 0) return 0;
  if (const StackId id = stack_depot_memo_find(hash, kept, innermost)) return id;
  return capture_frame_pointers_to_depot_slow(origin, max_depth);
}

// The precise capture for the depot. A stack that is the thread's last one, unchanged (the same
// origin frame, the same return addresses and saved rbp values above it), is answered with that
// one's id without unwinding, hashing or a depot lookup: consecutive allocations from one place.
// t_in_unwinder is held while the last walk is read, so that a signal handler's malloc in
// between cannot rewrite it under the check.
uint32_t capture_precise_to_depot(const StackOrigin& origin, unsigned max_depth) {
  // Nested in another capture (a signal handler's malloc), the capture below is the frame-pointer
  // walk and the kept walk is the interrupted one's: neither is read nor named here.
  const bool nested = t_in_unwinder;
  if (const ThreadUnwindState* state = t_unwind; state && !nested && origin.sp != 0) {
    t_in_unwinder = true;
    const PreviousWalk& previous = state->previous;
    const PreviousWalk::Frame& first = previous.frames[0];
    const bool same = previous.stack_id != 0 && previous.stack_max_depth == max_depth && first.pc == origin.pc &&
                      first.sp == origin.sp && first.rbp == origin.frame &&
                      previous.generation == detail::g_frame_rule_generation.load(std::memory_order_relaxed) &&
                      unchanged_above(previous, 0);
    const uint32_t id = previous.stack_id;
    t_in_unwinder = false;
    if (same) return id;
  }
  uintptr_t frames[kMaxStackDepth];
  const unsigned depth = capture(origin, frames, max_depth + 4 > kMaxStackDepth ? kMaxStackDepth : max_depth + 4, 0,
                                 UnwindMode::kPrecise);
  unsigned first = 0;
  while (first < depth && frames[first] >= g_own_code_begin && frames[first] < g_own_code_end) ++first;
  unsigned kept = depth - first;
  if (kept > max_depth) kept = max_depth;
  const uint32_t id = kept ? stack_depot_put(frames + first, kept) : 0;
  // The walk just kept (if it was kept, and started at this origin) is this id's.
  if (ThreadUnwindState* state = t_unwind; state && !nested) {
    PreviousWalk& previous = state->previous;
    if (previous.n != 0 && previous.frames[0].pc == origin.pc && previous.frames[0].sp == origin.sp) {
      previous.stack_id = id;
      previous.stack_max_depth = max_depth;
    }
  }
  return id;
}

void stack_capture_forget_last_walk() {
  if (ThreadUnwindState* state = t_unwind) state->previous.n = 0;
}

unsigned capture_stack_from(const StackOrigin& origin, uintptr_t* frames, unsigned max_depth, UnwindMode mode) {
  return capture(origin, frames, max_depth, 0, mode);
}

bool thread_stack_bounds(uintptr_t* lo, uintptr_t* hi) {
  return stack_bounds_for(reinterpret_cast<uintptr_t>(__builtin_frame_address(0)), lo, hi);
}

}  // namespace memf
