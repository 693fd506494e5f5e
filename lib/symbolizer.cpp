#include "symbolizer.hpp"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace memf {
namespace {

const Dwfl_Callbacks kCallbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,  // .gnu_debuglink and build-id under /usr/lib/debug
    .section_address = nullptr,
    .debuginfo_path = nullptr,
};

// One per process. libdw keeps every module's ELF and DWARF open once read (its per-module
// cache); results are also cached per pc, since a report names the same frames many times.
class Symbolizer {
 public:
  ~Symbolizer() { reset(); }

  // Copies the first max frames at pc (innermost first), or with physical_only just the last.
  unsigned lookup(uintptr_t pc, PcKind kind, SymbolizedFrame* out, unsigned max, bool physical_only) {
    std::lock_guard<std::mutex> guard(mutex_);
    const uint64_t key = uint64_t(pc) << 1 | (kind == PcKind::kExact);
    auto cached = cache_.find(key);
    if (cached == cache_.end()) cached = cache_.emplace(key, resolve(pc, kind)).first;
    const std::vector<SymbolizedFrame>& frames = cached->second;
    if (max == 0) return 0;
    if (frames.empty()) {  // in no module
      *out = SymbolizedFrame{};
      out->pc = pc;
      return 0;
    }
    if (physical_only) {
      *out = frames.back();
      return 1;
    }
    unsigned n = 0;
    for (; n < max && n < frames.size(); ++n) out[n] = frames[n];
    return n;
  }

  void reset() {
    std::lock_guard<std::mutex> guard(mutex_);
    if (dwfl_ != nullptr) dwfl_end(dwfl_);
    dwfl_ = nullptr;
    cache_.clear();
    strings_.clear();
  }

 private:
  const char* intern(const char* s) { return s == nullptr ? nullptr : strings_.emplace(s).first->c_str(); }

  const char* intern_demangled(const char* name) {
    if (name == nullptr) return nullptr;
    int status = 0;
    char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    const char* result = intern(status == 0 && demangled != nullptr ? demangled : name);
    free(demangled);
    return result;
  }

  // Reads the module list from /proc/self/maps (again: modules dlopen'ed since are added).
  bool report_modules() {
    if (dwfl_ == nullptr) {
      dwfl_ = dwfl_begin(&kCallbacks);
      if (dwfl_ == nullptr) return false;
      dwfl_report_begin(dwfl_);
    } else {
      dwfl_report_begin_add(dwfl_);
    }
    const int error = dwfl_linux_proc_report(dwfl_, getpid());
    dwfl_report_end(dwfl_, nullptr, nullptr);
    return error == 0;
  }

  Dwfl_Module* module_of(uintptr_t address) {
    if (dwfl_ == nullptr && !report_modules()) return nullptr;
    Dwfl_Module* module = dwfl_addrmodule(dwfl_, address);
    if (module == nullptr && report_modules()) module = dwfl_addrmodule(dwfl_, address);
    return module;
  }

  // A subprogram's or inlined call's name: the mangled linkage name where there is one (it
  // carries the class, namespace and parameters), else the plain name.
  const char* die_name(Dwarf_Die* die) {
    Dwarf_Attribute attribute;
    for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name})
      if (dwarf_attr_integrate(die, at, &attribute) != nullptr)
        if (const char* linkage = dwarf_formstring(&attribute)) return intern_demangled(linkage);
    if (dwarf_attr_integrate(die, DW_AT_name, &attribute) != nullptr)
      if (const char* name = dwarf_formstring(&attribute)) return intern(name);
    return "?";
  }

  std::vector<SymbolizedFrame> resolve(uintptr_t pc, PcKind kind) {
    std::vector<SymbolizedFrame> frames;
    const uintptr_t address = kind == PcKind::kReturnAddress && pc > 0 ? pc - 1 : pc;
    Dwfl_Module* module = module_of(address);
    if (module == nullptr) return frames;

    SymbolizedFrame base;
    base.pc = pc;
    Dwarf_Addr start = 0;
    const char* module_name = dwfl_module_info(module, nullptr, &start, nullptr, nullptr, nullptr, nullptr, nullptr);
    base.module = intern(module_name != nullptr ? module_name : "?");
    GElf_Addr bias = 0;
    base.offset = dwfl_module_getelf(module, &bias) != nullptr ? pc - bias : pc - start;

    GElf_Off symbol_offset = 0;
    GElf_Sym symbol;
    const char* symbol_name = dwfl_module_addrinfo(module, address, &symbol_offset, &symbol, nullptr, nullptr, nullptr);
    const char* physical_name = symbol_name != nullptr ? intern_demangled(symbol_name) : nullptr;

    // The innermost source position, from the line table.
    const char* file = nullptr;
    int line = 0, column = 0;
    if (Dwfl_Line* source = dwfl_module_getsrc(module, address))
      file = intern(dwfl_lineinfo(source, nullptr, &line, &column, nullptr, nullptr));

    // Inline scopes, innermost first: each inlined_subroutine is a frame at the current
    // position, whose call site (DW_AT_call_file/line) is the position in the next one out.
    Dwarf_Addr dwarf_bias = 0;
    if (Dwarf_Die* cu = dwfl_module_addrdie(module, address, &dwarf_bias)) {
      Dwarf_Die* scopes = nullptr;
      const int count = dwarf_getscopes(cu, address - dwarf_bias, &scopes);
      Dwarf_Files* files = nullptr;
      size_t file_count = 0;
      if (dwarf_getsrcfiles(cu, &files, &file_count) != 0) files = nullptr;
      for (int i = 0; i < count; ++i) {
        const int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) continue;
        SymbolizedFrame frame = base;
        frame.file = file;
        frame.line = unsigned(line);
        frame.column = unsigned(column);
        if (tag == DW_TAG_subprogram) {
          frame.function = physical_name != nullptr ? physical_name : die_name(&scopes[i]);
          frames.push_back(frame);
          break;
        }
        frame.function = die_name(&scopes[i]);
        frame.inlined = true;
        frames.push_back(frame);
        Dwarf_Attribute attribute;
        Dwarf_Word value = 0;
        file = nullptr;
        if (files != nullptr && dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attribute), &value) == 0)
          file = intern(dwarf_filesrc(files, value, nullptr, nullptr));
        line = dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attribute), &value) == 0 ? int(value) : 0;
        column = dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_column, &attribute), &value) == 0 ? int(value) : 0;
      }
      free(scopes);
      // Inlined frames without their subprogram (no DIE for it): close with the ELF symbol.
      if (!frames.empty() && frames.back().inlined) {
        SymbolizedFrame frame = base;
        frame.function = physical_name != nullptr ? physical_name : "?";
        frame.file = file;
        frame.line = unsigned(line);
        frame.column = unsigned(column);
        frames.push_back(frame);
      }
    }
    if (frames.empty()) {  // no DWARF for pc: the symbol table and whatever the line table said
      SymbolizedFrame frame = base;
      frame.function = physical_name != nullptr ? physical_name : "?";
      frame.file = file;
      frame.line = unsigned(line);
      frame.column = unsigned(column);
      frames.push_back(frame);
    }
    return frames;
  }

  std::mutex mutex_;
  Dwfl* dwfl_ = nullptr;
  std::unordered_map<uint64_t, std::vector<SymbolizedFrame>> cache_;
  std::unordered_set<std::string> strings_;  // node-based: c_str() pointers stay put
};

Symbolizer& instance() {
  static Symbolizer symbolizer;
  return symbolizer;
}

}  // namespace

bool symbolize(uintptr_t pc, SymbolizedFrame* out, PcKind kind) {
  return instance().lookup(pc, kind, out, 1, true) == 1;
}

unsigned symbolize_inlined(uintptr_t pc, SymbolizedFrame* out, unsigned max, PcKind kind) {
  return instance().lookup(pc, kind, out, max, false);
}

void symbolizer_reset() { instance().reset(); }

}  // namespace memf
