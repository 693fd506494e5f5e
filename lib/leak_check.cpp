#include "leak_check.hpp"

#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <mimalloc.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "platform.hpp"
#include "stack_depot.hpp"
#include "tracker.hpp"

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

// --- mapped scratch arrays -----------------------------------------------------------------------

template <class T>
struct MappedArray {
  T* data = nullptr;
  size_t capacity = 0;  // elements
  size_t bytes = 0;

  bool map(size_t n) {
    bytes = round_up(std::max<size_t>(n, 1) * sizeof(T), kPageSize);
    data = static_cast<T*>(os::map(bytes));
    capacity = data ? bytes / sizeof(T) : 0;
    return data != nullptr;
  }
  // Grows to at least n elements, keeping the contents (mremap: no malloc, no copy).
  bool grow(size_t n) {
    if (n <= capacity) return true;
    size_t new_bytes = round_up(std::max(n * sizeof(T), bytes * 2), kPageSize);
    void* p = os::remap(data, bytes, new_bytes);
    if (!p) return false;
    data = static_cast<T*>(p);
    bytes = new_bytes;
    capacity = bytes / sizeof(T);
    return true;
  }
  void unmap() {
    if (data) os::unmap(data, bytes);
    data = nullptr;
    capacity = bytes = 0;
  }
  T& operator[](size_t i) { return data[i]; }
};

// --- fault recovery ------------------------------------------------------------------------------
// Another thread may free (and unmap) a large block, or end and unmap its stack, while this one
// reads it. A read that faults jumps back into the scan_range call that made it, which goes on at
// the next page. Only faults of the scanning thread while a range is being read are caught; any
// other SIGSEGV/SIGBUS goes to the handler that was installed before.

struct FaultGuard {
  sigjmp_buf env;
  volatile pid_t tid;    // the scanning thread
  volatile bool armed;   // env belongs to a live scan_range frame
  struct sigaction old_segv;
  struct sigaction old_bus;
};
constinit FaultGuard g_fault{};

void on_fault(int sig, siginfo_t*, void*) {
  if (g_fault.armed && pid_t(syscall(SYS_gettid)) == g_fault.tid) {
    g_fault.armed = false;
    siglongjmp(g_fault.env, 1);
  }
  // Not ours: restore the previous disposition; returning re-executes the faulting access.
  sigaction(sig, sig == SIGSEGV ? &g_fault.old_segv : &g_fault.old_bus, nullptr);
}

class FaultScope {
 public:
  FaultScope() {
    g_fault.tid = pid_t(syscall(SYS_gettid));
    g_fault.armed = false;
    struct sigaction action {};
    action.sa_sigaction = on_fault;
    // SA_NODEFER: siglongjmp out of the handler does not restore the signal mask (sigsetjmp
    // saving the mask would cost a system call per range), so the signal must stay unblocked
    // (scan_range unblocks it after a fault as well).
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    // Should this fail, a fault while reading is fatal as it would be without the scope.
    sigaction(SIGSEGV, &action, &g_fault.old_segv);
    sigaction(SIGBUS, &action, &g_fault.old_bus);
  }
  ~FaultScope() {
    g_fault.armed = false;
    sigaction(SIGSEGV, &g_fault.old_segv, nullptr);
    sigaction(SIGBUS, &g_fault.old_bus, nullptr);
  }
  FaultScope(const FaultScope&) = delete;
  FaultScope& operator=(const FaultScope&) = delete;
};

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
      if (blocks[i].flags & kScanBlockLoaderOwned) scanner.reach(uint32_t(i));
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


// --- this process's roots ------------------------------------------------------------------------

namespace {

// A thread-local of memf's own: its address is in the calling thread's static TLS block.
constinit __thread uintptr_t t_tls_probe MEMF_TLS = 0;

constexpr size_t kMaxRootRanges = 1 << 16;
constexpr size_t kMaxThreadHints = 1 << 14;
constexpr size_t kMaxMetadataRanges = 1 << 12;
// A thread stack mapping larger than this is no ordinary stack (a stack inside some larger
// mapping): only this much around the hint is scanned, on each side.
constexpr uintptr_t kMaxStackScan = uintptr_t(64) << 20;
constexpr uintptr_t kTcbScan = 4096;  // glibc's thread descriptor above the thread pointer

struct Mapping {
  uintptr_t begin;
  uintptr_t end;
  bool readable;
  bool heap;  // [heap]
};

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

uintptr_t parse_hex(const char*& p, const char* end) {
  uintptr_t v = 0;
  for (; p < end; ++p) {
    const char c = *p;
    unsigned d;
    if (c >= '0' && c <= '9') d = unsigned(c - '0');
    else if (c >= 'a' && c <= 'f') d = unsigned(c - 'a' + 10);
    else break;
    v = v * 16 + d;
  }
  return v;
}

// /proc/self/maps, read with raw system calls into mapped memory and parsed in place.
class Maps {
 public:
  bool read() {
    const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    if (!text_.map(1 << 20)) {
      close(fd);
      return false;
    }
    size_t used = 0;
    for (;;) {
      if (used == text_.capacity && !text_.grow(used * 2)) break;
      const ssize_t n = ::read(fd, text_.data + used, text_.capacity - used);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      used += size_t(n);
    }
    close(fd);
    size_t lines = 0;
    for (size_t i = 0; i < used; ++i) lines += text_[i] == '\n';
    if (!list_.map(lines + 1)) return false;
    const char* p = text_.data;
    const char* const end = text_.data + used;
    while (p < end) {
      const char* eol = static_cast<const char*>(memchr(p, '\n', size_t(end - p)));
      if (!eol) eol = end;
      Mapping m{};
      m.begin = parse_hex(p, eol);
      if (p < eol && *p == '-') ++p;
      m.end = parse_hex(p, eol);
      if (p < eol && *p == ' ') ++p;
      m.readable = p < eol && *p == 'r';
      static constexpr char kHeap[] = "[heap]";
      constexpr size_t kHeapLength = sizeof(kHeap) - 1;
      m.heap = size_t(eol - p) >= kHeapLength && memcmp(eol - kHeapLength, kHeap, kHeapLength) == 0;
      if (m.end > m.begin && count_ < list_.capacity) list_[count_++] = m;
      p = eol + 1;
    }
    return true;
  }
  // The mapping containing address, nullptr if none (the list is sorted by address).
  const Mapping* find(uintptr_t address) const {
    size_t l = 0, r = count_;
    while (l < r) {
      size_t m = (l + r) / 2;
      if (list_.data[m].end <= address) l = m + 1;
      else r = m;
    }
    return l < count_ && list_.data[l].begin <= address ? &list_.data[l] : nullptr;
  }
  size_t size() const { return count_; }
  const Mapping& operator[](size_t i) const { return list_.data[i]; }
  void release() {
    text_.unmap();
    list_.unmap();
  }
  AddressRange text_range() const {
    return {uintptr_t(text_.data), uintptr_t(text_.data) + text_.bytes};
  }
  AddressRange list_range() const {
    return {uintptr_t(list_.data), uintptr_t(list_.data) + list_.bytes};
  }

 private:
  MappedArray<char> text_;
  MappedArray<Mapping> list_;
  size_t count_ = 0;
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

uintptr_t thread_pointer() {
  uintptr_t tp;
  asm("mov %%fs:0, %0" : "=r"(tp));
  return tp;
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

size_t collect_roots_excluding(AddressRange* out, size_t capacity, uintptr_t stack_pointer,
                               const AddressRange* extra_excluded, size_t extra_count) {
  RootSink sink(out, capacity);
  const uintptr_t tp = thread_pointer();
  ModuleWalk walk{&sink, uintptr_t(&collect_roots), uintptr_t(&mi_malloc), tp, 0, true, {}, 0};
  dl_iterate_phdr(add_module_roots, &walk);

  Maps maps;
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
  if (excluded.map(kMaxMetadataRanges + extra_count + walk.skipped_count + 2)) {
    e = std::min(allocator_metadata_ranges(excluded.data, kMaxMetadataRanges), size_t(kMaxMetadataRanges));
    for (size_t i = 0; i < extra_count; ++i) excluded[e++] = extra_excluded[i];
    for (size_t i = 0; i < walk.skipped_count; ++i) excluded[e++] = walk.skipped[i];
    if (maps.size()) {
      excluded[e++] = maps.text_range();
      excluded[e++] = maps.list_range();
    }
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

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

}  // namespace

size_t collect_roots(AddressRange* out, size_t capacity, uintptr_t stack_pointer) {
  return collect_roots_excluding(out, capacity, stack_pointer, nullptr, 0);
}

namespace {

// The scan proper, in a frame below the stack pointer scan_process hands it: its temporaries
// (block addresses while sorting, say) are then not roots. Before this split a large block whose
// address the sort had left in scan_process's own frame was reported as still reachable.
MEMF_NOINLINE bool scan_below(LeakScan* scan, uintptr_t sp) {
  *scan = LeakScan{};
  const uint64_t start = monotonic_ns();
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
  // and reuse) would break the binary search: it is dropped. So are the blocks of an earlier
  // report (memf_report_write): the symbolizer's caches live on, referenced from memf's own
  // data, which is no root.
  const uint8_t internal = category_intern(kReportCategory);
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    if (internal != kCategoryUnknown && blocks[i].category == internal) continue;
    if (kept > 0) {
      const ScanBlock& prev = blocks[kept - 1];
      if (blocks[i].address < prev.address + std::max<uint64_t>(prev.size, 1)) continue;
    }
    blocks[kept++] = blocks[i];
  }

  // The dynamic linker's blocks: by allocation stack where there is one, by shape for dtvs.
  LoaderText loader{getauxval(AT_BASE), {}, 0};
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
  scan->elapsed_ns = monotonic_ns() - start;
  return true;
}

}  // namespace

// noinline: the registers spilled here and the stack pointer taken here belong to this frame,
// which stays live (above every callee's frame) while the roots are scanned; the frame holds
// nothing else.
MEMF_NOINLINE bool scan_process(LeakScan* scan) {
  jmp_buf registers;
  setjmp(registers);
  __builtin_unwind_init();
  uintptr_t sp;
  asm volatile("mov %%rsp, %0" : "=r"(sp));
  asm volatile("" : : "r"(&registers) : "memory");
  const bool ok = scan_below(scan, sp);
  asm volatile("" : : "r"(&registers) : "memory");  // the spilled registers stay until the scan ends
  return ok;
}

void release_scan(LeakScan* scan) {
  if (scan->blocks) os::unmap(scan->blocks, scan->mapped_bytes);
  *scan = LeakScan{};
}

}  // namespace memf
