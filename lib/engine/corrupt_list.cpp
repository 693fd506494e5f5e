#include "corrupt_list.hpp"

#include "misuse.hpp"
#include "pool_arena.hpp"
#include "size_classes.hpp"

namespace memf {

void report_corrupt_block(const void* block, unsigned cls, const char* operation) {
  char description[48];
  MisuseReport report{};
  report.kind = Misuse::kCorruptFreeList;
  report.operation = operation;
  report.pointer = block;
  report.block = misuse_text(description, "size class {} B", kSizeClasses[cls].size);
  report.unit = "block";
  report_misuse(report);
}

bool next_free_of_class(const FreeBlock* block, unsigned cls, FreeBlock** next) {
  FreeBlock* after;
  if (!follow_link(block, &after)) return false;
  if (after && !is_block_start_of_class(after, cls)) return false;
  *next = after;
  return true;
}

}  // namespace memf
