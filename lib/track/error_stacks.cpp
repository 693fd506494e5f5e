#include "error_stacks.hpp"

#include <dlfcn.h>

#include "config.hpp"
#include "frame_text.hpp"
#include "init_order.hpp"
#include "os.hpp"
#include "stack_capture.hpp"
#include "stack_depot.hpp"
#include "symbolizer.hpp"
#include "tracker.hpp"

namespace memf {
namespace {

constexpr unsigned kMaxErrorFrames = 48;

// Writes frames[0..n) as numbered lines, inlined calls expanded.
void write_frames(const uintptr_t* frames, unsigned n) {
  char line[4096];
  unsigned number = 0;
  for_each_symbolized_frame(frames, n, [&](uintptr_t pc, const SymbolizedFrame& f) {
    const FrameText text{pc, f.function, f.file, f.line, f.module, f.offset};
    os::write_stderr(line, format_frame_line(line, sizeof line, number++, text));
  });
}

// The module (load base) code address pc is in, 0 for none.
const void* module_base(uintptr_t pc) {
  Dl_info info;
  return dladdr(reinterpret_cast<void*>(pc - 1), &info) != 0 ? info.dli_fbase : nullptr;
}

}  // namespace

void write_misuse_stacks(const MisuseReport& report) {
  InternalAllocations symbolizer_memory;  // libdw's state and the symbolizer's caches are memf's
  uintptr_t frames[kMaxErrorFrames];
  const unsigned n = capture_stack(frames, kMaxErrorFrames, 0, UnwindMode::kPrecise);
  // memf's own frames (this hook, the report, free's slow path, the exported free) come first.
  const void* own = module_base(uintptr_t(&write_misuse_stacks) + 1);
  unsigned first = 0;
  while (first < n && module_base(frames[first]) == own) ++first;
  if (first == n) first = 0;  // memf linked into the program itself: keep every frame
  write_frames(frames + first, n - first);
  const uintptr_t* allocated = nullptr;
  const unsigned m = report.allocation_stack ? stack_depot_get(report.allocation_stack, &allocated) : 0;
  if (m > 0) {
    static const char heading[] = "  allocated at:\n";
    os::write_stderr(heading, sizeof heading - 1);
    write_frames(allocated, m);
  }
}

namespace {

__attribute__((constructor(MEMF_INIT_ERROR_STACKS))) void arm_error_stacks() {
  if (config().stacks != StacksMode::kOff) set_misuse_detail_hook(write_misuse_stacks);
}

}  // namespace

}  // namespace memf
