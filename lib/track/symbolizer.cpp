#include "symbolizer.hpp"

#include <new>

#include <cxxabi.h>
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "auxv.hpp"
#include "debug_cache.hpp"
#include "debug_files.hpp"
#include "fork.hpp"
#include "module_maps.hpp"
#include "unloaded_modules.hpp"

namespace memf {
namespace {

// libdw is loaded when the first address is symbolized, not linked: memf is preloaded into every
// process it runs, most of which never print a stack, and libdw brings five more libraries
// (libelf, libz, liblzma, libbz2, libzstd) and their symbols into the global scope. Without
// libdw.so.1 the symbolizer falls back to dladdr (exported symbols, module and offset only).
struct Libdw {
#define MEMF_LIBDW_FUNCTIONS(X)                                                                      \
  X(dwfl_begin) X(dwfl_end) X(dwfl_report_begin) X(dwfl_report_begin_add) X(dwfl_report_end)        \
  X(dwfl_linux_proc_maps_report) X(dwfl_report_elf) X(dwfl_linux_proc_find_elf)                     \
  X(dwfl_standard_find_debuginfo) X(dwfl_build_id_find_debuginfo)                                   \
  X(dwfl_module_build_id) X(dwfl_addrmodule) X(dwfl_module_info) X(dwfl_module_getelf)              \
  X(dwfl_module_getsymtab) X(dwfl_module_getsym_info)                                               \
  X(dwfl_module_getsrc) X(dwfl_lineinfo) X(dwfl_module_addrdie) X(dwarf_getscopes)                  \
  X(dwarf_getscopes_die) X(dwarf_getsrcfiles) X(dwarf_filesrc) X(dwarf_tag) X(dwarf_attr) X(dwarf_attr_integrate) \
  X(dwarf_formstring) X(dwarf_formudata)
#define MEMF_LIBDW_POINTER(name) decltype(&::name) name = nullptr;
  MEMF_LIBDW_FUNCTIONS(MEMF_LIBDW_POINTER)
#undef MEMF_LIBDW_POINTER

  bool load() {
    void* handle = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) return false;
    bool complete = true;
#define MEMF_LIBDW_RESOLVE(name) \
  complete = complete && (name = reinterpret_cast<decltype(&::name)>(dlsym(handle, #name))) != nullptr;
    MEMF_LIBDW_FUNCTIONS(MEMF_LIBDW_RESOLVE)
#undef MEMF_LIBDW_RESOLVE
    if (!complete) dlclose(handle);
    return complete;
  }
};

// libdw's lookups of separate debug files, set when libdw is loaded.
decltype(&::dwfl_standard_find_debuginfo) g_standard_lookup = nullptr;
decltype(&::dwfl_build_id_find_debuginfo) g_build_id_lookup = nullptr;
decltype(&::dwfl_module_build_id) g_module_build_id = nullptr;

// The module's build-id in hex, or "" without one.
std::string module_build_id(Dwfl_Module* module) {
  const unsigned char* bits = nullptr;
  GElf_Addr address = 0;
  const int length = g_module_build_id(module, &bits, &address);
  return length > 0 ? build_id_hex(bits, size_t(length)) : std::string();
}

// The copies' directory, read once (callers hold the symbolizer's mutex). Kept in a plain array,
// not a static std::string: exit runs static destructors while exact mode's warm-up thread may
// still be in a lookup, and it then read a destroyed string (the copy it had just written was
// judged foreign and removed).
constinit char g_cache_directory[512] = {};
constinit bool g_cache_directory_read = false;

const char* cache_directory() {
  if (!g_cache_directory_read) {
    const std::string directory = debug_cache_directory();
    if (directory.size() < sizeof g_cache_directory) memcpy(g_cache_directory, directory.c_str(), directory.size() + 1);
    g_cache_directory_read = true;
  }
  return g_cache_directory;
}

// The find_debuginfo callback: libdw's standard lookup when debuginfod servers are set (it asks
// them last); otherwise the same local lookups without the load of libdebuginfod that the
// standard one makes whatever the environment (debug_files.hpp). A compressed debug file is
// replaced by its decompressed copy (debug_cache.hpp), made on the first report that reads it:
// looked up before libdw's build-id lookup, which installs the file it finds in the module.
int find_debug_file(Dwfl_Module* module, void** userdata, const char* module_name, Dwarf_Addr base,
                    const char* file_name, const char* link, GElf_Word crc, char** found) {
  const std::string cache = cache_directory();
  const std::string id = cache.empty() ? std::string() : module_build_id(module);
  if (!id.empty()) {
    int fd = open_decompressed_copy(cache, id, found);
    if (fd < 0) fd = open_build_id_debug_file(id, found);
    if (fd >= 0) return decompressed_debug_file(fd, id, cache, found);
  }
  // What these two find by build-id they install in the module themselves.
  if (debuginfod_servers_set())
    return g_standard_lookup(module, userdata, module_name, base, file_name, link, crc, found);
  const int fd = g_build_id_lookup(module, userdata, module_name, base, file_name, link, crc, found);
  if (fd >= 0) return fd;
  return decompressed_debug_file(open_debuglink_file(file_name, link, crc, found), id, cache, found);
}

// One per process. libdw keeps every module's ELF and DWARF open once read (its per-module
// cache); results are also cached per pc, since a report names the same frames many times.
class Symbolizer {
 public:
  ~Symbolizer() { reset(); }

  // Copies the first max frames at pc (innermost first), or with physical_only just the last.
  unsigned lookup(uintptr_t pc, PcKind kind, SymbolizedFrame* out, unsigned max, bool physical_only) {
    std::lock_guard<std::mutex> guard(mutex_);
    // A module unloaded since the results were cached may have left its addresses to another
    // (the loader reuses them): every cached result may be stale then.
    const unsigned long long unloads = unloads_so_far();
    if (unloads != cache_unloads_) {
      cache_.clear();
      cache_unloads_ = unloads;
    }
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

  size_t cached() {
    std::lock_guard<std::mutex> guard(mutex_);
    return cache_.size();
  }
  // The mutex every lookup holds, for fork and for tests (symbolizer_while_busy).
  void lock() { mutex_.lock(); }
  bool try_lock() { return mutex_.try_lock(); }
  void unlock() { mutex_.unlock(); }

  void reset() {
    std::lock_guard<std::mutex> guard(mutex_);
    if (dwfl_ != nullptr) dw_.dwfl_end(dwfl_);
    dwfl_ = nullptr;
    cache_.clear();
    symbols_.clear();
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

  bool have_libdw() {
    if (libdw_state_ == 0) {
      libdw_state_ = dw_.load() ? 1 : 2;
      callbacks_.find_elf = dw_.dwfl_linux_proc_find_elf;
      // build-id files under /usr/lib/debug (Debian's -dbg/-dbgsym packages), .gnu_debuglink.
      g_standard_lookup = dw_.dwfl_standard_find_debuginfo;
      g_build_id_lookup = dw_.dwfl_build_id_find_debuginfo;
      g_module_build_id = dw_.dwfl_module_build_id;
      callbacks_.find_debuginfo = find_debug_file;
    }
    return libdw_state_ == 1;
  }

  static int count_unloads(dl_phdr_info* info, size_t size, void* context) {
    if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
      *static_cast<unsigned long long*>(context) = info->dlpi_subs;
    return 1;  // the counter is the same in every entry
  }
  static unsigned long long unloads_so_far() {
    unsigned long long unloads = 0;
    dl_iterate_phdr(count_unloads, &unloads);
    return unloads;
  }

  // Reads the module list from /proc/self/maps (again: modules dlopen'ed since are added). When
  // a module was unloaded since the last reading, the list is read afresh: another module may
  // now sit at its addresses (lookup has dropped the cached results for the same reason).
  bool report_modules() {
    const unsigned long long unloads = unloads_so_far();
    if (dwfl_ == nullptr) {
      dwfl_ = dw_.dwfl_begin(&callbacks_);
      if (dwfl_ == nullptr) return false;
      dw_.dwfl_report_begin(dwfl_);
    } else if (unloads != unloads_seen_) {
      symbols_.clear();  // keyed by modules, which this report may free
      dw_.dwfl_report_begin(dwfl_);
    } else {
      dw_.dwfl_report_begin_add(dwfl_);
    }
    unloads_seen_ = unloads;
    // The loader's modules only: not the files libdw itself has mapped (module_maps.hpp).
    const std::string maps = loaded_module_maps();
    FILE* lines = maps.empty() ? nullptr : fmemopen(const_cast<char*>(maps.data()), maps.size(), "r");
    const int error = lines != nullptr ? dw_.dwfl_linux_proc_maps_report(dwfl_, lines) : -1;
    if (lines != nullptr) fclose(lines);
    dw_.dwfl_report_end(dwfl_, nullptr, nullptr);
    return error == 0;
  }

  // A module the program has unloaded (dlclose), reported from its file at its old address,
  // where no loaded module is now (module_of asks only then).
  bool report_unloaded(const UnloadedModule& m) {
    dw_.dwfl_report_begin_add(dwfl_);
    Dwfl_Module* module = dw_.dwfl_report_elf(dwfl_, m.path, m.path, -1, m.bias, false);
    dw_.dwfl_report_end(dwfl_, nullptr, nullptr);
    return module != nullptr;
  }

  // The module whose extent holds address, or nullptr. dwfl_addrmodule alone can answer with
  // the module below a gap for an address in the gap (where a library loaded since the last
  // reading of the module list now sits), so its answer is checked.
  Dwfl_Module* module_holding(uintptr_t address) {
    Dwfl_Module* module = dw_.dwfl_addrmodule(dwfl_, address);
    Dwarf_Addr start = 0, end = 0;
    if (module == nullptr || dw_.dwfl_module_info(module, nullptr, &start, &end, nullptr, nullptr, nullptr, nullptr) == nullptr)
      return nullptr;
    return start <= address && address < end ? module : nullptr;
  }

  Dwfl_Module* module_of(uintptr_t address) {
    // A module known from before an unload may be gone, its addresses now another's.
    if ((dwfl_ == nullptr || unloads_so_far() != unloads_seen_) && !report_modules()) return nullptr;
    Dwfl_Module* module = module_holding(address);
    if (module == nullptr && report_modules()) module = module_holding(address);
    UnloadedModule unloaded;
    if (module == nullptr && find_unloaded_module(address, &unloaded) && report_unloaded(unloaded))
      module = module_holding(address);
    return module;
  }

  // A subprogram's or inlined call's name: the mangled linkage name where there is one (it
  // carries the class, namespace and parameters), else the plain name.
  const char* die_name(Dwarf_Die* die) {
    Dwarf_Attribute attribute;
    for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name})
      if (dw_.dwarf_attr_integrate(die, at, &attribute) != nullptr)
        if (const char* linkage = dw_.dwarf_formstring(&attribute)) return intern_demangled(linkage);
    if (dw_.dwarf_attr_integrate(die, DW_AT_name, &attribute) != nullptr)
      if (const char* name = dw_.dwarf_formstring(&attribute)) return intern(name);
    return "?";
  }

  unsigned udata(Dwarf_Die* die, int name) {
    Dwarf_Attribute attribute;
    Dwarf_Word value = 0;
    return dw_.dwarf_formudata(dw_.dwarf_attr(die, name, &attribute), &value) == 0 ? unsigned(value) : 0;
  }

  std::vector<SymbolizedFrame> resolve(uintptr_t pc, PcKind kind) {
    const uintptr_t address = kind == PcKind::kReturnAddress && pc > 0 ? pc - 1 : pc;
    return have_libdw() ? resolve_libdw(pc, address) : resolve_dladdr(pc, address);
  }

  std::vector<SymbolizedFrame> resolve_libdw(uintptr_t pc, uintptr_t address) {
    std::vector<SymbolizedFrame> frames;
    Dwfl_Module* module = module_of(address);
    if (module == nullptr) return frames;

    SymbolizedFrame base;
    base.pc = pc;
    Dwarf_Addr start = 0;
    const char* module_name = dw_.dwfl_module_info(module, nullptr, &start, nullptr, nullptr, nullptr, nullptr, nullptr);
    base.module = intern(module_name != nullptr ? module_name : "?");
    GElf_Addr bias = 0;
    base.offset = dw_.dwfl_module_getelf(module, &bias) != nullptr ? pc - bias : pc - start;

    const char* symbol_name = symbol_at(module, address);
    std::string unversioned;  // "__libc_start_main@@GLIBC_2.34": the version is not the name
    if (symbol_name != nullptr) {
      if (const char* at = strchr(symbol_name, '@')) symbol_name = unversioned.assign(symbol_name, at).c_str();
    }
    const char* physical_name = symbol_name != nullptr ? intern_demangled(symbol_name) : "?";

    // The innermost source position, from the line table.
    const char* file = nullptr;
    int line = 0, column = 0;
    if (Dwfl_Line* source = dw_.dwfl_module_getsrc(module, address))
      file = intern(dw_.dwfl_lineinfo(source, nullptr, &line, &column, nullptr, nullptr));
    auto frame_here = [&](const char* function, bool inlined) {
      SymbolizedFrame frame = base;
      frame.function = function;
      frame.file = file;
      frame.line = unsigned(line > 0 ? line : 0);
      frame.column = unsigned(column > 0 ? column : 0);
      frame.inlined = inlined;
      frames.push_back(frame);
    };

    // Inline scopes, innermost first: each inlined_subroutine is a frame at the current
    // position, and its call site (DW_AT_call_file/line) is the position in the next one out.
    // dwarf_getscopes finds the innermost scope, but past an inlined instance it continues with
    // the scopes of the inlined function's definition; the concrete chain of callers is the
    // path from the CU down to that innermost DIE (dwarf_getscopes_die), as eu-addr2line -i does.
    Dwarf_Addr dwarf_bias = 0;
    if (Dwarf_Die* cu = dw_.dwfl_module_addrdie(module, address, &dwarf_bias)) {
      Dwarf_Die* scopes = nullptr;
      int count = dw_.dwarf_getscopes(cu, address - dwarf_bias, &scopes);
      if (count > 0) {
        Dwarf_Die innermost = scopes[0];
        free(scopes);
        scopes = nullptr;
        count = dw_.dwarf_getscopes_die(&innermost, &scopes);
      }
      Dwarf_Files* files = nullptr;
      size_t file_count = 0;
      if (dw_.dwarf_getsrcfiles(cu, &files, &file_count) != 0) files = nullptr;
      for (int i = 0; i < count; ++i) {
        const int tag = dw_.dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_subprogram) {
          // The ELF symbol names what the code is (and is what the linker saw); DWARF when stripped.
          frame_here(symbol_name != nullptr ? physical_name : die_name(&scopes[i]), false);
          break;
        }
        if (tag != DW_TAG_inlined_subroutine) continue;
        frame_here(die_name(&scopes[i]), true);
        const unsigned call_file = udata(&scopes[i], DW_AT_call_file);
        file = files != nullptr && call_file != 0 ? intern(dw_.dwarf_filesrc(files, call_file, nullptr, nullptr)) : nullptr;
        line = int(udata(&scopes[i], DW_AT_call_line));
        column = int(udata(&scopes[i], DW_AT_call_column));
      }
      free(scopes);
    }
    if (frames.empty()) {
      // No function DIE covers pc (code from assembly or another object, like _start): a line
      // row found for it belongs to a neighbour, so keep only the symbol.
      file = nullptr;
      line = column = 0;
      frame_here(physical_name, false);
    } else if (frames.back().inlined) {
      frame_here(physical_name, false);  // the subprogram has no DIE: close with the symbol
    }
    return frames;
  }

  // Without libdw: the dynamic symbol table through the loader (no file or line).
  std::vector<SymbolizedFrame> resolve_dladdr(uintptr_t pc, uintptr_t address) {
    std::vector<SymbolizedFrame> frames;
    Dl_info info;
    link_map* map = nullptr;
    if (dladdr1(reinterpret_cast<void*>(address), &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0) {
      UnloadedModule unloaded;
      if (find_unloaded_module(address, &unloaded)) {  // its module and offset, no symbol
        SymbolizedFrame frame;
        frame.pc = pc;
        frame.offset = pc - unloaded.bias;
        frame.module = intern(unloaded.path);
        frames.push_back(frame);
      }
      return frames;
    }
    SymbolizedFrame frame;
    frame.pc = pc;
    frame.offset = pc - (map != nullptr ? map->l_addr : uintptr_t(info.dli_fbase));
    std::string module = info.dli_fname != nullptr ? info.dli_fname : "";
    if (module.empty() || (map != nullptr && map->l_name[0] == '\0')) {  // the executable
      char path[4096];
      const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
      if (n > 0) module.assign(path, size_t(n));
    }
    frame.module = intern(module.empty() ? "?" : module.c_str());
    if (info.dli_sname != nullptr) frame.function = intern_demangled(info.dli_sname);
    frames.push_back(frame);
    return frames;
  }

  // A module's function symbols sorted by address, built on the module's first lookup:
  // dwfl_module_addrinfo scans the whole symbol table for every address (130 us a lookup in
  // libc with its debug symbols), a report looks up thousands.
  struct Symbol {
    uintptr_t start, end;  // end == start: no size recorded (assembly)
    const char* name;
  };
  static int symbol_rank(const GElf_Sym& symbol, const char* name) {
    const int binding = GELF_ST_BIND(symbol.st_info);
    int rank = binding == STB_GLOBAL ? 0 : binding == STB_WEAK ? 64 : 128;
    while (*name == '_') ++rank, ++name;  // qsort over __qsort, __GI_qsort
    return rank;
  }
  const std::vector<Symbol>& symbols_of(Dwfl_Module* module) {
    auto [it, fresh] = symbols_.try_emplace(module);
    if (!fresh) return it->second;
    struct Candidate {
      Symbol symbol;
      int rank;
    };
    std::vector<Candidate> candidates;
    const int count = dw_.dwfl_module_getsymtab(module);
    for (int i = 1; i < count; ++i) {
      GElf_Sym symbol;
      GElf_Addr address = 0;
      GElf_Word section = 0;
      const char* name = dw_.dwfl_module_getsym_info(module, i, &symbol, &address, &section, nullptr, nullptr);
      const int type = GELF_ST_TYPE(symbol.st_info);
      if (name == nullptr || *name == '\0' || section == SHN_UNDEF || (type != STT_FUNC && type != STT_GNU_IFUNC))
        continue;
      candidates.push_back({{uintptr_t(address), uintptr_t(address + symbol.st_size), name}, symbol_rank(symbol, name)});
    }
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
      return a.symbol.start != b.symbol.start ? a.symbol.start < b.symbol.start : a.rank < b.rank;
    });
    std::vector<Symbol>& table = it->second;
    for (const Candidate& c : candidates)  // one name per address: the best ranked alias
      if (table.empty() || table.back().start != c.symbol.start) table.push_back(c.symbol);
    return table;
  }
  // The function symbol containing address, else the nearest sizeless one below it; nullptr.
  const char* symbol_at(Dwfl_Module* module, uintptr_t address) {
    const std::vector<Symbol>& table = symbols_of(module);
    auto after = std::upper_bound(table.begin(), table.end(), address,
                                  [](uintptr_t a, const Symbol& symbol) { return a < symbol.start; });
    for (auto at = after; at != table.begin();) {
      --at;
      if (address < at->end) return at->name;
      if (at->end == at->start && at + 1 == after) return at->name;  // assembly without a size
      if (after - at >= 8) break;  // only symbols nested in a larger one are farther back
    }
    return nullptr;
  }

  std::mutex mutex_;
  Libdw dw_;
  int libdw_state_ = 0;  // 0 not tried, 1 loaded, 2 unavailable
  Dwfl_Callbacks callbacks_{};
  Dwfl* dwfl_ = nullptr;
  unsigned long long unloads_seen_ = 0;  // dlpi_subs at the last reading of the module list
  unsigned long long cache_unloads_ = 0;  // dlpi_subs when cache_ was last found current
  std::unordered_map<uint64_t, std::vector<SymbolizedFrame>> cache_;
  std::unordered_map<Dwfl_Module*, std::vector<Symbol>> symbols_;
  std::unordered_set<std::string> strings_;  // node-based: c_str() pointers stay put
};

// Never destroyed: reports are written from atexit handlers, some of which run after the
// destructors of function-local statics created later than they were registered.
alignas(Symbolizer) unsigned char g_storage[sizeof(Symbolizer)];
constinit bool g_locked_for_fork = false;

// Another thread (exact mode's warm-up thread, or the service thread answering a dump) may be
// inside libdw when the program forks; the child has no such thread, and its copy of the
// symbolizer may be half updated. So fork only tries the mutex: taken, the child's copy is
// whole and kept; busy, the child leaves it (and what it owns) untouched and starts a fresh one.
void fork_prepare();
void fork_parent();
void fork_child();

Symbolizer& instance() {
  static Symbolizer* symbolizer = [] {
    Symbolizer* made = new (g_storage) Symbolizer();
    fork_register(kForkSymbolizer, {fork_prepare, fork_parent, fork_child});
    return made;
  }();
  return *symbolizer;
}

Symbolizer& constructed() { return *std::launder(reinterpret_cast<Symbolizer*>(g_storage)); }

void fork_prepare() { g_locked_for_fork = constructed().try_lock(); }
void fork_parent() {
  if (g_locked_for_fork) constructed().unlock();
}
void fork_child() {
  if (g_locked_for_fork) constructed().unlock();
  else new (g_storage) Symbolizer();
}

}  // namespace

void symbolizer_warm_up() {
  SymbolizedFrame frames[kMaxInlinedFrames];
  // libc: its own allocations (stdio buffers, strdup) are on exact mode's stacks.
  symbolize_inlined(reinterpret_cast<uintptr_t>(&::abort) + 1, frames, kMaxInlinedFrames);
  // The program: every stack from main on.
  if (const uintptr_t entry = auxv::entry_point()) symbolize_inlined(entry + 1, frames, kMaxInlinedFrames);
}

bool symbolize(uintptr_t pc, SymbolizedFrame* out, PcKind kind) {
  return instance().lookup(pc, kind, out, 1, true) == 1;
}

unsigned symbolize_inlined(uintptr_t pc, SymbolizedFrame* out, unsigned max, PcKind kind) {
  return instance().lookup(pc, kind, out, max, false);
}

void symbolizer_reset() { instance().reset(); }

size_t symbolizer_cached_addresses() { return instance().cached(); }

void symbolizer_while_busy(void (*hold)(void*), void* arg) {
  std::lock_guard<Symbolizer> guard(instance());
  hold(arg);
}

}  // namespace memf
