// What MemoryPool and VariablePool share: the registry of live pools (for shrinkAllPools) and
// the misuse report.
#pragma once
#include <cstddef>
#include <cstdint>

#include "platform.hpp"

namespace memf {

// One per live pool, linked into the registry from construction to destruction.
struct PoolNode {
  PoolNode* prev = nullptr;
  PoolNode* next = nullptr;
  size_t (*shrink)(void* self) = nullptr;  // returns the bytes given back
  void* self = nullptr;
  SpinLock* lock = nullptr;  // the pool's lock, taken across fork()
};

void pool_registry_add(PoolNode* node);
void pool_registry_remove(PoolNode* node);

// Writes line[0, length) followed by the MEMF_ON_ERROR suffix as one line on stderr, then aborts
// or returns. line must have room for 48 more bytes.
void pool_report(char* line, size_t length);

// The tracker's tag for a pool's name.
uint8_t pool_category(const char* name);

}  // namespace memf
