#include "scanner.hpp"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>

#include <algorithm>
#include <cstring>

#include "compiler.hpp"
#include "fault_guard.hpp"
#include "mapped_array.hpp"

namespace memf {

const char* leak_kind_name(LeakKind kind) {
  switch (kind) {
    case LeakKind::kDefinite: return "definite";
    case LeakKind::kIndirect: return "indirect";
    case LeakKind::kPossible: return "possible";
    case LeakKind::kReachable: return "reachable";
  }
  return "?";
}

namespace {

constexpr size_t kWord = sizeof(uintptr_t);
constexpr uint32_t kNone = UINT32_MAX;

// Keeps the compiler from caching memory in registers across this point or sinking stores past
// it: what a fault recovery (siglongjmp) reads back must already be in memory.
inline void compiler_barrier() { asm volatile("" ::: "memory"); }

// --- the scanner ---------------------------------------------------------------------------------

// Marks while reaching blocks from the roots.
constexpr uint8_t kUnreached = 0;
constexpr uint8_t kMarkPossible = 1;
constexpr uint8_t kMarkReachable = 2;
// Set once a block's contents were scanned with that mark (a block reached first through an
// interior pointer and later through a start pointer is scanned twice, no more).
constexpr uint8_t kScannedPossible = 4;
constexpr uint8_t kScannedReachable = 8;

enum class Mode : uint8_t { kMark, kEdges };

class Scanner {
 public:
  Scanner(ScanBlock* blocks, size_t count, ScanStats* stats) : blocks_(blocks), count_(count), stats_(stats) {
    if (count_ > 0) {
      lo_ = blocks_[0].address;
      const ScanBlock& last = blocks_[count_ - 1];
      hi_ = last.address + std::max<uint64_t>(last.size, 1);
    }
  }

  // Index of the block p points into (kNone if none); *start tells whether p is its first byte.
  MEMF_ALWAYS_INLINE uint32_t lookup(uintptr_t p, bool* start) const {
    if (p < lo_ || p >= hi_) return kNone;
    size_t l = 0, r = count_;
    if (p - index_base_ < index_span_) {
      // Blocks that may hold p: from the first one ending after p's bucket begins to the first
      // one ending after the next bucket begins (which may start in p's bucket).
      const size_t k = (p - index_base_) >> index_shift_;
      l = index_.data[k];
      r = std::min<size_t>(index_.data[k + 1] + 1, count_);
      if (l >= r) return kNone;
    }
    // invariant: blocks_[l].address <= p < blocks_[r].address, if p is in any block
    while (r - l > 1) {
      size_t m = (l + r) / 2;
      if (blocks_[m].address <= p) l = m;
      else r = m;
    }
    const ScanBlock& b = blocks_[l];
    if (p == b.address) {
      *start = true;
      return uint32_t(l);
    }
    if (p - b.address < b.size) {
      *start = false;
      return uint32_t(l);
    }
    return kNone;
  }

  // A bucket table over the span of the pool blocks (the dense part of the heap; large blocks
  // lie outside it, far apart, and are found by binary search over all blocks): the binary
  // search for a pointer into the span runs over a few neighbouring blocks only. Buckets are
  // sized for about four blocks each. Without the table (no memory) lookups stay correct.
  void build_index() {
    uintptr_t begin = UINTPTR_MAX, end = 0;
    size_t pool_blocks = 0;
    for (size_t i = 0; i < count_; ++i) {
      if (blocks_[i].flags & kScanBlockLarge) continue;
      begin = std::min(begin, blocks_[i].address);
      end = std::max<uintptr_t>(end, blocks_[i].address + std::max<uint64_t>(blocks_[i].size, 1));
      ++pool_blocks;
    }
    if (pool_blocks < 64) return;
    const size_t wanted = pool_blocks / 4 + 1;
    unsigned shift = 4;
    while (((end - begin) >> shift) > wanted) ++shift;
    const size_t buckets = ((end - begin) >> shift) + 1;
    if (!index_.map(buckets + 1)) return;
    // index_[k] = first block (of all) ending after bucket k begins.
    size_t i = 0;
    for (size_t k = 0; k <= buckets; ++k) {
      const uintptr_t bucket_begin = begin + (uintptr_t(k) << shift);
      while (i < count_ && blocks_[i].address + std::max<uint64_t>(blocks_[i].size, 1) <= bucket_begin) ++i;
      index_[k] = uint32_t(i);
    }
    index_base_ = begin;
    index_span_ = uintptr_t(buckets) << shift;
    index_shift_ = shift;
  }

  // Interior pointers that programs keep to the start of their data, counted as start pointers
  // (Valgrind's heuristics): `new T[n]` of a type with a destructor hands out block + 8 and keeps
  // n in the first word (a length-prefixed buffer, block + 8 with the length first, is the same
  // shape); glibc's thread descriptor points at the dtv block + 16, whose first word is its
  // length minus 2 (in 16-byte entries).
  static bool counts_as_start(const ScanBlock& b, uintptr_t p) {
    const uintptr_t offset = p - b.address;
    if (offset == 8 && b.size >= 16) {
      const uint64_t n = *reinterpret_cast<const uint64_t*>(b.address);
      return n > 0 && n <= b.size - 8 && (b.size - 8) % n == 0;
    }
    if (offset == 16 && b.size >= 48 && b.size % 16 == 0) {
      const uint64_t n = *reinterpret_cast<const uint64_t*>(b.address);
      return n + 2 == b.size / 16;
    }
    return false;
  }

  bool map_work(size_t n) { return work_.map(2 * n + 16); }

  // Marks the block at index i from a root (or a fiat like loader ownership) as reachable.
  void reach(uint32_t i) {
    if (blocks_[i].mark & kMarkReachable) return;
    blocks_[i].mark |= kMarkReachable;
    push(i);
  }

  // Scans [begin, end) as a root, minus the live blocks that overlap it.
  void scan_root(uintptr_t begin, uintptr_t end) {
    // First block ending after begin.
    size_t l = 0, r = count_;
    while (l < r) {
      size_t m = (l + r) / 2;
      if (blocks_[m].address + std::max<uint64_t>(blocks_[m].size, 1) <= begin) l = m + 1;
      else r = m;
    }
    uintptr_t cursor = begin;
    for (size_t i = l; i < count_ && blocks_[i].address < end && cursor < end; ++i) {
      const uintptr_t b = blocks_[i].address, e = b + std::max<uint64_t>(blocks_[i].size, 1);
      if (b > cursor) scan_range(cursor, b, kNone, true, Mode::kMark);
      cursor = std::max(cursor, e);
    }
    if (cursor < end) scan_range(cursor, end, kNone, true, Mode::kMark);
    ++stats_->root_ranges;
  }

  // Flood fill: scans every block on the work stack until it is empty.
  void drain() {
    while (top_ > 0) {
      const uint32_t i = work_[top_ - 1];
      top_ = top_ - 1;
      ScanBlock& b = blocks_[i];
      const bool definite = b.mark & kMarkReachable;
      const uint8_t done = definite ? kScannedReachable : kScannedPossible;
      if (b.mark & done) continue;
      b.mark |= done;
      stats_->block_bytes += b.size;
      scan_range(b.address, b.address + b.size, i, definite, Mode::kMark);
    }
  }

  // The unreachable blocks' graph, in compressed rows: node k is block node_block[k]; its
  // out-edges (to other unreachable blocks, any pointer into them, self excluded) are
  // edges[first[k] .. first[k+1]).
  bool build_graph() {
    nodes_ = 0;
    for (size_t i = 0; i < count_; ++i)
      if ((blocks_[i].mark & 3) == kUnreached) ++nodes_;
    if (nodes_ == 0) return true;
    if (!node_of_.map(count_) || !node_block_.map(nodes_) || !first_.map(nodes_ + 1) || !edges_.map(nodes_ * 2 + 1024))
      return false;
    uint32_t k = 0;
    for (size_t i = 0; i < count_; ++i) {
      node_of_[i] = kNone;
      if ((blocks_[i].mark & 3) == kUnreached) {
        node_of_[i] = k;
        node_block_[k++] = uint32_t(i);
      }
    }
    edge_count_ = 0;
    for (k = 0; k < nodes_; ++k) {
      first_[k] = edge_count_;
      const ScanBlock& b = blocks_[node_block_[k]];
      stats_->block_bytes += b.size;
      scan_range(b.address, b.address + b.size, node_block_[k], false, Mode::kEdges);
      if (graph_failed_) return false;
    }
    first_[nodes_] = edge_count_;
    return true;
  }

  // Definite or indirect for every unreachable block. Strongly connected components of the
  // graph (Tarjan, iterative); a component that no edge enters from outside is where a lost
  // structure begins: its lowest-addressed block is definitely lost, every other unreachable
  // block indirectly. A block nothing points to is such a component by itself; in a cycle
  // reached from a lost block every member is indirect (as LeakSanitizer says); a cycle nothing
  // outside points to yields one definite block (as Valgrind says; LeakSanitizer would call the
  // whole cycle indirect and report nothing as directly lost).
  bool classify_unreachable() {
    if (nodes_ == 0) return true;
    MappedArray<uint32_t> index, low, comp, tstack, cnode, cedge;
    MappedArray<uint8_t> entered, led;
    const size_t n = nodes_;
    bool ok = index.map(n) && low.map(n) && comp.map(n) && tstack.map(n) && cnode.map(n) && cedge.map(n) &&
              entered.map(n) && led.map(n);
    if (ok) {
      for (size_t v = 0; v < n; ++v) index[v] = comp[v] = kNone;
      uint32_t counter = 0, components = 0;
      size_t ttop = 0, ctop = 0;
      for (uint32_t root = 0; root < n; ++root) {
        if (index[root] != kNone) continue;
        auto open = [&](uint32_t v) {
          index[v] = low[v] = counter++;
          tstack[ttop++] = v;
          cnode[ctop] = v;
          cedge[ctop] = first_[v];
          ++ctop;
        };
        open(root);
        while (ctop > 0) {
          const uint32_t v = cnode[ctop - 1];
          if (cedge[ctop - 1] < first_[v + 1]) {
            const uint32_t w = edges_[cedge[ctop - 1]++];
            if (index[w] == kNone) open(w);
            else if (comp[w] == kNone) low[v] = std::min(low[v], index[w]);  // w is on tstack
            continue;
          }
          if (low[v] == index[v]) {
            uint32_t w;
            do {
              w = tstack[--ttop];
              comp[w] = components;
            } while (w != v);
            ++components;
          }
          --ctop;
          if (ctop > 0) {
            const uint32_t parent = cnode[ctop - 1];
            low[parent] = std::min(low[parent], low[v]);
          }
        }
      }
      for (uint32_t v = 0; v < n; ++v)
        for (uint32_t e = first_[v]; e < first_[v + 1]; ++e)
          if (comp[edges_[e]] != comp[v]) entered[comp[edges_[e]]] = 1;
      // Nodes are in address order, so the first member met of a source component is its
      // lowest-addressed block.
      for (uint32_t v = 0; v < n; ++v) {
        ScanBlock& b = blocks_[node_block_[v]];
        const uint32_t c = comp[v];
        if (!entered[c] && !led[c]) {
          led[c] = 1;
          b.kind = LeakKind::kDefinite;
        } else {
          b.kind = LeakKind::kIndirect;
        }
      }
    }
    index.unmap(), low.unmap(), comp.unmap(), tstack.unmap(), cnode.unmap(), cedge.unmap();
    entered.unmap(), led.unmap();
    return ok;
  }

  void release() {
    index_.unmap();
    work_.unmap();
    node_of_.unmap(), node_block_.unmap(), first_.unmap(), edges_.unmap();
  }

 private:
  void push(uint32_t i) {
    work_[top_] = i;
    compiler_barrier();  // the entry, and the mark set before the push, are in memory first
    top_ = top_ + 1;
  }

  MEMF_ALWAYS_INLINE void visit_mark(uintptr_t value, uint32_t source, bool definite) {
    bool start;
    const uint32_t i = lookup(value, &start);
    if (i == kNone || i == source) return;
    ScanBlock& b = blocks_[i];
    if (b.mark & kMarkReachable) return;
    if (definite && (start || counts_as_start(b, value))) {
      b.mark |= kMarkReachable;
      push(i);
    } else if (!(b.mark & kMarkPossible)) {
      b.mark |= kMarkPossible;
      push(i);
    }
  }

  MEMF_ALWAYS_INLINE void visit_edge(uintptr_t value, uint32_t source) {
    bool start;
    const uint32_t i = lookup(value, &start);
    if (i == kNone || i == source) return;
    const uint32_t target = node_of_[i];
    if (target == kNone) return;
    const size_t at = edge_count_;
    // Consecutive words pointing into the same block (a pointer and an end pointer): one edge.
    if (at > first_[node_of_[source]] && edges_[at - 1] == target) return;
    if (at >= UINT32_MAX - 1 || (at == edges_.capacity && !edges_.grow(at + 1))) {  // rows index edges by uint32
      graph_failed_ = true;
      return;
    }
    edges_[at] = target;
    compiler_barrier();
    edge_count_ = at + 1;
  }

  // Reads the aligned words of [begin, end) one page at a time. source is the block being
  // scanned (kNone for a root), definite whether what it points at by start pointer is
  // reachable. A fault skips to the next page.
  MEMF_NOINLINE void scan_range(uintptr_t begin, uintptr_t end, uint32_t source, bool definite, Mode mode) {
    volatile uintptr_t chunk = round_up(begin, kWord);
    if (sigsetjmp(g_fault.env, 0) != 0) {
      // Back from the handler: the signal may still be blocked (SA_NODEFER may not have been
      // honoured, e.g. by a sanitizer's sigaction); unblock it for the next fault.
      sigset_t faults;
      sigemptyset(&faults);
      sigaddset(&faults, SIGSEGV);
      sigaddset(&faults, SIGBUS);
      pthread_sigmask(SIG_UNBLOCK, &faults, nullptr);
      ++stats_->faults;
      chunk = (chunk & ~(kPageSize - 1)) + kPageSize;
    }
    while (chunk < end) {
      const uintptr_t from = chunk;
      const uintptr_t to = std::min<uintptr_t>(end, (from & ~(kPageSize - 1)) + kPageSize);
      g_fault.armed = true;
      compiler_barrier();
      if (mode == Mode::kMark) {
        for (uintptr_t w = from; w + kWord <= to; w += kWord)
          visit_mark(*reinterpret_cast<const volatile uintptr_t*>(w), source, definite);
      } else {
        for (uintptr_t w = from; w + kWord <= to; w += kWord)
          visit_edge(*reinterpret_cast<const volatile uintptr_t*>(w), source);
      }
      compiler_barrier();
      g_fault.armed = false;
      if (source == kNone) stats_->root_bytes += to - from;
      chunk = to;
    }
  }

  ScanBlock* blocks_;
  size_t count_;
  ScanStats* stats_;
  uintptr_t lo_ = 0, hi_ = 0;
  MappedArray<uint32_t> index_;
  uintptr_t index_base_ = 0, index_span_ = 0;  // span 0: no table
  unsigned index_shift_ = 0;
  MappedArray<uint32_t> work_;
  volatile size_t top_ = 0;
  // The unreachable blocks' graph.
  uint32_t nodes_ = 0;
  MappedArray<uint32_t> node_of_, node_block_, first_, edges_;
  volatile size_t edge_count_ = 0;
  bool graph_failed_ = false;
};


}  // namespace

bool classify_blocks(ScanBlock* blocks, size_t count, const AddressRange* roots, size_t root_count,
                     ScanStats* stats) {
  ScanStats local{};
  if (!stats) stats = &local;
  for (size_t i = 0; i < count; ++i) blocks[i].mark = kUnreached;
  Scanner scanner(blocks, count, stats);
  if (count > UINT32_MAX - 16 || !scanner.map_work(count)) return false;
  scanner.build_index();
  bool ok;
  {
    FaultScope faults;
    for (size_t i = 0; i < count; ++i)
      if (blocks[i].flags & (kScanBlockLoaderOwned | kScanBlockInternal)) scanner.reach(uint32_t(i));
    scanner.drain();
    for (size_t r = 0; r < root_count; ++r) {
      if (roots[r].end <= roots[r].begin) continue;
      scanner.scan_root(roots[r].begin, roots[r].end);
      scanner.drain();
    }
    for (size_t i = 0; i < count; ++i) {
      if (blocks[i].mark & kMarkReachable) blocks[i].kind = LeakKind::kReachable;
      else if (blocks[i].mark & kMarkPossible) blocks[i].kind = LeakKind::kPossible;
    }
    ok = scanner.build_graph();
  }
  ok = ok && scanner.classify_unreachable();
  scanner.release();
  return ok;
}

}  // namespace memf
