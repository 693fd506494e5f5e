#include "allocation_stacks.hpp"

#include <dlfcn.h>
#include <link.h>

#include <cmath>
#include <cstring>

#include "compiler.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "stack_capture.hpp"
#include "stack_depot.hpp"

namespace memf {
namespace {

// memf's own code, so that captured stacks start at the program's call site.
uintptr_t g_own_text_begin = 0, g_own_text_end = 0;

int find_own_text(dl_phdr_info* info, size_t, void* context) {
  const uintptr_t probe = *static_cast<uintptr_t*>(context);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& header = info->dlpi_phdr[i];
    if (header.p_type != PT_LOAD || !(header.p_flags & PF_X)) continue;
    const uintptr_t begin = info->dlpi_addr + header.p_vaddr;
    if (probe >= begin && probe < begin + header.p_memsz) {
      g_own_text_begin = begin;
      g_own_text_end = begin + header.p_memsz;
      return 1;
    }
  }
  return 0;
}

// MEMF_STACKS=sampled: a stack for about one allocated byte in stack_sample_bytes, the bytes
// between two samples drawn from an exponential distribution (the way tcmalloc samples its heap
// profile): an allocation of n bytes gets a stack with probability 1 - exp(-n / mean), so large
// blocks nearly always have one and small ones rarely. Per thread, no shared state; every thread's
// generator starts from the same seed, so runs are repeatable.
__thread int64_t t_sample_left MEMF_TLS = 0;
__thread uint64_t t_sample_rng MEMF_TLS = 0;

// Bytes until the next sample: -ln(u) * mean for u uniform in (0, 1].
int64_t next_sample_gap(uint64_t mean) {
  uint64_t& x = t_sample_rng;
  if (x == 0) x = 0x9e3779b97f4a7c15ull;
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  const double u = double((x >> 11) + 1) * (1.0 / 9007199254740992.0);  // (0, 1]
  const double gap = -std::log(u) * double(mean);
  return gap >= 9.0e18 ? INT64_MAX : int64_t(gap) + 1;
}

bool sample_due(size_t size) {
  const uint64_t mean = config().stack_sample_bytes;
  if (t_sample_left == 0) t_sample_left = next_sample_gap(mean);  // the thread's first allocation
  const int64_t bytes = size > size_t(INT64_MAX) ? INT64_MAX : int64_t(size);
  if (bytes < t_sample_left) {
    t_sample_left -= bytes;
    return false;
  }
  // Past one or more sample points: the allocation is sampled; draw the next point from here.
  t_sample_left = next_sample_gap(mean);
  return true;
}

}  // namespace

bool allocation_stacks_init() {
  // Leave out of captured stacks the code of libmemf.so (not of a program memf is linked into
  // statically: then the engine's frames are the program's too).
  Dl_info self;
  if (dladdr(reinterpret_cast<void*>(&malloc_slow), &self) && self.dli_fname &&
      strstr(self.dli_fname, "libmemf") != nullptr) {
    uintptr_t probe = uintptr_t(&malloc_slow);
    dl_iterate_phdr(find_own_text, &probe);
  }
  stack_capture_init(g_own_text_begin, g_own_text_end);
  return stack_depot_init();
}

uint32_t capture_allocation_stack(const StackOrigin& origin, size_t size) {
  if (config().stacks == StacksMode::kOff) return 0;
  if (config().stacks == StacksMode::kSampled && !sample_due(size)) return 0;
  return capture_profile_stack(origin, size);
}

uint32_t capture_profile_stack(const StackOrigin& origin, size_t) {
  const Config& settings = config();
  if (MEMF_LIKELY(!settings.precise_stacks)) return capture_frame_pointers_to_depot(origin, settings.stack_depth);
  return capture_precise_to_depot(origin, settings.stack_depth);
}

}  // namespace memf
