#include "bad_pointer.hpp"

#include <fmt/format.h>

#include "freed_large.hpp"
#include "pool_arena.hpp"

namespace memf {
namespace {

// The core's report for pointer, with the block's description written into block.
MisuseReport describe(const char* operation, const void* pointer, char (&block)[48]) {
  const BadPointer bad = classify_bad_pointer(pointer);
  if (bad.kind == Misuse::kForeign) {
    // Outside the pools and no live large block: a large block freed already, if the record
    // of the last large frees has it.
    FreedLarge freed;
    if (find_freed_large(pointer, &freed)) {
      misuse_text(block, "{} block of {} B", freed.mapping ? "huge" : "large", freed.requested);
      return MisuseReport{Misuse::kDoubleFree, operation, pointer, nullptr, 0, block, "block", "memf", freed.stack_id};
    }
  }
  misuse_text(block, "size class {} B", bad.class_size);
  const char* owner = bad.kind == Misuse::kForeign ? "memf" : "memf's pools";
  MisuseReport report{bad.kind, operation, pointer, bad.block_start, 0, block, "block", owner};
  // A pool block's record keeps the stack of its last allocation after the free.
  if (bad.kind == Misuse::kDoubleFree || bad.kind == Misuse::kInterior) {
    const void* start = bad.kind == Misuse::kInterior ? bad.block_start : pointer;
    if (const SlotInfo* info = slot_info(start)) report.allocation_stack = info->stack_id;
  }
  return report;
}

}  // namespace

BadPointer classify_bad_pointer(const void* pointer) {
  if (!pool_contains(pointer)) return {Misuse::kForeign, 0, nullptr};
  const SlabMeta* slab = slab_of(pointer);
  if (slab->list == kSlabUnused || slab->list == kSlabEmpty || slab->list == kSlabPurged) return {Misuse::kNotLive, 0, nullptr};
  const size_t size = kSizeClasses[g_pool.slab_classes[slab_index(pointer)]].size;
  const size_t offset = pool_offset(pointer) & (kSlabSize - 1);
  const size_t slot = offset / size;
  if (slot >= slab->capacity) return {Misuse::kNotLive, size, nullptr};
  const char* start = slab_data(slab) + slot * size;
  // An interior pointer of a free block is a bad pointer too; name the block all the same.
  if (start != pointer) return {Misuse::kInterior, size, start};
  return {Misuse::kDoubleFree, size, nullptr};
}

size_t format_bad_pointer(char* buffer, size_t capacity, const char* operation, const void* pointer) {
  char block[48];
  return format_misuse(buffer, capacity, describe(operation, pointer, block));
}

void report_bad_pointer(const char* operation, const void* pointer) {
  char block[48];
  report_misuse(describe(operation, pointer, block));
}

}  // namespace memf
