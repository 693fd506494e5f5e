// Modules the program unloaded with dlclose, remembered so that stacks captured while they were
// loaded still name them: where they were mapped and which file they came from.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memf {

constexpr size_t kMaxModulePath = 496;

struct UnloadedModule {
  uintptr_t bias;         // load bias (link_map's l_addr): pc - bias is the ELF address
  uintptr_t begin, end;   // the extent of its PT_LOAD segments in this process
  char path[kMaxModulePath];
};

// memf's dlclose (interpose/ exports it): closes handle with the dlclose memf's own definition
// hides, and records every module that the call unmapped (the handle's and dependencies that
// went with it). Returns what that dlclose returned.
int close_module(void* handle);

// The most recently unloaded module whose extent holds pc; false when none. The records are
// kept in a ring of kMaxUnloadedModules (the oldest are forgotten).
constexpr size_t kMaxUnloadedModules = 128;
bool find_unloaded_module(uintptr_t pc, UnloadedModule* out);

// How many modules have been recorded since start-up (including forgotten ones).
uint64_t unloaded_module_count();

}  // namespace memf
