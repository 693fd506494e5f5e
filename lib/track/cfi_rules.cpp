#include "cfi_rules.hpp"

#include <atomic>
#include <cstddef>
#include <cstring>

#include "compiler.hpp"
#include "os.hpp"

// libgcc_s (GCC_3.0): the FDE that covers pc, and the function's start in bases->func. Not in
// <unwind.h>; the struct is libgcc's dwarf_eh_bases.
struct memf_dwarf_eh_bases {
  void* tbase;
  void* dbase;
  void* func;
};
extern "C" const void* _Unwind_Find_FDE(void* pc, memf_dwarf_eh_bases* bases);

namespace memf {
namespace {

// DWARF register numbers on x86-64 (System V psABI, figure 3.36).
constexpr unsigned kRegRbp = 6, kRegRsp = 7, kRegReturnAddress = 16;

// Reads .eh_frame bytes, never past end: a malformed entry ends as "unsupported", not a fault.
struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;

  bool has(size_t n) const { return ok && size_t(end - p) >= n; }
  uint8_t u8() {
    if (!has(1)) return ok = false, 0;
    return *p++;
  }
  template <typename T>
  T fixed() {
    if (!has(sizeof(T))) return ok = false, T{};
    T value;
    memcpy(&value, p, sizeof value);
    p += sizeof value;
    return value;
  }
  uint64_t uleb() {
    uint64_t value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      const uint8_t byte = u8();
      value |= uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    return ok = false, 0;
  }
  int64_t sleb() {
    int64_t value = 0;
    unsigned shift = 0;
    uint8_t byte;
    do {
      byte = u8();
      if (!ok || shift >= 64) return ok = false, 0;
      value |= int64_t(byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    if (shift < 64 && (byte & 0x40)) value |= -(int64_t(1) << shift);
    return value;
  }
  void skip(uint64_t n) {
    if (!has(n)) ok = false;
    else p += n;
  }
  // Skips a pointer in DW_EH_PE encoding; false for an encoding it cannot size (aligned).
  bool skip_encoded(uint8_t encoding) {
    if (encoding == 0xff) return true;  // DW_EH_PE_omit
    switch (encoding & 0x0f) {
      case 0x00: skip(8); return ok;                  // absptr
      case 0x01: case 0x09: uleb(); return ok;        // uleb128, sleb128
      case 0x02: case 0x0a: skip(2); return ok;       // (s)data2
      case 0x03: case 0x0b: skip(4); return ok;       // (s)data4
      case 0x04: case 0x0c: skip(8); return ok;       // (s)data8
      default: return false;
    }
  }
};

// How the caller's value of one register is found, as far as the unwinder needs to know.
enum class Saved : uint8_t { kSame, kUndefined, kAtOffset, kOther };
struct RegisterRule {
  Saved how = Saved::kSame;
  int64_t offset = 0;  // kAtOffset: CFA + offset
};
struct CfaState {
  unsigned cfa_register = kRegRsp;
  int64_t cfa_offset = 8;
  bool cfa_expression = false;
  RegisterRule rbp, return_address;
};

struct Cie {
  uint64_t code_alignment = 1;
  int64_t data_alignment = -8;
  uint8_t fde_encoding = 0;
  bool has_augmentation_data = false;
  bool signal_frame = false;
  Reader instructions{nullptr, nullptr};
};

bool parse_cie(const uint8_t* at, Cie* cie) {
  Reader r{at, at + 4};
  const uint32_t length = r.fixed<uint32_t>();
  if (!r.ok || length == 0 || length == 0xffffffffu) return false;  // 64-bit DWARF: not on x86-64 Linux
  r.end = r.p + length;
  if (r.fixed<uint32_t>() != 0) return false;  // a CIE's id is 0 in .eh_frame
  const uint8_t version = r.u8();
  if (version != 1 && version != 3) return false;
  const char* augmentation = reinterpret_cast<const char*>(r.p);
  const size_t augmentation_length = strnlen(augmentation, size_t(r.end - r.p));
  r.skip(augmentation_length + 1);
  if (!r.ok || strstr(augmentation, "eh") != nullptr) return false;
  cie->code_alignment = r.uleb();
  cie->data_alignment = r.sleb();
  const uint64_t return_register = version == 1 ? r.u8() : r.uleb();
  if (!r.ok || return_register != kRegReturnAddress) return false;
  if (augmentation[0] == 'z') {
    cie->has_augmentation_data = true;
    const uint64_t data_length = r.uleb();
    if (!r.has(data_length)) return false;
    const uint8_t* data_end = r.p + data_length;
    for (const char* c = augmentation + 1; *c != '\0'; ++c) {
      if (*c == 'R') cie->fde_encoding = r.u8();
      else if (*c == 'L') r.u8();
      else if (*c == 'P') {
        if (!r.skip_encoded(r.u8())) return false;
      } else if (*c == 'S') cie->signal_frame = true;
      else break;  // unknown: the data length still says where it ends
    }
    r.p = data_end;
  } else if (augmentation[0] != '\0') {
    return false;
  }
  if (!r.ok) return false;
  cie->instructions = r;
  return true;
}

constexpr unsigned kMaxRememberedStates = 8;

// Runs a CFA program on state. With limit, stops before the row that starts past `limit`
// (the call instruction's last byte); loc is the address of the current row.
bool run_cfa_program(Reader r, const Cie& cie, const CfaState& initial, CfaState* state, uintptr_t loc,
                     uintptr_t limit) {
  CfaState remembered[kMaxRememberedStates];
  unsigned depth = 0;
  const auto register_rule = [&](uint64_t reg) -> RegisterRule* {
    if (reg == kRegRbp) return &state->rbp;
    if (reg == kRegReturnAddress) return &state->return_address;
    return nullptr;  // a register the unwinder does not follow
  };
  const auto advance = [&](uint64_t delta) {
    loc += delta * cie.code_alignment;
    return loc <= limit;
  };
  while (r.p < r.end) {
    const uint8_t op = r.u8();
    const uint8_t operand = op & 0x3f;
    switch (op >> 6) {
      case 1:  // DW_CFA_advance_loc
        if (!advance(operand)) return true;
        continue;
      case 2:  // DW_CFA_offset
        if (RegisterRule* rule = register_rule(operand)) *rule = {Saved::kAtOffset, int64_t(r.uleb()) * cie.data_alignment};
        else r.uleb();
        continue;
      case 3:  // DW_CFA_restore
        if (RegisterRule* rule = register_rule(operand)) *rule = operand == kRegRbp ? initial.rbp : initial.return_address;
        continue;
      default: break;
    }
    switch (op) {
      case 0x00: break;                                           // nop
      case 0x02: if (!advance(r.u8())) return true; break;        // advance_loc1
      case 0x03: if (!advance(r.fixed<uint16_t>())) return true; break;
      case 0x04: if (!advance(r.fixed<uint32_t>())) return true; break;
      case 0x05: case 0x11: case 0x2f: {                           // offset_extended(_sf), GNU_negative
        const uint64_t reg = r.uleb();
        const int64_t factored = op == 0x11 ? r.sleb() : int64_t(r.uleb());
        const int64_t offset = (op == 0x2f ? -factored : factored) * cie.data_alignment;
        if (RegisterRule* rule = register_rule(reg)) *rule = {Saved::kAtOffset, offset};
        break;
      }
      case 0x06: {  // restore_extended
        const uint64_t reg = r.uleb();
        if (RegisterRule* rule = register_rule(reg)) *rule = reg == kRegRbp ? initial.rbp : initial.return_address;
        break;
      }
      case 0x07: case 0x08: {  // undefined, same_value
        if (RegisterRule* rule = register_rule(r.uleb())) *rule = {op == 0x07 ? Saved::kUndefined : Saved::kSame, 0};
        break;
      }
      case 0x09: {  // register: the value is in another register
        if (RegisterRule* rule = register_rule(r.uleb())) rule->how = Saved::kOther;
        r.uleb();
        break;
      }
      case 0x0a:  // remember_state
        if (depth == kMaxRememberedStates) return false;
        remembered[depth++] = *state;
        break;
      case 0x0b: {  // restore_state: the whole row, CFA rule included, as libgcc restores it
        if (depth == 0) return false;
        *state = remembered[--depth];
        break;
      }
      case 0x0c: case 0x12:  // def_cfa, def_cfa_sf
        state->cfa_register = unsigned(r.uleb());
        state->cfa_offset = op == 0x12 ? r.sleb() * cie.data_alignment : int64_t(r.uleb());
        state->cfa_expression = false;
        break;
      case 0x0d:  // def_cfa_register
        state->cfa_register = unsigned(r.uleb());
        state->cfa_expression = false;
        break;
      case 0x0e: state->cfa_offset = int64_t(r.uleb()); break;                     // def_cfa_offset
      case 0x13: state->cfa_offset = r.sleb() * cie.data_alignment; break;         // def_cfa_offset_sf
      case 0x0f: state->cfa_expression = true; r.skip(r.uleb()); break;            // def_cfa_expression
      case 0x10: case 0x16: {  // expression, val_expression
        if (RegisterRule* rule = register_rule(r.uleb())) rule->how = Saved::kOther;
        r.skip(r.uleb());
        break;
      }
      case 0x14: case 0x15: {  // val_offset(_sf): the value is CFA + offset, not stored there
        if (RegisterRule* rule = register_rule(r.uleb())) rule->how = Saved::kOther;
        if (op == 0x15) r.sleb();
        else r.uleb();
        break;
      }
      case 0x2e: r.uleb(); break;  // GNU_args_size
      default: return false;       // set_loc and anything unknown
    }
    if (!r.ok) return false;
  }
  return r.ok;
}

FrameRule rule_from(const CfaState& state) {
  FrameRule rule;
  if (state.return_address.how == Saved::kUndefined) {
    rule.kind = FrameRule::kOutermost;
    return rule;
  }
  if (state.cfa_expression || (state.cfa_register != kRegRsp && state.cfa_register != kRegRbp)) return rule;
  if (state.cfa_offset < 0 || state.cfa_offset >= (int64_t(1) << 21)) return rule;
  if (state.return_address.how != Saved::kAtOffset) return rule;
  const auto slot = [](int64_t offset, int8_t* out) {
    if (offset % 8 != 0 || offset >= 0 || offset < -8 * 127) return false;
    *out = int8_t(offset / 8);
    return true;
  };
  if (!slot(state.return_address.offset, &rule.ra_slot)) return rule;
  if (state.rbp.how == Saved::kAtOffset) {
    if (!slot(state.rbp.offset, &rule.rbp_slot)) return rule;
  } else if (state.rbp.how != Saved::kSame) {
    return rule;
  }
  rule.cfa_from_rbp = state.cfa_register == kRegRbp;
  rule.cfa_offset = uint32_t(state.cfa_offset);
  rule.kind = FrameRule::kStep;
  return rule;
}

// --- the table (cfi_rules.hpp, detail) ---------------------------------------------------------
uint64_t pack(const FrameRule& rule, uint64_t check) {
  return uint64_t(rule.kind + 1) | uint64_t(rule.cfa_from_rbp) << 2 | uint64_t(uint8_t(rule.rbp_slot)) << 3 |
         uint64_t(uint8_t(rule.ra_slot)) << 11 | uint64_t(rule.cfa_offset) << 19 | check << 40;
}

constinit std::atomic<uint64_t> g_decoded{0};

}  // namespace

FrameRule decode_frame_rule(uintptr_t pc) {
  g_decoded.fetch_add(1, std::memory_order_relaxed);
  if (pc < 2) return {};
  memf_dwarf_eh_bases bases{};
  const auto* fde = static_cast<const uint8_t*>(_Unwind_Find_FDE(reinterpret_cast<void*>(pc - 1), &bases));
  if (fde == nullptr) return {};
  Reader r{fde, fde + 8};
  const uint32_t length = r.fixed<uint32_t>();
  if (!r.ok || length == 0xffffffffu || length < 4) return {};
  r.end = fde + 4 + length;
  const uint8_t* cie_pointer_field = r.p;
  const uint32_t cie_offset = r.fixed<uint32_t>();
  Cie cie;
  if (!r.ok || !parse_cie(cie_pointer_field - cie_offset, &cie) || cie.signal_frame) return {};
  // pc_begin (bases.func says where the function starts) and pc_range: skipped by their size.
  if (!r.skip_encoded(cie.fde_encoding) || !r.skip_encoded(cie.fde_encoding & 0x0f)) return {};
  if (cie.has_augmentation_data) r.skip(r.uleb());
  if (!r.ok) return {};
  CfaState initial;
  if (!run_cfa_program(cie.instructions, cie, CfaState{}, &initial, 0, UINTPTR_MAX)) return {};
  CfaState state = initial;
  if (!run_cfa_program(r, cie, initial, &state, reinterpret_cast<uintptr_t>(bases.func), pc - 1)) return {};
  return rule_from(state);
}

namespace detail {

constinit std::atomic<FrameRuleSlot*> g_frame_rules{nullptr};
constinit std::atomic<uint64_t> g_frame_rule_generation{1};

FrameRule cached_frame_rule_miss(uintptr_t pc) {
  FrameRuleSlot* table = g_frame_rules.load(std::memory_order_acquire);
  if (table == nullptr) {
    constexpr size_t kBytes = kFrameRuleSlots * sizeof(FrameRuleSlot);
    auto* fresh = static_cast<FrameRuleSlot*>(os::reserve(kBytes));  // zero: every slot empty
    if (fresh == nullptr) return decode_frame_rule(pc);
    if (g_frame_rules.compare_exchange_strong(table, fresh, std::memory_order_acq_rel)) table = fresh;
    else os::unmap(fresh, kBytes);
  }
  const uint64_t hash = frame_rule_hash(pc);
  const uint64_t check = frame_rule_check(hash, g_frame_rule_generation.load(std::memory_order_relaxed));
  const FrameRule rule = decode_frame_rule(pc);
  // The group's slot for pc: the one it had (an entry of an older generation), else an empty one,
  // else one picked by the hash's bits above the group index.
  FrameRuleSlot* group = table + (hash & (kFrameRuleSlots - 1) & ~(kFrameRuleWays - 1));
  FrameRuleSlot* slot = &group[(hash >> 20) & (kFrameRuleWays - 1)];
  for (size_t way = 0; way < kFrameRuleWays; ++way) {
    const uintptr_t held = group[way].pc.load(std::memory_order_relaxed);
    if (held == pc) {
      slot = &group[way];
      break;
    }
    if (held == 0) slot = &group[way];
  }
  slot->word.store(pack(rule, check), std::memory_order_relaxed);
  slot->pc.store(pc, std::memory_order_release);
  return rule;
}

void thread_frame_rules_reset(ThreadFrameRules& rules, uint64_t generation) {
  for (auto& entry : rules.entries) entry.pc = 0;
  rules.generation = generation;
}

}  // namespace detail

void forget_frame_rules() { detail::g_frame_rule_generation.fetch_add(1, std::memory_order_relaxed); }

uint64_t frame_rules_decoded() { return g_decoded.load(std::memory_order_relaxed); }

}  // namespace memf
