// memf::VariablePool: an arena of chunks (fresh mappings of 64 KiB doubling up to 4 MiB) with
// bump allocation and one free list per size class for blocks given back.
//
// Every block is counted at its size class (16-byte steps up to 1 KiB, then four classes per
// doubling up to 256 KiB); a block's class, plus one, is its state byte, one per 16-byte granule
// of its chunk, kept in a mapping of its own apart from the blocks. 0 = no live block starts
// there, which is how double frees and interior pointers are told from live blocks. Blocks above
// 256 KiB get a mapping of their own ("dedicated" chunk). Everything runs under the pool's lock.
#include <memf/memory_pool.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "config.hpp"
#include "platform.hpp"
#include "pool_registry.hpp"
#include "tracker.hpp"

namespace memf {
namespace {

constexpr size_t kGranule = 16;
constexpr unsigned kSmallClasses = 64;  // 16 .. 1024 B
constexpr unsigned kClasses = kSmallClasses + 8 * 4;  // .. 256 KiB
constexpr size_t kMaxClassBytes = size_t(256) << 10;
constexpr size_t kMinChunk = size_t(64) << 10;
constexpr size_t kMaxChunk = size_t(4) << 20;
constexpr size_t kMaxAlignment = kPageSize;

unsigned class_of(size_t size) {
  if (size <= 1024) return unsigned((std::max<size_t>(size, 1) + 15) / 16 - 1);
  const size_t s = size - 1;
  const unsigned bits = unsigned(std::bit_width(s));  // size in (2^(bits-1), 2^bits]
  return kSmallClasses + (bits - 11) * 4 + unsigned((s >> (bits - 3)) & 3);
}

size_t class_bytes(unsigned cls) {
  if (cls < kSmallClasses) return size_t(cls + 1) * 16;
  const unsigned bits = 11 + (cls - kSmallClasses) / 4;
  return size_t(5 + (cls - kSmallClasses) % 4) << (bits - 3);
}

struct FreeBlock {
  FreeBlock* next;
};

struct Chunk {
  char* base;
  size_t bytes;
  uint8_t* states;  // bytes / 16 entries; nullptr for a dedicated chunk
  size_t state_bytes;
  size_t live;  // live blocks starting in this chunk
  bool dedicated;
};

}  // namespace

struct VariablePool::Impl {
  SpinLock lock;
  std::vector<Chunk*> chunks;  // sorted by base
  Chunk* current = nullptr;    // the chunk being bumped
  Chunk* first = nullptr;      // kept by clear()
  char* bump = nullptr;
  char* bump_end = nullptr;
  FreeBlock* free[kClasses] = {};
  size_t initial_chunk = kMinChunk;
  size_t next_chunk = kMinChunk;
  size_t used_bytes = 0;
  size_t held_bytes = 0;
  size_t last_released = 0;
  uint8_t tag = 0;
  char name[kMaxCategoryName + 1] = {};
  PoolNode node;
};

namespace {

using VPool = VariablePool::Impl;

Chunk* find_chunk(VPool& pool, const void* p) {
  auto it = std::upper_bound(pool.chunks.begin(), pool.chunks.end(), p,
                             [](const void* q, const Chunk* c) { return static_cast<const char*>(q) < c->base; });
  if (it == pool.chunks.begin()) return nullptr;
  Chunk* c = *(it - 1);
  return static_cast<const char*>(p) < c->base + c->bytes ? c : nullptr;
}

Chunk* map_chunk(VPool& pool, size_t bytes, bool dedicated) {
  auto chunk = std::make_unique<Chunk>();
  chunk->bytes = round_up(bytes, kPageSize);
  chunk->base = static_cast<char*>(os::map(chunk->bytes));
  if (!chunk->base) throw std::bad_alloc();
  chunk->dedicated = dedicated;
  if (!dedicated) {
    chunk->state_bytes = round_up(chunk->bytes / kGranule, kPageSize);
    chunk->states = static_cast<uint8_t*>(os::map(chunk->state_bytes));
    if (!chunk->states) {
      os::unmap(chunk->base, chunk->bytes);
      throw std::bad_alloc();
    }
  }
  Chunk* c = chunk.get();
  pool.chunks.insert(std::upper_bound(pool.chunks.begin(), pool.chunks.end(), c,
                                      [](const Chunk* a, const Chunk* b) { return a->base < b->base; }),
                     c);
  chunk.release();
  const size_t held = c->bytes + c->state_bytes;
  pool.held_bytes += held;
  external_account(pool.tag, int64_t(held), true);
  return c;
}

// Unmaps c; the caller removes it from pool.chunks.
size_t unmap_chunk(VPool& pool, Chunk* c) {
  const size_t held = c->bytes + c->state_bytes;
  os::unmap(c->base, c->bytes);
  if (c->states) os::unmap(c->states, c->state_bytes);
  pool.held_bytes -= held;
  external_account(pool.tag, int64_t(held), false);
  if (c == pool.current) pool.current = nullptr, pool.bump = pool.bump_end = nullptr;
  if (c == pool.first) pool.first = nullptr;
  delete c;
  return held;
}

// Puts [p, p + bytes) on the free lists as blocks of the largest classes that fit.
void recycle_gap(VPool& pool, char* p, size_t bytes) {
  while (bytes >= kGranule) {
    unsigned cls = class_of(bytes);
    if (class_bytes(cls) > bytes) --cls;
    auto* block = reinterpret_cast<FreeBlock*>(p);
    block->next = pool.free[cls];
    pool.free[cls] = block;
    p += class_bytes(cls);
    bytes -= class_bytes(cls);
  }
}

char* bump_allocate(VPool& pool, size_t bytes, size_t alignment) {
  char* p = pool.bump ? reinterpret_cast<char*>(round_up(uintptr_t(pool.bump), alignment)) : nullptr;
  if (!p || p + bytes > pool.bump_end) {
    if (pool.bump) recycle_gap(pool, pool.bump, size_t(pool.bump_end - pool.bump));
    const size_t size = std::max(pool.next_chunk, round_up(bytes + alignment, kMinChunk));
    pool.next_chunk = std::min(pool.next_chunk * 2, kMaxChunk);
    Chunk* c = map_chunk(pool, size, false);
    if (!pool.first) pool.first = c;
    pool.current = c;
    pool.bump = c->base;
    pool.bump_end = c->base + c->bytes;
    p = reinterpret_cast<char*>(round_up(uintptr_t(pool.bump), alignment));
  }
  if (p != pool.bump) recycle_gap(pool, pool.bump, size_t(p - pool.bump));
  pool.bump = p + bytes;
  return p;
}

MEMF_NOINLINE void report(VPool& pool, const void* ptr, size_t size, const char* what, size_t a = 0, uintptr_t b = 0) {
  char line[400];
  const size_t cap = sizeof(line) - 48;
  const uintptr_t address = uintptr_t(ptr);
  const char* op = "memf::VariablePool::deallocate";
  fmt::format_to_n_result<char*> r{};
  if (strcmp(what, "foreign") == 0)
    r = fmt::format_to_n(line, cap, "memf: error: invalid pointer {:#x} in {}(): not allocated by VariablePool \"{}\"",
                         address, op, pool.name);
  else if (strcmp(what, "interior") == 0)
    r = fmt::format_to_n(line, cap,
                         "memf: error: invalid pointer {:#x} in {}(): {} bytes into the block at {:#x} "
                         "(VariablePool \"{}\", block of {} B)",
                         address, op, address - b, b, pool.name, a);
  else if (strcmp(what, "size") == 0)
    r = fmt::format_to_n(line, cap,
                         "memf: error: size mismatch in {}(): block {:#x} of {} B (VariablePool \"{}\") freed with "
                         "size {}",
                         op, address, a, pool.name, size);
  else
    r = fmt::format_to_n(line, cap, "memf: error: double free of {:#x} (VariablePool \"{}\") in {}()", address,
                         pool.name, op);
  pool_report(line, std::min(r.size, cap));
}

// A pointer into chunk c whose granule holds no live block: interior of a live block, or free.
void report_dead(VPool& pool, Chunk* c, const void* ptr, size_t size) {
  const size_t granule = size_t(static_cast<const char*>(ptr) - c->base) / kGranule;
  const size_t reach = kMaxClassBytes / kGranule;
  for (size_t g = granule + 1; g-- > 0 && granule - g < reach;) {
    if (!c->states[g]) continue;
    const size_t block_bytes = class_bytes(c->states[g] - 1u);
    const uintptr_t start = uintptr_t(c->base + g * kGranule);
    if (start + block_bytes > uintptr_t(ptr) && start != uintptr_t(ptr))
      return report(pool, ptr, size, "interior", block_bytes, start);
    break;
  }
  report(pool, ptr, size, "double");
}

size_t shrink_vpool(VPool& pool) {
  LockGuard guard(pool.lock);
  std::vector<Chunk*> keep;
  std::vector<Chunk*> drop;
  for (Chunk* c : pool.chunks) (c->live == 0 ? drop : keep).push_back(c);
  if (drop.empty()) return pool.last_released = 0;
  // Free blocks inside the dropped chunks leave the lists before their memory goes.
  for (FreeBlock*& head : pool.free) {
    FreeBlock** link = &head;
    while (*link) {
      Chunk* c = find_chunk(pool, *link);
      if (c && c->live == 0) *link = (*link)->next;
      else link = &(*link)->next;
    }
  }
  size_t released = 0;
  pool.chunks = keep;
  for (Chunk* c : drop) released += unmap_chunk(pool, c);
  if (pool.chunks.empty()) pool.next_chunk = pool.initial_chunk;
  pool.last_released = released;
  return released;
}

size_t shrink_node(void* self) { return shrink_vpool(*static_cast<VPool*>(self)); }

}  // namespace

VariablePool::VariablePool(size_t initialChunk, const char* name) : impl_(new Impl()) {
  load_config();
  Impl& pool = *impl_;
  pool.initial_chunk = pool.next_chunk = std::min(round_up(std::max(initialChunk, kMinChunk), kMinChunk), kMaxChunk);
  fmt::format_to_n(pool.name, kMaxCategoryName, "{}", name && *name ? name : "VariablePool");
  pool.tag = pool_category(pool.name);
  pool.node.shrink = shrink_node;
  pool.node.self = &pool;
  pool.node.lock = &pool.lock;
  pool_registry_add(&pool.node);
}

VariablePool::~VariablePool() {
  Impl& pool = *impl_;
  pool_registry_remove(&pool.node);
  for (Chunk* c : pool.chunks) unmap_chunk(pool, c);
  delete impl_;
}

void* VariablePool::allocate(size_t size, size_t alignment) {
  Impl& pool = *impl_;
  if (alignment > kMaxAlignment || (alignment & (alignment - 1)) != 0) throw std::bad_alloc();
  alignment = std::max(alignment, kGranule);
  LockGuard guard(pool.lock);
  if (size > kMaxClassBytes) {
    Chunk* c = map_chunk(pool, size, true);  // page-aligned, which covers every allowed alignment
    c->live = 1;
    pool.used_bytes += c->bytes;
    return c->base;
  }
  const unsigned cls = class_of(size);
  const size_t bytes = class_bytes(cls);
  char* p = nullptr;
  if (FreeBlock* block = pool.free[cls]; block && uintptr_t(block) % alignment == 0) {
    pool.free[cls] = block->next;
    p = reinterpret_cast<char*>(block);
  } else {
    p = bump_allocate(pool, bytes, alignment);
  }
  Chunk* c = pool.current && p >= pool.current->base && p < pool.bump_end ? pool.current : find_chunk(pool, p);
  c->states[size_t(p - c->base) / kGranule] = uint8_t(cls + 1);
  ++c->live;
  pool.used_bytes += bytes;
  return p;
}

void VariablePool::deallocate(void* ptr, size_t size) {
  if (!ptr) return;
  Impl& pool = *impl_;
  LockGuard guard(pool.lock);
  Chunk* c = find_chunk(pool, ptr);
  if (!c) return report(pool, ptr, size, "foreign");
  if (c->dedicated) {
    if (ptr != c->base) return report(pool, ptr, size, "interior", c->bytes, uintptr_t(c->base));
    pool.used_bytes -= c->bytes;
    pool.chunks.erase(std::find(pool.chunks.begin(), pool.chunks.end(), c));
    unmap_chunk(pool, c);
    return;
  }
  const size_t offset = size_t(static_cast<char*>(ptr) - c->base);
  uint8_t& state = c->states[offset / kGranule];
  if (offset % kGranule != 0 || state == 0) return report_dead(pool, c, ptr, size);
  const unsigned cls = state - 1u;
  if (size > kMaxClassBytes || class_of(size) != cls) return report(pool, ptr, size, "size", class_bytes(cls));
  state = 0;
  auto* block = static_cast<FreeBlock*>(ptr);
  block->next = pool.free[cls];
  pool.free[cls] = block;
  --c->live;
  pool.used_bytes -= class_bytes(cls);
}

void VariablePool::clear() {
  Impl& pool = *impl_;
  LockGuard guard(pool.lock);
  Chunk* keep = pool.first;
  size_t released = 0;
  for (Chunk* c : pool.chunks)
    if (c != keep) released += unmap_chunk(pool, c);
  pool.chunks.clear();
  std::fill(std::begin(pool.free), std::end(pool.free), nullptr);
  pool.used_bytes = 0;
  pool.next_chunk = pool.initial_chunk;
  if (keep) {
    // The first chunk stays, its pages resident, for the next round of the arena.
    memset(keep->states, 0, keep->state_bytes);
    keep->live = 0;
    pool.chunks.push_back(keep);
    pool.current = keep;
    pool.bump = keep->base;
    pool.bump_end = keep->base + keep->bytes;
    pool.next_chunk = std::min(keep->bytes * 2, kMaxChunk);
  }
  pool.last_released = released;
}

void VariablePool::shrink() { shrink_vpool(*impl_); }

size_t VariablePool::getUsedBytes() const {
  LockGuard guard(impl_->lock);
  return impl_->used_bytes;
}

size_t VariablePool::getMemoryUsage() const {
  LockGuard guard(impl_->lock);
  return impl_->held_bytes;
}

const char* VariablePool::getName() const { return impl_->name; }

size_t VariablePool::getLastReleased() const {
  LockGuard guard(impl_->lock);
  return impl_->last_released;
}

}  // namespace memf
