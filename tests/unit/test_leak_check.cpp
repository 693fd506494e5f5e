// The leak checker's classification on synthetic heaps: blocks carved out of memory this test
// maps itself, pointers written into them and into fake root ranges by hand, so every kind is
// known by construction.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "leak_check.hpp"

using namespace memf;

namespace {

// A mapped region that blocks are carved from and a separate root region.
class SyntheticHeap {
 public:
  explicit SyntheticHeap(size_t bytes = 1 << 20) : bytes_(bytes) {
    heap_ = static_cast<char*>(mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    roots_ = static_cast<char*>(mmap(nullptr, kRootBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(heap_ != MAP_FAILED);
    REQUIRE(roots_ != MAP_FAILED);
  }
  ~SyntheticHeap() {
    munmap(heap_, bytes_);
    munmap(roots_, kRootBytes);
  }

  // A block of size bytes, 16-aligned, placed after the previous one with a gap (so a pointer
  // one past a block's end is in no block). Returns its index.
  size_t block(size_t size) {
    const uintptr_t address = uintptr_t(heap_) + cursor_;
    cursor_ += (size + 15) / 16 * 16 + 32;
    REQUIRE(cursor_ <= bytes_);
    blocks_.push_back(ScanBlock{address, size, uint32_t(blocks_.size() + 1), kCategoryUnknown, LeakKind::kDefinite, 0, 0});
    return blocks_.size() - 1;
  }
  char* at(size_t i) { return reinterpret_cast<char*>(blocks_[i].address); }
  // Stores value into word `word` of block i.
  void store(size_t i, size_t word, uintptr_t value) {
    REQUIRE((word + 1) * 8 <= blocks_[i].size);
    reinterpret_cast<uintptr_t*>(at(i))[word] = value;
  }
  void link(size_t from, size_t word, size_t to, size_t offset = 0) { store(from, word, uintptr_t(at(to)) + offset); }
  // Puts a root word pointing at block i (+ offset).
  void root(size_t i, size_t offset = 0) { root_value(uintptr_t(at(i)) + offset); }
  void root_value(uintptr_t value) {
    REQUIRE(root_words_ * 8 < kRootBytes);
    reinterpret_cast<uintptr_t*>(roots_)[root_words_++] = value;
  }

  LeakKind kind(size_t i) const { return result_[i].kind; }
  const ScanStats& stats() const { return stats_; }

  // Classifies with the root region as the only root (plus extra ranges).
  void classify(std::vector<AddressRange> extra = {}) {
    result_ = blocks_;
    std::vector<AddressRange> roots{{uintptr_t(roots_), uintptr_t(roots_) + kRootBytes}};
    roots.insert(roots.end(), extra.begin(), extra.end());
    stats_ = ScanStats{};
    REQUIRE(classify_blocks(result_.data(), result_.size(), roots.data(), roots.size(), &stats_));
  }
  char* heap() { return heap_; }

 private:
  static constexpr size_t kRootBytes = 4096;
  size_t bytes_;
  char* heap_;
  char* roots_;
  size_t cursor_ = 64;
  size_t root_words_ = 0;
  std::vector<ScanBlock> blocks_;
  std::vector<ScanBlock> result_;
  ScanStats stats_{};
};

}  // namespace

TEST_CASE("start pointers from a root make a chain reachable; nothing else is") {
  SyntheticHeap h;
  const size_t a = h.block(64), b = h.block(32), c = h.block(100), lone = h.block(48);
  h.root(a);
  h.link(a, 3, b);
  h.link(b, 0, c);
  h.classify();
  CHECK(h.kind(a) == LeakKind::kReachable);
  CHECK(h.kind(b) == LeakKind::kReachable);
  CHECK(h.kind(c) == LeakKind::kReachable);
  CHECK(h.kind(lone) == LeakKind::kDefinite);
  CHECK(h.stats().block_bytes >= 64 + 32 + 100);
}

TEST_CASE("a lost block that owns others: one definite, the rest indirect") {
  SyntheticHeap h;
  const size_t owner = h.block(16), owned = h.block(200), owned2 = h.block(24);
  h.link(owner, 0, owned);
  h.link(owned, 5, owned2, 8);  // an interior pointer also makes a block indirect
  h.classify();
  CHECK(h.kind(owner) == LeakKind::kDefinite);
  CHECK(h.kind(owned) == LeakKind::kIndirect);
  CHECK(h.kind(owned2) == LeakKind::kIndirect);
}

TEST_CASE("interior pointers: possibly lost, and everything reached only through them") {
  SyntheticHeap h;
  const size_t p = h.block(400), q = h.block(64), upgraded = h.block(64), keeper = h.block(32);
  h.root(p, 40);
  h.link(p, 0, q);  // start pointer, but from a possible block: still possible
  h.link(p, 1, upgraded);
  // upgraded is also reached by a start pointer from a reachable block: reachable wins, in
  // whichever order the two are found.
  h.root(keeper);
  h.link(keeper, 2, upgraded);
  h.classify();
  CHECK(h.kind(p) == LeakKind::kPossible);
  CHECK(h.kind(q) == LeakKind::kPossible);
  CHECK(h.kind(upgraded) == LeakKind::kReachable);
  CHECK(h.kind(keeper) == LeakKind::kReachable);
}

TEST_CASE("a block reachable through a start pointer is reachable even if found first as possible") {
  SyntheticHeap h;
  const size_t target = h.block(64), child = h.block(16);
  h.link(target, 0, child);
  h.root(target, 24);  // found first through an interior pointer
  h.root(target);      // later through its start
  h.classify();
  CHECK(h.kind(target) == LeakKind::kReachable);
  CHECK(h.kind(child) == LeakKind::kReachable);  // rescanned after the upgrade
}

TEST_CASE("pointers one past the end, unaligned words and non-pointers reach nothing") {
  SyntheticHeap h;
  const size_t a = h.block(40), b = h.block(64), zero = h.block(0), zero_root = h.block(0);
  h.root(a, 40);  // one past the end of a 40-byte block
  // b's address stored at an unaligned position: the scan reads aligned words only.
  // The first 64 bytes of the synthetic heap are no block: an extra root.
  const uintptr_t address = uintptr_t(h.at(b));
  memcpy(h.heap() + 3, &address, sizeof address);
  h.root_value(12345);
  h.root(zero_root);  // a zero-size block is matched by its address
  h.classify({{uintptr_t(h.heap()), uintptr_t(h.heap()) + 64}});
  CHECK(h.kind(a) == LeakKind::kDefinite);
  CHECK(h.kind(b) == LeakKind::kDefinite);
  CHECK(h.kind(zero) == LeakKind::kDefinite);
  CHECK(h.kind(zero_root) == LeakKind::kReachable);
}

TEST_CASE("a block pointing at itself is still definitely lost") {
  SyntheticHeap h;
  const size_t self = h.block(32);
  h.link(self, 0, self);
  h.link(self, 1, self, 8);
  h.classify();
  CHECK(h.kind(self) == LeakKind::kDefinite);
}

TEST_CASE("a lost cycle nothing points to: its lowest-addressed block is definite, the rest indirect") {
  SyntheticHeap h;
  const size_t a = h.block(32), b = h.block(32), c = h.block(32), tail = h.block(16);
  h.link(a, 0, b);
  h.link(b, 0, c);
  h.link(c, 0, a);
  h.link(b, 1, tail);
  h.classify();
  CHECK(h.kind(a) == LeakKind::kDefinite);
  CHECK(h.kind(b) == LeakKind::kIndirect);
  CHECK(h.kind(c) == LeakKind::kIndirect);
  CHECK(h.kind(tail) == LeakKind::kIndirect);
}

TEST_CASE("a cycle pointed to by a lost block is wholly indirect") {
  SyntheticHeap h;
  const size_t x = h.block(32), y = h.block(32), head = h.block(16);
  h.link(x, 0, y);
  h.link(y, 0, x);
  h.link(head, 0, y);
  h.classify();
  CHECK(h.kind(head) == LeakKind::kDefinite);
  CHECK(h.kind(x) == LeakKind::kIndirect);
  CHECK(h.kind(y) == LeakKind::kIndirect);
}

TEST_CASE("lost cycles: only those no other lost block points into yield a definite block") {
  SyntheticHeap h;
  // Cycle 1 (c1a <-> c1b) points into cycle 2 (c2a <-> c2b); cycle 3 stands alone. A shared
  // child s is pointed to from both cycle 1 and cycle 3. Cycle 2 has the lowest addresses, so a
  // scheme picking leaders in address order without looking at incoming edges would pick it.
  const size_t c2a = h.block(32), c2b = h.block(32), c1a = h.block(32), c1b = h.block(32);
  const size_t c3a = h.block(32), c3b = h.block(32), s = h.block(16);
  h.link(c2a, 0, c2b);
  h.link(c2b, 0, c2a);
  h.link(c1a, 0, c1b);
  h.link(c1b, 0, c1a);
  h.link(c1b, 1, c2b);
  h.link(c3a, 0, c3b);
  h.link(c3b, 0, c3a);
  h.link(c1a, 1, s);
  h.link(c3a, 1, s);
  h.classify();
  CHECK(h.kind(c1a) == LeakKind::kDefinite);
  CHECK(h.kind(c1b) == LeakKind::kIndirect);
  CHECK(h.kind(c2a) == LeakKind::kIndirect);
  CHECK(h.kind(c2b) == LeakKind::kIndirect);
  CHECK(h.kind(c3a) == LeakKind::kDefinite);
  CHECK(h.kind(c3b) == LeakKind::kIndirect);
  CHECK(h.kind(s) == LeakKind::kIndirect);
}

TEST_CASE("a long lost list is one definite head and indirect nodes (no recursion limit)") {
  SyntheticHeap h(64 << 20);
  constexpr size_t kNodes = 200000;
  std::vector<size_t> nodes;
  for (size_t i = 0; i < kNodes; ++i) nodes.push_back(h.block(16));
  // Linked from the highest address down, and a doubly linked tail, so both traversal orders
  // and deep component stacks are exercised.
  for (size_t i = kNodes - 1; i > 0; --i) h.link(nodes[i], 0, nodes[i - 1]);
  for (size_t i = 0; i + 1 < kNodes; ++i) h.link(nodes[i], 1, nodes[i + 1]);
  h.classify();
  size_t definite = 0, indirect = 0;
  for (size_t n : nodes) (h.kind(n) == LeakKind::kDefinite ? definite : indirect) += 1;
  CHECK(definite == 1);  // one big cycle: its lowest block
  CHECK(indirect == kNodes - 1);
  CHECK(h.kind(nodes[0]) == LeakKind::kDefinite);
}

TEST_CASE("a long reachable list is reachable to its end") {
  SyntheticHeap h(64 << 20);
  constexpr size_t kNodes = 200000;
  std::vector<size_t> nodes;
  for (size_t i = 0; i < kNodes; ++i) nodes.push_back(h.block(16));
  for (size_t i = 0; i + 1 < kNodes; ++i) h.link(nodes[i], 0, nodes[i + 1]);
  h.root(nodes[0]);
  h.classify();
  CHECK(h.kind(nodes[kNodes - 1]) == LeakKind::kReachable);
  CHECK(std::all_of(nodes.begin(), nodes.end(), [&](size_t n) { return h.kind(n) == LeakKind::kReachable; }));
}

TEST_CASE("interior pointers of new[] arrays and dtv blocks count as start pointers") {
  SyntheticHeap h;
  // new T[5] with sizeof(T) == 24 and a destructor: 8-byte count, then the elements.
  const size_t array = h.block(8 + 5 * 24), not_array = h.block(8 + 5 * 24), dtv = h.block(16 * 10);
  h.store(array, 0, 5);
  h.store(not_array, 0, 7);  // 120 is no multiple of 7: no array cookie
  h.store(dtv, 0, 8);        // 8 + 2 entries of 16 bytes
  h.root(array, 8);
  h.root(not_array, 8);
  h.root(dtv, 16);
  h.classify();
  CHECK(h.kind(array) == LeakKind::kReachable);
  CHECK(h.kind(not_array) == LeakKind::kPossible);
  CHECK(h.kind(dtv) == LeakKind::kReachable);
}

TEST_CASE("blocks inside a root range are not scanned as roots") {
  SyntheticHeap h;
  const size_t inner = h.block(64), pointee = h.block(32), outer_target = h.block(32);
  h.link(inner, 0, pointee);
  // A root covering the whole synthetic heap: it contains inner (whose pointer to pointee must
  // not count) and, before the first block, a word pointing at outer_target (which counts).
  reinterpret_cast<uintptr_t*>(h.heap())[1] = uintptr_t(h.at(outer_target));
  h.classify({{uintptr_t(h.heap()), uintptr_t(h.at(outer_target)) + 4096}});
  CHECK(h.kind(outer_target) == LeakKind::kReachable);
  CHECK(h.kind(inner) == LeakKind::kDefinite);
  CHECK(h.kind(pointee) == LeakKind::kIndirect);
}

TEST_CASE("loader-owned blocks are reachable and keep what they point to") {
  SyntheticHeap h;
  const size_t loader = h.block(64), kept = h.block(32);
  h.link(loader, 0, kept);
  h.classify();
  CHECK(h.kind(loader) == LeakKind::kDefinite);
  // Same heap with the flag set.
  ScanBlock set[2] = {};
  set[0] = ScanBlock{uintptr_t(h.at(loader)), 64, 1, kCategoryUnknown, LeakKind::kDefinite, 0, kScanBlockLoaderOwned};
  set[1] = ScanBlock{uintptr_t(h.at(kept)), 32, 2, kCategoryUnknown, LeakKind::kDefinite, 0, 0};
  REQUIRE(classify_blocks(set, 2, nullptr, 0, nullptr));
  CHECK(set[0].kind == LeakKind::kReachable);
  CHECK(set[1].kind == LeakKind::kReachable);
}

TEST_CASE("unreadable memory in a root or a block is skipped, not a crash") {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  char* region = static_cast<char*>(mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  REQUIRE(region != MAP_FAILED);
  SyntheticHeap h;
  const size_t before = h.block(16), after = h.block(16), lost = h.block(16);
  // Root = 3 pages: pointer to `before` in page 0, page 1 unreadable, pointer to `after` in page 2.
  reinterpret_cast<uintptr_t*>(region)[0] = uintptr_t(h.at(before));
  reinterpret_cast<uintptr_t*>(region + 2 * page)[5] = uintptr_t(h.at(after));
  // A block whose memory (page 3) is unreadable, reached from the root.
  ScanBlock blocks[4];
  blocks[0] = ScanBlock{uintptr_t(h.at(before)), 16, 1, kCategoryUnknown, LeakKind::kDefinite, 0, 0};
  blocks[1] = ScanBlock{uintptr_t(h.at(after)), 16, 2, kCategoryUnknown, LeakKind::kDefinite, 0, 0};
  blocks[2] = ScanBlock{uintptr_t(h.at(lost)), 16, 3, kCategoryUnknown, LeakKind::kDefinite, 0, 0};
  blocks[3] = ScanBlock{uintptr_t(region + 3 * page), 64, 4, kCategoryUnknown, LeakKind::kDefinite, 0, 0};
  std::sort(blocks, blocks + 4, [](const ScanBlock& a, const ScanBlock& b) { return a.address < b.address; });
  reinterpret_cast<uintptr_t*>(region)[1] = uintptr_t(region + 3 * page);
  REQUIRE(mprotect(region + page, page, PROT_NONE) == 0);
  REQUIRE(mprotect(region + 3 * page, page, PROT_NONE) == 0);
  const AddressRange root{uintptr_t(region), uintptr_t(region) + 3 * page};
  struct sigaction before_scan {};
  REQUIRE(sigaction(SIGSEGV, nullptr, &before_scan) == 0);
  ScanStats stats{};
  REQUIRE(classify_blocks(blocks, 4, &root, 1, &stats));
  auto kind_of = [&](uintptr_t address) {
    for (const ScanBlock& b : blocks)
      if (b.address == address) return b.kind;
    FAIL("no such block");
    return LeakKind::kDefinite;
  };
  CHECK(kind_of(uintptr_t(h.at(before))) == LeakKind::kReachable);
  CHECK(kind_of(uintptr_t(h.at(after))) == LeakKind::kReachable);
  CHECK(kind_of(uintptr_t(region + 3 * page)) == LeakKind::kReachable);
  CHECK(kind_of(uintptr_t(h.at(lost))) == LeakKind::kDefinite);
  CHECK(stats.faults == 2);
  // The previous SIGSEGV disposition is back: a fault now is not swallowed by the scanner.
  struct sigaction after_scan {};
  REQUIRE(sigaction(SIGSEGV, nullptr, &after_scan) == 0);
  CHECK(after_scan.sa_handler == before_scan.sa_handler);
  munmap(region, 4 * page);
}

// --- roots of this process ----------------------------------------------------------------------

namespace {
uintptr_t g_test_global = 1;
thread_local uintptr_t t_test_tls = 2;

bool covered(const std::vector<AddressRange>& roots, uintptr_t address) {
  for (const AddressRange& r : roots)
    if (address >= r.begin && address + 8 <= r.end) return true;
  return false;
}
}  // namespace

TEST_CASE("the process's roots cover globals, the stack in use, and static TLS; they are sorted and disjoint") {
  std::vector<AddressRange> roots(1 << 16);
  volatile uintptr_t local = 3;
  uintptr_t sp;
  asm volatile("mov %%rsp, %0" : "=r"(sp));
  const size_t n = collect_roots(roots.data(), roots.size(), sp);
  REQUIRE(n > 0);
  REQUIRE(n <= roots.size());
  roots.resize(n);
  CHECK(covered(roots, uintptr_t(&g_test_global)));
  CHECK(covered(roots, uintptr_t(&local)));
  CHECK(covered(roots, uintptr_t(&t_test_tls)));
  // Below the stack pointer (dead frames) is no root.
  CHECK_FALSE(covered(roots, sp - 256));
  for (size_t i = 1; i < roots.size(); ++i) CHECK(roots[i - 1].end < roots[i].begin);
  for (const AddressRange& r : roots) CHECK(r.begin % 8 == 0);
}

TEST_CASE("kind names are the report's words") {
  CHECK(std::string(leak_kind_name(LeakKind::kDefinite)) == "definite");
  CHECK(std::string(leak_kind_name(LeakKind::kIndirect)) == "indirect");
  CHECK(std::string(leak_kind_name(LeakKind::kPossible)) == "possible");
  CHECK(std::string(leak_kind_name(LeakKind::kReachable)) == "reachable");
}
