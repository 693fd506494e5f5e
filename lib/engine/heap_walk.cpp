#include "heap_walk.hpp"

#include "large.hpp"
#include "pool_arena.hpp"
#include "thread_cache.hpp"

namespace memf {
namespace {

struct LargeVisit {
  LiveBlockVisitor visit;
  void* context;
  size_t visited;
  bool stopped;
};

bool visit_large(const void* address, const LargeRecord& record, void* context) {
  auto* walk = static_cast<LargeVisit*>(context);
  LiveBlock block{uintptr_t(address), record.requested, record.stack_id, record.category, true};
  ++walk->visited;
  if (!walk->visit(block, walk->context)) {
    walk->stopped = true;
    return false;
  }
  return true;
}

}  // namespace

// Pool slabs are read while their owners allocate and free (by design: a snapshot, not a stop
// of the world); those reads are kept out of ThreadSanitizer's sight, the visitor is not.
__attribute__((no_sanitize("thread"))) size_t heap_walk(LiveBlockVisitor visit, void* context) {
  size_t visited = 0;
  const size_t slabs = g_pool.usable_bytes ? pool_slabs_touched() : 0;
  for (size_t index = 0; index < slabs; ++index) {
    const SlabMeta& slab = g_pool.slabs[index];
    if (slab.list != kSlabFull && slab.list != kSlabPartial) continue;
    const SizeClassInfo& info = kSizeClasses[g_pool.slab_classes[index]];
    const char* data = slab_data(&slab);
    const uint32_t carved = slab.carved;
    for (uint32_t slot = 0; slot < carved; ++slot) {
      const char* block = data + size_t(slot) * info.size;
      const uint8_t tag = slot_state(block);
      if (tag == kSlotNone || block_is_free(block)) continue;
      LiveBlock live{uintptr_t(block), info.size, 0, slot_category(tag), false};
      // A record is current while every allocation is recorded, or when the profile marked it.
      if (const SlotInfo* record = slot_info(block)) {
        if (g_record_all || (record->requested & kSlotInfoProfiled)) {
          const uint32_t requested = record->requested & ~kSlotInfoProfiled;
          if (requested) live.size = requested;
          live.stack_id = record->stack_id;
        }
      }
      ++visited;
      if (!visit(live, context)) return visited;
    }
  }
  LargeVisit walk{visit, context, 0, false};
  large_for_each(visit_large, &walk);
  return visited + walk.visited;
}

size_t allocator_metadata_ranges(AddressRange* out, size_t capacity) {
  size_t count = 0;
  auto add = [&](uintptr_t begin, uintptr_t end) {
    if (begin < end && count < capacity) out[count] = AddressRange{begin, end};
    if (begin < end) ++count;
  };
  if (g_pool.usable_bytes) {
    // The pool range itself holds blocks, not roots; the rest is the engine's bookkeeping.
    add(g_pool.base, g_pool.base + g_pool.usable_bytes);
    add(uintptr_t(g_pool.slot_states), uintptr_t(g_pool.slot_states) + g_pool.granules);
    add(uintptr_t(g_pool.slabs), uintptr_t(g_pool.slabs + g_pool.num_slabs));
    add(uintptr_t(g_pool.slab_classes), uintptr_t(g_pool.slab_classes) + g_pool.num_slabs);
    if (g_pool.slot_info)
      add(uintptr_t(g_pool.slot_info), uintptr_t(g_pool.slot_info + g_pool.num_slabs * kMaxSlotsPerSlab));
  }
  uintptr_t begins[kMaxLargeTableRanges], ends[kMaxLargeTableRanges];
  const size_t tables = large_table_ranges(begins, ends, kMaxLargeTableRanges);
  for (size_t i = 0; i < tables && i < kMaxLargeTableRanges; ++i) add(begins[i], ends[i]);
  return count;
}

size_t thread_stack_hints(uintptr_t* out, size_t capacity) { return thread_cache_stack_hints(out, capacity); }

}  // namespace memf
