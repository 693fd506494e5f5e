#include "leak_scan.hpp"

#include <link.h>
#include <setjmp.h>

#include <algorithm>
#include <cstring>

#include "auxv.hpp"
#include "compiler.hpp"
#include "heap_walk.hpp"
#include "mapped_array.hpp"
#include "os.hpp"
#include "roots.hpp"
#include "stack_depot.hpp"
#include "thread_pointer.hpp"
#include "tracker.hpp"

namespace memf {
namespace {

// The executable segments of the dynamic linker, whose allocations (dtv, dynamic TLS) count as
// reachable: up to two ranges.
struct LoaderText {
  uintptr_t base;
  AddressRange ranges[4];
  size_t count;
};

int find_loader_text(dl_phdr_info* info, size_t, void* context) {
  LoaderText& text = *static_cast<LoaderText*>(context);
  if (text.base == 0 || info->dlpi_addr != text.base) return 0;
  for (int i = 0; i < info->dlpi_phnum && text.count < 4; ++i) {
    const ElfW(Phdr)& h = info->dlpi_phdr[i];
    if (h.p_type == PT_LOAD && (h.p_flags & PF_X))
      text.ranges[text.count++] = {info->dlpi_addr + h.p_vaddr, info->dlpi_addr + h.p_vaddr + h.p_memsz};
  }
  return 1;
}

// Static TLS of the calling thread: module id and the block's distance below the thread pointer,
// the same for every thread.
struct StaticTls {
  size_t modules;
  size_t modid[32];
  uintptr_t below_tp[32];
};

int find_static_tls(dl_phdr_info* info, size_t size, void* context) {
  StaticTls& tls = *static_cast<StaticTls*>(context);
  if (size < offsetof(dl_phdr_info, dlpi_tls_data) + sizeof(info->dlpi_tls_data)) return 1;
  const uintptr_t tp = thread_pointer(), data = uintptr_t(info->dlpi_tls_data);
  // A dynamic TLS block (dlopen'ed module) is a heap block, anywhere: static ones sit just below.
  if (info->dlpi_tls_modid == 0 || data == 0 || data >= tp || tp - data > (uintptr_t(1) << 20)) return 0;
  if (tls.modules < 32) {
    tls.modid[tls.modules] = info->dlpi_tls_modid;
    tls.below_tp[tls.modules] = tp - data;
    ++tls.modules;
  }
  return 0;
}

// Whether block b is a glibc dtv: allocated as (length + 2) 16-byte entries, the first holding
// length, entry 1 + m holding module m's block {address, to_free}; for every module with static
// TLS, the address is the thread pointer of one same thread minus that module's distance, and
// to_free is null. A joined thread's dtv stays allocated while glibc caches its stack, and only
// that cached descriptor (no root) points to it. With allocation stacks, such blocks are found
// by their allocating code (the dynamic linker); this finds them without.
bool looks_like_dtv(const ScanBlock& b, const StaticTls& tls) {
  if ((b.flags & kScanBlockLarge) || b.size < 48 || b.size % 16 != 0 || b.size > 65536) return false;
  const auto* w = reinterpret_cast<const uint64_t*>(b.address);
  const uint64_t length = w[0];
  if (length + 2 != b.size / 16) return false;
  uint64_t thread_tp = 0;
  size_t matched = 0;
  for (size_t i = 0; i < tls.modules; ++i) {
    const size_t m = tls.modid[i];
    if (m > length) continue;
    const uint64_t address = w[2 + 2 * m], to_free = w[3 + 2 * m];
    if (to_free != 0 || address == 0) return false;
    const uint64_t tp = address + tls.below_tp[i];
    if (matched > 0 && tp != thread_tp) return false;
    thread_tp = tp;
    ++matched;
  }
  return matched >= 2;
}

struct WalkSink {
  MappedArray<ScanBlock>* blocks;
  size_t n;
  bool overflow;
};

bool copy_block(const LiveBlock& block, void* context) {
  WalkSink& sink = *static_cast<WalkSink*>(context);
  if (sink.n == sink.blocks->capacity) {
    sink.overflow = true;
    return false;
  }
  ScanBlock& b = (*sink.blocks)[sink.n++];
  b.address = block.address;
  b.size = block.size;
  b.stack_id = block.stack_id;
  b.category = block.category;
  b.kind = LeakKind::kDefinite;
  b.mark = 0;
  b.flags = block.large ? kScanBlockLarge : 0;
  return true;
}

bool count_block(const LiveBlock&, void*) { return true; }

// The scan proper, in a frame below the stack pointer scan_process hands it: its temporaries
// (block addresses while sorting, say) are then not roots. Before this split a large block whose
// address the sort had left in scan_process's own frame was reported as still reachable.
MEMF_NOINLINE bool scan_below(LeakScan* scan, uintptr_t sp) {
  *scan = LeakScan{};
  const uint64_t start = os::monotonic_ns();
  MappedArray<ScanBlock> blocks;
  WalkSink sink{&blocks, 0, false};
  for (size_t expected = heap_walk(count_block, nullptr), attempt = 0; attempt < 4; ++attempt) {
    if (!blocks.map(expected + expected / 4 + 4096)) return false;
    sink = WalkSink{&blocks, 0, false};
    heap_walk(copy_block, &sink);
    if (!sink.overflow) break;
    expected = blocks.capacity * 2;  // others allocated meanwhile: retry bigger
    blocks.unmap();
  }
  if (!blocks.data) return false;
  const size_t n = sink.n;
  // Pool blocks come in address order, large ones after in none: sort the unsorted tail alone
  // and merge it in (into a second mapping: std::inplace_merge would allocate).
  const auto by_address = [](const ScanBlock& a, const ScanBlock& b) { return a.address < b.address; };
  ScanBlock* const sorted_end = std::is_sorted_until(blocks.data, blocks.data + n, by_address);
  if (sorted_end != blocks.data + n) {
    std::sort(sorted_end, blocks.data + n, by_address);
    MappedArray<ScanBlock> merged;
    if (merged.map(blocks.capacity)) {
      std::merge(blocks.data, sorted_end, sorted_end, blocks.data + n, merged.data, by_address);
      blocks.unmap();
      blocks = merged;
    } else {
      std::sort(blocks.data, blocks.data + n, by_address);
    }
  }
  // Disjoint by construction; a block overlapping its predecessor (a walk racing with frees
  // and reuse) would break the binary search: it is dropped. memf's own blocks (an earlier
  // report's symbolizer caches, the API's registries: referenced from memf's data, which is no
  // root) are marked in use.
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    if (blocks[i].category == kCategoryInternal) blocks[i].flags |= kScanBlockInternal;
    if (kept > 0) {
      const ScanBlock& prev = blocks[kept - 1];
      if (blocks[i].address < prev.address + std::max<uint64_t>(prev.size, 1)) continue;
    }
    blocks[kept++] = blocks[i];
  }

  // The dynamic linker's blocks: by allocation stack where there is one, by shape for dtvs.
  LoaderText loader{auxv::loader_base(), {}, 0};
  if (loader.base) dl_iterate_phdr(find_loader_text, &loader);
  StaticTls tls{};
  dl_iterate_phdr(find_static_tls, &tls);
  for (size_t i = 0; i < kept; ++i) {
    const uintptr_t* frames;
    if (blocks[i].stack_id != 0 && stack_depot_get(blocks[i].stack_id, &frames) != 0) {
      for (size_t r = 0; r < loader.count; ++r)
        if (frames[0] > loader.ranges[r].begin && frames[0] <= loader.ranges[r].end)
          blocks[i].flags |= kScanBlockLoaderOwned;
    }
    if (looks_like_dtv(blocks[i], tls)) blocks[i].flags |= kScanBlockLoaderOwned;
  }

  MappedArray<AddressRange> roots;
  if (!roots.map(kMaxRootRanges)) {
    blocks.unmap();
    return false;
  }
  const AddressRange own[2] = {{uintptr_t(blocks.data), uintptr_t(blocks.data) + blocks.bytes},
                               {uintptr_t(roots.data), uintptr_t(roots.data) + roots.bytes}};
  const size_t root_count = std::min(collect_roots_excluding(roots.data, roots.capacity, sp, own, 2), roots.capacity);
  const bool ok = classify_blocks(blocks.data, kept, roots.data, root_count, &scan->stats);
  roots.unmap();
  if (!ok) {
    blocks.unmap();
    return false;
  }
  scan->blocks = blocks.data;
  scan->count = kept;
  scan->mapped_bytes = blocks.bytes;
  scan->elapsed_ns = os::monotonic_ns() - start;
  return true;
}

}  // namespace

// noinline: the registers spilled here and the stack pointer taken here belong to this frame,
// which stays live (above every callee's frame) while the roots are scanned; the frame holds
// nothing else.
MEMF_NOINLINE bool scan_process(LeakScan* scan, uintptr_t live_stack_bottom) {
  jmp_buf registers;
  setjmp(registers);
  __builtin_unwind_init();
  uintptr_t sp;
  asm volatile("mov %%rsp, %0" : "=r"(sp));
  asm volatile("" : : "r"(&registers) : "memory");
  const bool ok = scan_below(scan, live_stack_bottom > sp ? live_stack_bottom : sp);
  asm volatile("" : : "r"(&registers) : "memory");  // the spilled registers stay until the scan ends
  return ok;
}

void release_scan(LeakScan* scan) {
  if (scan->blocks) os::unmap(scan->blocks, scan->mapped_bytes);
  *scan = LeakScan{};
}

}  // namespace memf
