#include "errors.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "config.hpp"
#include "platform.hpp"
#include "pool_arena.hpp"

namespace memf {

BadPointer classify_pool_pointer(const void* pointer, BadPointerDetail* detail) {
  const SlabMeta* slab = slab_of(pointer);
  if (slab->list == kSlabUnused || slab->list == kSlabEmpty || slab->list == kSlabPurged) return BadPointer::kNotAllocated;
  const size_t size = kSizeClasses[g_pool.slab_classes[slab_index(pointer)]].size;
  detail->class_size = size;
  const size_t offset = pool_offset(pointer) & (kSlabSize - 1);
  const size_t slot = offset / size;
  if (slot >= slab->capacity) return BadPointer::kNotAllocated;
  const char* start = slab_data(slab) + slot * size;
  if (start != pointer) {
    // An interior pointer of a free block is a bad pointer too; name the block all the same.
    detail->block_start = start;
    return BadPointer::kInteriorPointer;
  }
  return BadPointer::kDoubleFree;
}

size_t format_bad_pointer(char* buffer, size_t capacity, const char* operation, const void* pointer, BadPointer kind,
                          const BadPointerDetail& detail) {
  fmt::format_to_n_result<char*> result{};
  const uintptr_t address = uintptr_t(pointer);
  switch (kind) {
    case BadPointer::kDoubleFree:
      result = fmt::format_to_n(buffer, capacity, "memf: error: double free of {:#x} (size class {} B) in {}()", address,
                                detail.class_size, operation);
      break;
    case BadPointer::kInteriorPointer:
      result = fmt::format_to_n(buffer, capacity,
                                "memf: error: invalid pointer {:#x} in {}(): {} bytes into the block at {:#x} "
                                "(size class {} B)",
                                address, operation, address - uintptr_t(detail.block_start),
                                uintptr_t(detail.block_start), detail.class_size);
      break;
    case BadPointer::kNotAllocated:
      result = fmt::format_to_n(buffer, capacity,
                                "memf: error: invalid pointer {:#x} in {}(): no live block there in memf's pools",
                                address, operation);
      break;
    case BadPointer::kForeign:
      result = fmt::format_to_n(buffer, capacity,
                                "memf: error: invalid pointer {:#x} in {}(): not allocated by memf", address, operation);
      break;
  }
  return result.size < capacity ? result.size : capacity;
}

void report_bad_pointer(const char* operation, const void* pointer, BadPointer kind, const BadPointerDetail& detail) {
  char line[320];
  size_t length = format_bad_pointer(line, sizeof(line) - 48, operation, pointer, kind, detail);
  const bool abort_now = config().on_error == OnError::kAbort;
  auto tail = fmt::format_to_n(line + length, 40, "{}\n", abort_now ? "; aborting (MEMF_ON_ERROR=abort)" : "; ignored");
  os::write_stderr(line, length + tail.size);
  if (abort_now) abort();
}

}  // namespace memf
