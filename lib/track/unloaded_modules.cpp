#include "unloaded_modules.hpp"

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "cfi_rules.hpp"
#include "mapped_array.hpp"
#include "spin_lock.hpp"

namespace memf {
namespace {

constinit SpinLock g_lock;
constinit UnloadedModule g_ring[kMaxUnloadedModules] = {};
constinit uint64_t g_recorded = 0;  // g_ring[(g_recorded - 1) % size] is the newest

using Dlclose = int (*)(void*);
constinit std::atomic<Dlclose> g_real_dlclose{nullptr};

// The next definition of dlclose after memf's own: libc's. Looked up on the first call, which is
// a program's dlclose, never inside malloc (dlsym may allocate).
Dlclose real_dlclose() {
  Dlclose real = g_real_dlclose.load(std::memory_order_acquire);
  if (real) return real;
  real = reinterpret_cast<Dlclose>(dlsym(RTLD_NEXT, "dlclose"));
  g_real_dlclose.store(real, std::memory_order_release);
  return real;
}

struct Snapshot {
  MappedArray<UnloadedModule> modules;
  size_t count = 0;
};

int add_loaded(dl_phdr_info* info, size_t, void* context) {
  Snapshot& snapshot = *static_cast<Snapshot*>(context);
  // The executable and the vDSO have no path of their own and are never unloaded.
  if (info->dlpi_name == nullptr || info->dlpi_name[0] == '\0') return 0;
  if (snapshot.count == snapshot.modules.capacity && !snapshot.modules.grow(snapshot.count + 1)) return 1;
  UnloadedModule& m = snapshot.modules[snapshot.count];
  m.bias = info->dlpi_addr;
  m.begin = UINTPTR_MAX;
  m.end = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& h = info->dlpi_phdr[i];
    if (h.p_type != PT_LOAD) continue;
    m.begin = std::min<uintptr_t>(m.begin, info->dlpi_addr + h.p_vaddr);
    m.end = std::max<uintptr_t>(m.end, info->dlpi_addr + h.p_vaddr + h.p_memsz);
  }
  if (m.end <= m.begin) return 0;
  strncpy(m.path, info->dlpi_name, sizeof m.path - 1);
  m.path[sizeof m.path - 1] = '\0';
  ++snapshot.count;
  return 0;
}

bool take_snapshot(Snapshot* snapshot) {
  if (!snapshot->modules.map(64)) return false;
  dl_iterate_phdr(add_loaded, snapshot);
  return true;
}

bool same_module(const UnloadedModule& a, const UnloadedModule& b) {
  return a.bias == b.bias && a.begin == b.begin && strcmp(a.path, b.path) == 0;
}

void record(const UnloadedModule& module) {
  LockGuard guard(g_lock);
  g_ring[g_recorded % kMaxUnloadedModules] = module;
  ++g_recorded;
}

}  // namespace

int close_module(void* handle) {
  const Dlclose real = real_dlclose();
  if (!real) return -1;
  // The modules loaded before and after: those that went are recorded. (Usually nothing goes:
  // a handle's reference count, or a module another one still needs, keeps it mapped.)
  Snapshot before, after;
  const bool known = take_snapshot(&before);
  const int result = real(handle);
  bool unloaded = !known;
  if (known && take_snapshot(&after)) {
    for (size_t i = 0; i < before.count; ++i) {
      bool still_loaded = false;
      for (size_t j = 0; j < after.count && !still_loaded; ++j) still_loaded = same_module(before.modules[i], after.modules[j]);
      if (!still_loaded) record(before.modules[i]), unloaded = true;
    }
  }
  // The precise unwinder's rules for the code that went no longer hold at its addresses.
  if (unloaded) forget_frame_rules();
  before.modules.unmap();
  after.modules.unmap();
  return result;
}

bool find_unloaded_module(uintptr_t pc, UnloadedModule* out) {
  LockGuard guard(g_lock);
  const uint64_t kept = std::min<uint64_t>(g_recorded, kMaxUnloadedModules);
  for (uint64_t k = 0; k < kept; ++k) {
    const UnloadedModule& m = g_ring[(g_recorded - 1 - k) % kMaxUnloadedModules];
    if (pc >= m.begin && pc < m.end) {
      *out = m;
      return true;
    }
  }
  return false;
}

uint64_t unloaded_module_count() {
  LockGuard guard(g_lock);
  return g_recorded;
}

}  // namespace memf
