// How to find a frame's caller at one return address, read once from the DWARF call-frame
// information (.eh_frame) that x86-64 code carries and then kept: what lets the precise unwinder
// (stack_capture.cpp) cost a table lookup a frame instead of an FDE search and a CFA program
// run a frame. Runs inside malloc: never allocates and takes no lock (libgcc's _Unwind_Find_FDE
// finds FDEs through glibc's lock-free _dl_find_object; the table is one reserved mapping).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "compiler.hpp"

namespace memf {

// The caller's registers from a frame's, at one return address, in the form that x86-64 code
// has almost everywhere: CFA = rsp or rbp + offset, the return address and the caller's rbp at
// fixed places below the CFA. Anything else (a CFA or rbp given by a DWARF expression, as in
// signal trampolines and stack-realigning functions, a signal frame, no FDE) is kUnsupported,
// and the unwinder hands that stack to libgcc's own unwinder.
struct FrameRule {
  enum Kind : uint8_t { kStep, kOutermost, kUnsupported };
  Kind kind = kUnsupported;
  bool cfa_from_rbp = false;  // CFA = rbp + cfa_offset, else rsp + cfa_offset
  int8_t rbp_slot = 0;        // the caller's rbp is at CFA + 8 * rbp_slot; 0: rbp is unchanged
  int8_t ra_slot = -1;        // the return address is at CFA + 8 * ra_slot
  uint32_t cfa_offset = 0;    // < 2 MiB

  bool operator==(const FrameRule&) const = default;
};

// Decodes the rule at return address pc (the call instruction ends at pc) from its FDE.
FrameRule decode_frame_rule(uintptr_t pc);

namespace detail {
// The process-wide table of decoded rules: a hash of pc picks a group of four slots, one cache
// line; a new rule takes an empty slot of its group, else one picked by the hash's next bits
// (four ways: two hot return addresses whose hashes meet do not evict each other at every
// walk). A slot is {pc, rule word}; the word's top 24 bits are a check made
// from pc's hash and the table's generation, so a reader that sees one writer's pc and another's
// word (a race, a reused slot) or a rule from before forget_frame_rules finds the check wrong and
// decodes for itself. Writers store the word, then pc with release; readers load pc with
// acquire, then the word. Rule word: bits 0-1 kind + 1 (0: empty), 2 cfa_from_rbp,
// 3-10 rbp_slot, 11-18 ra_slot, 19-39 cfa_offset, 40-63 check.
struct FrameRuleSlot {
  std::atomic<uintptr_t> pc;
  std::atomic<uint64_t> word;
};
constexpr size_t kFrameRuleSlots = size_t(1) << 14;
constexpr size_t kFrameRuleWays = 4;
extern std::atomic<FrameRuleSlot*> g_frame_rules MEMF_HIDDEN;  // mapped on the first lookup
extern std::atomic<uint64_t> g_frame_rule_generation MEMF_HIDDEN;

MEMF_ALWAYS_INLINE uint64_t frame_rule_hash(uintptr_t pc) {
  const uint64_t x = pc * 0x9e3779b97f4a7c15ull;
  return x ^ (x >> 29);
}
MEMF_ALWAYS_INLINE uint64_t frame_rule_check(uint64_t hash, uint64_t generation) {
  return ((hash >> 40) ^ generation) & 0xffffff;
}
MEMF_ALWAYS_INLINE FrameRule unpack_frame_rule(uint64_t word) {
  FrameRule rule;
  rule.kind = FrameRule::Kind((word & 3) - 1);
  rule.cfa_from_rbp = (word >> 2) & 1;
  rule.rbp_slot = int8_t(uint8_t(word >> 3));
  rule.ra_slot = int8_t(uint8_t(word >> 11));
  rule.cfa_offset = uint32_t((word >> 19) & ((1u << 21) - 1));
  return rule;
}
// Decodes pc's rule and puts it in the table (mapping the table the first time).
FrameRule cached_frame_rule_miss(uintptr_t pc);
}  // namespace detail

// decode_frame_rule's answer, from the table after the first time. Lock-free.
MEMF_ALWAYS_INLINE FrameRule cached_frame_rule(uintptr_t pc) {
  using namespace detail;
  if (FrameRuleSlot* table = g_frame_rules.load(std::memory_order_acquire); MEMF_LIKELY(table != nullptr)) {
    const uint64_t hash = frame_rule_hash(pc);
    const FrameRuleSlot* group = table + (hash & (kFrameRuleSlots - 1) & ~(kFrameRuleWays - 1));
    for (size_t way = 0; way < kFrameRuleWays; ++way) {
      const FrameRuleSlot& slot = group[way];
      if (slot.pc.load(std::memory_order_acquire) != pc) continue;
      const uint64_t word = slot.word.load(std::memory_order_relaxed);
      const uint64_t generation = g_frame_rule_generation.load(std::memory_order_relaxed);
      if (MEMF_LIKELY((word >> 40) == frame_rule_check(hash, generation) && (word & 3) != 0))
        return unpack_frame_rule(word);
      break;
    }
  }
  return cached_frame_rule_miss(pc);
}

namespace detail {
// A thread's few most recent rules (1 KiB, in the thread's unwind state: stack_capture.cpp): a
// stack's frames are mostly the last stack's (the same callers), and their rules are then found
// in lines the thread keeps in L1 rather than in the process-wide table's, which a deep walk (the
// chain load, lookup, load is serial) would wait on one by one. Direct-mapped by pc's low bits;
// filled from cached_frame_rule; emptied when the table's generation moves (forget_frame_rules).
struct ThreadFrameRules {
  uint64_t generation;  // g_frame_rule_generation when the entries were filled; 0: never
  struct Entry {
    uintptr_t pc;
    FrameRule rule;
  } entries[64];
};
void thread_frame_rules_reset(ThreadFrameRules& rules, uint64_t generation);
}  // namespace detail

// Makes the thread's rules those of the current generation; call before each walk.
MEMF_ALWAYS_INLINE void refresh_thread_frame_rules(detail::ThreadFrameRules& rules) {
  const uint64_t generation = detail::g_frame_rule_generation.load(std::memory_order_relaxed);
  if (MEMF_UNLIKELY(rules.generation != generation)) detail::thread_frame_rules_reset(rules, generation);
}
// cached_frame_rule, from the thread's recent rules when it has pc's.
MEMF_ALWAYS_INLINE FrameRule thread_frame_rule(detail::ThreadFrameRules& rules, uintptr_t pc) {
  auto& entry = rules.entries[(pc ^ (pc >> 6)) & 63];
  if (MEMF_LIKELY(entry.pc == pc)) return entry.rule;
  const FrameRule rule = cached_frame_rule(pc);
  entry = {pc, rule};
  return rule;
}
// Drops every cached rule (code was unmapped by dlclose: new code may come at its addresses).
void forget_frame_rules();
// Rules decoded since the process started (table misses), for tests and measurements.
uint64_t frame_rules_decoded();

}  // namespace memf
