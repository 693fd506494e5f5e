#include "misuse.hpp"

#include <atomic>
#include <cstdint>
#include <cstdlib>

#include <fmt/format.h>

#include "compiler.hpp"
#include "config.hpp"
#include "os.hpp"

namespace memf {

size_t format_misuse(char* buffer, size_t capacity, const MisuseReport& r) {
  if (capacity == 0) return 0;
  fmt::format_to_n_result<char*> result{};
  const uintptr_t address = uintptr_t(r.pointer);
  const size_t room = capacity - 1;
  switch (r.kind) {
    case Misuse::kDoubleFree:
      result = fmt::format_to_n(buffer, room, "memf: error: double free of {:#x} ({}) in {}()", address, r.block,
                                r.operation);
      break;
    case Misuse::kInterior:
      result = fmt::format_to_n(buffer, room, "memf: error: invalid pointer {:#x} in {}(): {} bytes into the {} at {:#x} ({})",
                                address, r.operation, address - uintptr_t(r.block_start), r.unit,
                                uintptr_t(r.block_start), r.block);
      break;
    case Misuse::kNotLive:
      result = fmt::format_to_n(buffer, room, "memf: error: invalid pointer {:#x} in {}(): no live {} there in {}", address,
                                r.operation, r.unit, r.owner);
      break;
    case Misuse::kForeign:
      result = fmt::format_to_n(buffer, room, "memf: error: invalid pointer {:#x} in {}(): not allocated by {}", address,
                                r.operation, r.owner);
      break;
    case Misuse::kSizeMismatch:
      result = fmt::format_to_n(buffer, room, "memf: error: size mismatch in {}(): {} {:#x} ({}) freed with size {}",
                                r.operation, r.unit, address, r.block, r.size_given);
      break;
    case Misuse::kCorruptFreeList:
      result = fmt::format_to_n(buffer, room,
                                "memf: error: heap corruption detected in {}(): free {} at {:#x} ({}) was written after it "
                                "was freed, or by an overflow from the {} before it",
                                r.operation, r.unit, address, r.block, r.unit);
      break;
  }
  const size_t length = result.size < room ? result.size : room;
  buffer[length] = '\0';
  return length;
}

namespace {
constinit std::atomic<MisuseDetailHook> g_detail_hook{nullptr};
// A misuse inside the hook itself (its symbolizer, say) reports its line only.
__thread bool t_in_detail MEMF_TLS = false;
}  // namespace

void set_misuse_detail_hook(MisuseDetailHook hook) { g_detail_hook.store(hook, std::memory_order_release); }

void report_misuse(const MisuseReport& report) {
  char line[512];
  constexpr size_t kTail = 40;
  size_t length = format_misuse(line, sizeof(line) - kTail, report);
  const bool abort_now = config().on_error == OnError::kAbort;
  const char* outcome = abort_now                                      ? "; aborting (MEMF_ON_ERROR=abort)"
                        : report.kind == Misuse::kCorruptFreeList ? "; its free list is dropped"
                                                                   : "; ignored";
  auto tail = fmt::format_to_n(line + length, kTail - 1, "{}\n", outcome);
  os::write_stderr(line, length + tail.size);
  if (MisuseDetailHook hook = g_detail_hook.load(std::memory_order_acquire); hook && !t_in_detail) {
    t_in_detail = true;
    hook(report);
    t_in_detail = false;
  }
  if (abort_now) abort();
}

}  // namespace memf
