#include "roots.hpp"

#include <link.h>
#include <mimalloc.h>

#include <algorithm>
#include <cstring>

#include "compiler.hpp"
#include "heap_walk.hpp"
#include "mapped_array.hpp"
#include "proc_maps.hpp"
#include "root_sources.hpp"
#include "thread_pointer.hpp"

namespace memf {
namespace {

constexpr size_t kWord = sizeof(uintptr_t);

// A thread-local of memf's own: its address is in the calling thread's static TLS block.
constinit __thread uintptr_t t_tls_probe MEMF_TLS = 0;

constexpr size_t kMaxThreadHints = 1 << 14;
constexpr size_t kMaxMetadataRanges = 1 << 12;
// A thread stack mapping larger than this is no ordinary stack (a stack inside some larger
// mapping): only this much around the hint is scanned, on each side.
constexpr uintptr_t kMaxStackScan = uintptr_t(64) << 20;
constexpr uintptr_t kTcbScan = 4096;  // glibc's thread descriptor above the thread pointer

class RootSink {
 public:
  RootSink(AddressRange* out, size_t capacity) : out_(out), capacity_(capacity) {}
  void add(uintptr_t begin, uintptr_t end) {
    begin = round_up(begin, kWord);
    if (begin >= end) return;
    if (n_ < capacity_) out_[n_] = AddressRange{begin, end};
    ++n_;
  }
  size_t size() const { return n_; }

 private:
  AddressRange* out_;
  size_t capacity_;
  size_t n_ = 0;
};

bool in_segment_of(const dl_phdr_info* info, uintptr_t address, uint32_t flag) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& h = info->dlpi_phdr[i];
    if (h.p_type != PT_LOAD || !(h.p_flags & flag)) continue;
    const uintptr_t b = info->dlpi_addr + h.p_vaddr;
    if (address >= b && address < b + h.p_memsz) return true;
  }
  return false;
}

struct ModuleWalk {
  RootSink* sink;
  uintptr_t own_code;      // an address in memf's code
  uintptr_t mimalloc_code;  // an address in mimalloc's code
  uintptr_t thread_pointer;
  uintptr_t lowest_tls;     // lowest static TLS block of the calling thread (0: none)
  bool first;
  // The skipped modules' writable segments: excluded from every root, since a mapping next to
  // them (the main thread's TLS block, say) may have been merged with them.
  AddressRange skipped[16];
  size_t skipped_count;
};

int add_module_roots(dl_phdr_info* info, size_t size, void* context) {
  ModuleWalk& walk = *static_cast<ModuleWalk*>(context);
  const bool main_program = walk.first;
  walk.first = false;
  // memf's and mimalloc's own data (their bookkeeping is no evidence that a block is in use),
  // unless they are linked into the program itself, whose globals are roots.
  if (!main_program && (in_segment_of(info, walk.own_code, PF_X) || in_segment_of(info, walk.mimalloc_code, PF_X))) {
    for (int i = 0; i < info->dlpi_phnum; ++i) {
      const ElfW(Phdr)& h = info->dlpi_phdr[i];
      if (h.p_type != PT_LOAD || !(h.p_flags & PF_W) || walk.skipped_count == 16) continue;
      const uintptr_t b = info->dlpi_addr + h.p_vaddr;
      walk.skipped[walk.skipped_count++] = {b & ~(kPageSize - 1), round_up(b + h.p_memsz, kPageSize)};
    }
    return 0;
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& h = info->dlpi_phdr[i];
    if (h.p_type == PT_LOAD && (h.p_flags & PF_W)) {
      const uintptr_t b = info->dlpi_addr + h.p_vaddr;
      walk.sink->add(b, b + h.p_memsz);
    }
  }
  // Static TLS sits below the thread pointer (x86-64 TLS variant II); dynamic TLS blocks of
  // dlopen'ed modules are heap blocks and are reached through the dtv.
  if (size >= offsetof(dl_phdr_info, dlpi_tls_data) + sizeof(info->dlpi_tls_data) && info->dlpi_tls_data) {
    const uintptr_t tls = uintptr_t(info->dlpi_tls_data);
    if (tls < walk.thread_pointer && walk.thread_pointer - tls < (uintptr_t(1) << 20) &&
        (walk.lowest_tls == 0 || tls < walk.lowest_tls))
      walk.lowest_tls = tls;
  }
  return 0;
}

// Sorts and merges ranges[0..n) in place; returns the new count.
size_t sort_and_merge(AddressRange* ranges, size_t n) {
  std::sort(ranges, ranges + n, [](const AddressRange& a, const AddressRange& b) { return a.begin < b.begin; });
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (ranges[i].end <= ranges[i].begin) continue;
    if (out > 0 && ranges[i].begin <= ranges[out - 1].end) {
      ranges[out - 1].end = std::max(ranges[out - 1].end, ranges[i].end);
    } else {
      ranges[out++] = ranges[i];
    }
  }
  return out;
}

// Removes the sorted, merged excluded[0..e) from the sorted, merged ranges[0..n), writing the
// pieces to out (capacity cap); returns how many.
size_t subtract(const AddressRange* ranges, size_t n, const AddressRange* excluded, size_t e, AddressRange* out,
                size_t cap) {
  size_t count = 0, j = 0;
  for (size_t i = 0; i < n; ++i) {
    uintptr_t cursor = ranges[i].begin;
    while (j < e && excluded[j].end <= cursor) ++j;
    for (size_t k = j; k < e && excluded[k].begin < ranges[i].end; ++k) {
      if (excluded[k].begin > cursor && count < cap) out[count++] = {cursor, excluded[k].begin};
      cursor = std::max(cursor, excluded[k].end);
    }
    if (cursor < ranges[i].end && count < cap) out[count++] = {cursor, ranges[i].end};
  }
  return count;
}

}  // namespace

size_t collect_roots_excluding(AddressRange* out, size_t capacity, uintptr_t stack_pointer,
                               const AddressRange* extra_excluded, size_t extra_count) {
  RootSink sink(out, capacity);
  const uintptr_t tp = thread_pointer();
  ModuleWalk walk{&sink, uintptr_t(&collect_roots), uintptr_t(&mi_malloc), tp, 0, true, {}, 0};
  dl_iterate_phdr(add_module_roots, &walk);

  // Memory others registered as holding program data (the application pools' ranges).
  {
    AddressRange registered[64];
    const size_t n = std::min(list_registered_roots(registered, 64), size_t(64));
    for (size_t i = 0; i < n; ++i) sink.add(registered[i].begin, registered[i].end);
  }

  MapsSnapshot maps;
  MappedArray<uintptr_t> hints;
  MappedArray<AddressRange> excluded;
  if (maps.read()) {
    for (size_t i = 0; i < maps.size(); ++i)
      if (maps[i].heap && maps[i].readable) sink.add(maps[i].begin, maps[i].end);
    // The calling thread: its stack from the stack pointer up (what lies below is dead).
    const Mapping* own = maps.find(stack_pointer);
    if (own && own->readable) sink.add(stack_pointer, own->end);
    // Every other live thread: its whole stack mapping (its stack pointer is unknown here).
    if (hints.map(kMaxThreadHints)) {
      const size_t n = std::min(thread_stack_hints(hints.data, hints.capacity), hints.capacity);
      for (size_t i = 0; i < n; ++i) {
        const Mapping* m = maps.find(hints[i]);
        if (!m || m == own || !m->readable) continue;
        uintptr_t b = m->begin, e = m->end;
        if (e - b > 2 * kMaxStackScan) {
          b = std::max(b, hints[i] > kMaxStackScan ? hints[i] - kMaxStackScan : 0);
          e = std::min(e, hints[i] + kMaxStackScan);
        }
        sink.add(b, e);
      }
    }
    // The calling thread's static TLS and thread descriptor. For glibc threads they sit at the
    // top of the stack mapping (added above); the main thread's are in a mapping of their own.
    const uintptr_t probe = uintptr_t(&t_tls_probe);
    const uintptr_t low = walk.lowest_tls ? std::min(walk.lowest_tls, probe) : probe;
    if (const Mapping* m = maps.find(tp); m && m->readable && m != own)
      sink.add(std::max(m->begin, low), std::min(m->end, tp + kTcbScan));
  }

  size_t n = sort_and_merge(out, std::min(sink.size(), capacity));
  size_t e = 0;
  if (excluded.map(kMaxMetadataRanges + extra_count + walk.skipped_count + 1)) {
    e = std::min(allocator_metadata_ranges(excluded.data, kMaxMetadataRanges), size_t(kMaxMetadataRanges));
    for (size_t i = 0; i < extra_count; ++i) excluded[e++] = extra_excluded[i];
    for (size_t i = 0; i < walk.skipped_count; ++i) excluded[e++] = walk.skipped[i];
    if (maps.size()) excluded[e++] = maps.own_range();
    e = sort_and_merge(excluded.data, e);
    MappedArray<AddressRange> pieces;
    if (pieces.map(n + e + 1)) {
      const size_t m = subtract(out, n, excluded.data, e, pieces.data, pieces.capacity);
      n = std::min(m, capacity);
      std::copy(pieces.data, pieces.data + n, out);
    }
    pieces.unmap();
  }
  excluded.unmap();
  hints.unmap();
  maps.release();
  return n;
}

size_t collect_roots(AddressRange* out, size_t capacity, uintptr_t stack_pointer) {
  return collect_roots_excluding(out, capacity, stack_pointer, nullptr, 0);
}

}  // namespace memf
