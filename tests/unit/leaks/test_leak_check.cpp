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

#include "accounting.hpp"
#include "leak_report.hpp"
#include "leak_scan.hpp"
#include "roots.hpp"
#include "scanner.hpp"

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

// --- random heaps against a reference classification ---------------------------------------------

namespace {

// The kinds by their definitions, computed the slow way: reachable = a chain of start pointers
// from a root; possible = reached through any pointers otherwise; among the rest, definite = the
// lowest-addressed block of each strongly connected component no other unreachable block points
// into, indirect = the others.
std::vector<LeakKind> reference_kinds(const std::vector<ScanBlock>& blocks, const std::vector<uintptr_t>& root_words) {
  const size_t n = blocks.size();
  auto find = [&](uintptr_t p, bool* start) -> long {
    for (size_t i = 0; i < n; ++i) {
      if (p == blocks[i].address) {
        *start = true;
        return long(i);
      }
      if (p > blocks[i].address && p < blocks[i].address + blocks[i].size) {
        *start = false;
        return long(i);
      }
    }
    return -1;
  };
  std::vector<std::vector<std::pair<size_t, bool>>> out(n);  // edges (target, is start pointer)
  for (size_t i = 0; i < n; ++i)
    for (uint64_t off = 0; off + 8 <= blocks[i].size; off += 8) {
      bool start;
      const long t = find(*reinterpret_cast<const uintptr_t*>(blocks[i].address + off), &start);
      if (t >= 0 && size_t(t) != i) out[i].push_back({size_t(t), start});
    }
  std::vector<int> state(n, 0);  // 0 none, 1 possible, 2 reachable
  std::vector<std::pair<size_t, bool>> frontier;
  for (uintptr_t w : root_words) {
    bool start;
    const long t = find(w, &start);
    if (t >= 0) frontier.push_back({size_t(t), start});
  }
  // Reachable first (start pointers only), then possible (anything from reached blocks).
  std::vector<size_t> stack;
  for (auto [t, start] : frontier)
    if (start && state[t] != 2) state[t] = 2, stack.push_back(t);
  while (!stack.empty()) {
    const size_t v = stack.back();
    stack.pop_back();
    for (auto [t, start] : out[v])
      if (start && state[t] != 2) state[t] = 2, stack.push_back(t);
  }
  for (auto [t, start] : frontier)
    if (state[t] == 0) state[t] = 1, stack.push_back(t);
  for (size_t v = 0; v < n; ++v)
    if (state[v] == 2) stack.push_back(v);
  while (!stack.empty()) {
    const size_t v = stack.back();
    stack.pop_back();
    for (auto [t, start] : out[v])
      if (state[t] == 0) state[t] = 1, stack.push_back(t);
  }
  std::vector<LeakKind> kinds(n, LeakKind::kIndirect);
  std::vector<size_t> lost;
  for (size_t v = 0; v < n; ++v) {
    if (state[v] == 2) kinds[v] = LeakKind::kReachable;
    else if (state[v] == 1) kinds[v] = LeakKind::kPossible;
    else lost.push_back(v);
  }
  // Closure over the lost blocks: reach[a][b] = b reachable from a (a itself included).
  const size_t m = lost.size();
  std::vector<long> slot(n, -1);
  for (size_t k = 0; k < m; ++k) slot[lost[k]] = long(k);
  std::vector<std::vector<bool>> reach(m, std::vector<bool>(m, false));
  for (size_t a = 0; a < m; ++a) {
    std::vector<size_t> todo{a};
    reach[a][a] = true;
    while (!todo.empty()) {
      const size_t v = todo.back();
      todo.pop_back();
      for (auto [t, start] : out[lost[v]])
        if (slot[t] >= 0 && !reach[a][size_t(slot[t])]) reach[a][size_t(slot[t])] = true, todo.push_back(size_t(slot[t]));
    }
  }
  for (size_t a = 0; a < m; ++a) {
    bool entered = false, lowest = true;
    for (size_t b = 0; b < m && !entered; ++b) {
      const bool same = reach[a][b] && reach[b][a];
      if (same && b < a) lowest = false;  // lost is in address order
      if (!same && reach[b][a]) entered = true;
    }
    kinds[lost[a]] = !entered && lowest ? LeakKind::kDefinite : LeakKind::kIndirect;
  }
  return kinds;
}

}  // namespace

TEST_CASE("random heaps: the scan agrees with the reference classification") {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
    INFO("seed " << seed);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull;
    auto next = [&x]() {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      return x;
    };
    // Dense "pool" blocks in one mapping, a few "large" ones in another far from it.
    const size_t pool_bytes = 4 << 20, large_bytes = 8 * page * 16;
    char* pool = static_cast<char*>(mmap(nullptr, pool_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    char* large = static_cast<char*>(mmap(nullptr, large_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(pool != MAP_FAILED);
    REQUIRE(large != MAP_FAILED);
    std::vector<ScanBlock> blocks;
    size_t cursor = 0;
    for (int i = 0; i < 1200; ++i) {
      const uint64_t size = 16 * (1 + next() % 8) - (next() % 4 == 0 ? 8 : 0);
      blocks.push_back(ScanBlock{uintptr_t(pool) + cursor, size, 0, kCategoryUnknown, LeakKind::kDefinite, 0, 0});
      cursor += size_t((size + 15) / 16 * 16) + 16 * (next() % 3);
    }
    for (int i = 0; i < 8; ++i)
      blocks.push_back(ScanBlock{uintptr_t(large) + size_t(i) * 16 * page, 3 * page, 0, kCategoryUnknown,
                                 LeakKind::kDefinite, 0, kScanBlockLarge});
    std::sort(blocks.begin(), blocks.end(), [](const ScanBlock& a, const ScanBlock& b) { return a.address < b.address; });
    // A value pointing at a random block: mostly its start, sometimes inside (at 24 bytes or
    // more: no new[]-cookie shape), sometimes one past its end.
    auto pointer = [&]() -> uintptr_t {
      const ScanBlock& t = blocks[next() % blocks.size()];
      const uint64_t r = next() % 10;
      if (r < 7 || t.size < 32) return t.address;
      if (r < 9) return t.address + 24 + next() % (t.size - 24);
      return t.address + t.size;
    };
    for (const ScanBlock& b : blocks) {
      auto* words = reinterpret_cast<uintptr_t*>(b.address);
      for (uint64_t w = 0; w < b.size / 8; ++w) words[w] = next() % 100 < 12 ? pointer() : (w == 0 ? 0 : next() % 4096);
    }
    std::vector<uintptr_t> root_words;
    for (int i = 0; i < 25; ++i) root_words.push_back(pointer());
    const std::vector<LeakKind> expected = reference_kinds(blocks, root_words);
    std::vector<ScanBlock> scanned = blocks;
    const AddressRange root{uintptr_t(root_words.data()), uintptr_t(root_words.data() + root_words.size())};
    REQUIRE(classify_blocks(scanned.data(), scanned.size(), &root, 1, nullptr));
    size_t mismatches = 0, by_kind[kLeakKinds] = {};
    for (size_t i = 0; i < blocks.size(); ++i) {
      mismatches += scanned[i].kind != expected[i];
      ++by_kind[unsigned(expected[i])];
    }
    CHECK(mismatches == 0);
    // The heaps exercise every kind.
    for (unsigned k = 0; k < kLeakKinds; ++k) CHECK(by_kind[k] > 0);
    munmap(pool, pool_bytes);
    munmap(large, large_bytes);
  }
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

// --- grouping, suppressions, formats --------------------------------------------------------------

namespace {

ReportFrame frame(const char* function, const char* module, const char* file = "", unsigned line = 0) {
  ReportFrame f;
  f.pc = 0x1000 + line;
  f.function = function;
  f.module = module;
  f.offset = 0x40 + line;
  f.file = file;
  f.line = line;
  return f;
}

// Stacks 1..4 of a made-up program; 5 is a library's.
std::vector<ReportFrame> fake_stack(uint32_t id) {
  switch (id) {
    case 1: return {frame("leak_one", "/bin/prog", "/src/prog.c", 10), frame("main", "/bin/prog", "/src/prog.c", 40)};
    case 2: return {frame("make_owner", "/bin/prog", "/src/prog.c", 20), frame("main", "/bin/prog", "/src/prog.c", 41)};
    case 3: return {frame("keep", "/bin/prog", "/src/prog.c", 30)};
    case 4: return {frame("interior", "/bin/prog", "/src/prog.c", 35)};
    case 5: return {frame("lib_init", "/usr/lib/libthing.so.1"), frame("main", "/bin/prog", "/src/prog.c", 42)};
  }
  return {};
}

ScanBlock classified(uintptr_t address, uint64_t size, uint32_t stack, LeakKind kind, uint8_t category = kCategoryUnknown) {
  return ScanBlock{address, size, stack, category, kind, 0, 0};
}

std::vector<ScanBlock> sample_blocks() {
  return {classified(0x1000, 100, 1, LeakKind::kDefinite), classified(0x2000, 50, 1, LeakKind::kDefinite),
          classified(0x3000, 16, 2, LeakKind::kDefinite), classified(0x4000, 200, 2, LeakKind::kIndirect),
          classified(0x5000, 300, 3, LeakKind::kReachable), classified(0x6000, 400, 4, LeakKind::kPossible),
          classified(0x7000, 1000, 5, LeakKind::kDefinite), classified(0x8000, 8, 1, LeakKind::kDefinite, 7)};
}

std::string namer(uint8_t tag) { return tag == kCategoryUnknown ? "Unknown" : "tag" + std::to_string(tag); }

const TextReportOptions kProgram{"/bin/prog", 42, false};

}  // namespace

TEST_CASE("suppression patterns: '*' globs, substring unless anchored") {
  CHECK(suppression_matches("leak_one", "leak_one"));
  CHECK(suppression_matches("leak", "my_leak_one"));
  CHECK(suppression_matches("^leak", "leak_one"));
  CHECK_FALSE(suppression_matches("^leak", "my_leak"));
  CHECK(suppression_matches("one$", "leak_one"));
  CHECK_FALSE(suppression_matches("one$", "one_more"));
  CHECK(suppression_matches("^lib*.so.1$", "libthing.so.1"));
  CHECK(suppression_matches("libthing*", "/usr/lib/libthing.so.1"));
  CHECK(suppression_matches("^a*b*c$", "axxbyyc"));
  CHECK_FALSE(suppression_matches("^a*b*c$", "axxbyy"));
  CHECK_FALSE(suppression_matches("", "anything"));
}

TEST_CASE("suppressions file: leak: lines, comments, and complaints about the rest") {
  Suppressions s;
  std::vector<std::string> problems;
  s.parse("# comment\n\nleak:lib_init\n  leak: make_owner  \nrace:foo\nleak:\n", &problems);
  REQUIRE(s.patterns().size() == 2);
  CHECK(s.patterns()[0] == "lib_init");
  CHECK(s.patterns()[1] == "make_owner");
  REQUIRE(problems.size() == 2);
  CHECK_THAT(problems[0], Catch::Contains("line 5"));
  CHECK(s.match(fake_stack(5)) == 0);
  CHECK(s.match(fake_stack(2)) == 1);
  CHECK(s.match(fake_stack(1)) == -1);
  Suppressions by_module;
  by_module.parse("leak:libthing.so\n");
  CHECK(by_module.match(fake_stack(5)) == 0);
  CHECK(by_module.match(fake_stack(3)) == -1);
  CHECK_FALSE(Suppressions().load("/nonexistent/memf-suppressions"));
}

TEST_CASE("stacks of reachable groups are symbolized only when asked for") {
  // Stack 1 is both leaked and reachable, stack 3 only reachable.
  std::vector<ScanBlock> blocks = sample_blocks();
  blocks.push_back(classified(0x9000, 64, 1, LeakKind::kReachable));
  std::vector<uint32_t> resolved;
  auto counting = [&](uint32_t id) {
    resolved.push_back(id);
    return fake_stack(id);
  };
  const LeakReport text_only = build_leak_report(blocks.data(), blocks.size(), Suppressions(), counting, false);
  std::sort(resolved.begin(), resolved.end());
  CHECK(resolved == std::vector<uint32_t>{1, 2, 4, 5});  // each shown stack once; 3 is not shown
  CHECK(text_only.stacks.at(1).size() == fake_stack(1).size());
  CHECK(text_only.stacks.at(3).empty());
  CHECK(text_only.totals[unsigned(LeakKind::kReachable)].count == 2);
  resolved.clear();
  const LeakReport with_json = build_leak_report(blocks.data(), blocks.size(), Suppressions(), counting, true);
  std::sort(resolved.begin(), resolved.end());
  CHECK(resolved == std::vector<uint32_t>{1, 2, 3, 4, 5});
  CHECK(with_json.stacks.at(3).size() == fake_stack(3).size());
}

TEST_CASE("groups: by kind, stack and category, summed, largest first within a kind") {
  const std::vector<ScanBlock> blocks = sample_blocks();
  const LeakReport r = build_leak_report(blocks.data(), blocks.size(), Suppressions(), fake_stack);
  REQUIRE(r.groups.size() == 7);
  // Definite: stack 5 (1000), stack 1 (150 in 2), stack 2 (16), stack 1 in category 7 (8).
  CHECK(r.groups[0].kind == LeakKind::kDefinite);
  CHECK(r.groups[0].stack_id == 5);
  CHECK(r.groups[1].stack_id == 1);
  CHECK(r.groups[1].bytes == 150);
  CHECK(r.groups[1].count == 2);
  CHECK(r.groups[2].stack_id == 2);
  CHECK(r.groups[3].category == 7);
  CHECK(r.groups[4].kind == LeakKind::kIndirect);
  CHECK(r.groups[5].kind == LeakKind::kPossible);
  CHECK(r.groups[6].kind == LeakKind::kReachable);
  CHECK(r.totals[unsigned(LeakKind::kDefinite)].bytes == 1174);
  CHECK(r.totals[unsigned(LeakKind::kDefinite)].count == 5);
  CHECK(r.totals[unsigned(LeakKind::kIndirect)].bytes == 200);
  CHECK(r.totals[unsigned(LeakKind::kPossible)].bytes == 400);
  CHECK(r.totals[unsigned(LeakKind::kReachable)].bytes == 300);
  CHECK(r.fails());
}

TEST_CASE("suppressed groups leave the totals, count as suppressed, and no longer fail the run") {
  std::vector<ScanBlock> blocks = sample_blocks();
  Suppressions s;
  s.parse("leak:main\n");  // every stack but 3 and 4 has main
  const LeakReport r = build_leak_report(blocks.data(), blocks.size(), s, fake_stack);
  CHECK(r.totals[unsigned(LeakKind::kDefinite)].count == 0);
  CHECK(r.totals[unsigned(LeakKind::kIndirect)].count == 0);
  CHECK(r.totals[unsigned(LeakKind::kPossible)].bytes == 400);
  CHECK(r.totals[unsigned(LeakKind::kReachable)].bytes == 300);  // never suppressed
  CHECK(r.suppressed.bytes == 1174 + 200);
  CHECK(r.suppressed.count == 6);
  REQUIRE(r.suppression_hits.size() == 1);
  CHECK(r.suppression_hits[0].count == 6);
  CHECK_FALSE(r.fails());
  // Nothing left to report: nothing written, the possibly lost block included.
  CHECK(format_leak_text(r, kProgram, namer).empty());
  const std::string text = format_leak_text(r, TextReportOptions{"/bin/prog", 42, true}, namer);
  CHECK(text.find("Direct leak") == std::string::npos);
  CHECK_THAT(text, Catch::StartsWith("\nmemf: no leaks in prog (pid 42); possibly lost blocks follow\n"));
  CHECK_THAT(text, Catch::Contains("Possibly lost 400 byte(s) in 1 object(s), reached only through interior pointers, allocated from:"));
  CHECK_THAT(text, Catch::Contains("      6       1374 main"));
  CHECK_THAT(text, Catch::EndsWith("suppressed 1374 in 6\n"));
}

TEST_CASE("text report: LeakSanitizer's layout, frames with file:line and module+offset, one summary line") {
  const std::vector<ScanBlock> blocks = sample_blocks();
  const LeakReport r = build_leak_report(blocks.data(), blocks.size(), Suppressions(), fake_stack);
  const std::string text = format_leak_text(r, kProgram, namer);
  CHECK_THAT(text, Catch::StartsWith("\nmemf: detected memory leaks in prog (pid 42)\n"));
  CHECK_THAT(text, Catch::Contains("Direct leak of 150 byte(s) in 2 object(s) allocated from:\n"
                                   "    #0 0x100a in leak_one /src/prog.c:10 (prog+0x4a)\n"
                                   "    #1 0x1028 in main /src/prog.c:40 (prog+0x68)\n"));
  CHECK_THAT(text, Catch::Contains("Direct leak of 8 byte(s) in 1 object(s) [category tag7] allocated from:"));
  CHECK_THAT(text, Catch::Contains("    #0 0x1000 in lib_init (libthing.so.1+0x40)\n"));
  CHECK_THAT(text, Catch::Contains("Indirect leak of 200 byte(s) in 1 object(s) allocated from:"));
  CHECK(text.find("Still reachable") == std::string::npos);
  // Possibly lost blocks are not leaks: neither listed (unless asked for) nor counted as leaked.
  CHECK(text.find("Possibly lost ") == std::string::npos);
  // Largest first: the 1000-byte group comes before the 150-byte one.
  CHECK(text.find("Direct leak of 1000") < text.find("Direct leak of 150"));
  CHECK_THAT(text, Catch::EndsWith("memf: SUMMARY: prog (pid 42): 1374 bytes leaked in 6 allocations (definite 1174 in 5, "
                                   "indirect 200 in 1); not counted: possibly lost 400 in 1, still reachable 300 in 1, "
                                   "suppressed 0 in 0\n"));
  CHECK(std::count(text.begin(), text.end(), '\n') > 10);
  const std::string with_possible = format_leak_text(r, TextReportOptions{"/bin/prog", 42, true}, namer);
  CHECK_THAT(with_possible, Catch::Contains("Possibly lost 400 byte(s) in 1 object(s), reached only through interior pointers, allocated from:"));
  CHECK(with_possible.find("Possibly lost ") > with_possible.find("Indirect leak of"));
}

TEST_CASE("text report without stacks says how to get them; a process without leaks gets no text") {
  std::vector<ScanBlock> blocks = {classified(0x1000, 64, 0, LeakKind::kDefinite)};
  LeakReport r = build_leak_report(blocks.data(), blocks.size(), Suppressions(), fake_stack);
  CHECK_THAT(format_leak_text(r, kProgram, namer), Catch::Contains("Direct leak of 64 byte(s) in 1 object(s) (allocation stacks are off; MEMF_STACKS=all records them)"));
  blocks = {classified(0x1000, 64, 3, LeakKind::kReachable), classified(0x2000, 32, 3, LeakKind::kPossible)};
  r = build_leak_report(blocks.data(), blocks.size(), Suppressions(), fake_stack);
  CHECK(format_leak_text(r, kProgram, namer).empty());
  CHECK_FALSE(r.fails());
}

TEST_CASE("memf's own blocks are neither leaks nor counted") {
  std::vector<ScanBlock> blocks = {classified(0x1000, 64, 1, LeakKind::kDefinite),
                                   classified(0x2000, 32, 1, LeakKind::kDefinite)};
  blocks[1].flags |= kScanBlockInternal;
  const LeakReport r = build_leak_report(blocks.data(), blocks.size(), Suppressions(), fake_stack);
  CHECK(r.totals[unsigned(LeakKind::kDefinite)].bytes == 64);
  CHECK(r.totals[unsigned(LeakKind::kDefinite)].count == 1);
  CHECK(r.groups.size() == 1);
}

TEST_CASE("JSON report: the brief's fields, escaped strings, totals") {
  const std::vector<ScanBlock> blocks = sample_blocks();
  Suppressions s;
  s.parse("leak:lib_init\n");
  const LeakReport r = build_leak_report(blocks.data(), blocks.size(), s, fake_stack);
  ReportProcess p;
  p.pid = 42;
  p.exe = "/bin/pr\"og\x01\xff";
  p.current_bytes = 5;
  p.categories.push_back({"Unknown", 1, 2, 3});
  p.stacks_mode = "all";
  const std::string json = format_leak_json(r, p, namer);
  CHECK_THAT(json, Catch::StartsWith("{\n  \"memf_report\": 1,\n  \"pid\": 42,\n  \"exe\": \"/bin/pr\\\"og\\u0001\\u00ff\","));
  CHECK_THAT(json, Catch::Contains("\"stats\": {\"current_bytes\": 5, \"peak_bytes\": 0, \"total_allocated_bytes\": 0, "
                                   "\"total_freed_bytes\": 0, \"allocations\": 0, \"frees\": 0}"));
  CHECK_THAT(json, Catch::Contains("{\"name\": \"Unknown\", \"current_bytes\": 1, \"peak_bytes\": 2, \"allocations\": 3}"));
  CHECK_THAT(json, Catch::Contains("{\"kind\": \"definite\", \"bytes\": 150, \"count\": 2, \"category\": \"Unknown\", "
                                   "\"stack_id\": 1, \"suppressed\": null, \"stack\": ["));
  CHECK_THAT(json, Catch::Contains("{\"function\": \"leak_one\", \"module\": \"/bin/prog\", \"offset\": 74, \"file\": "
                                   "\"/src/prog.c\", \"line\": 10, \"pc\": 4106, \"inlined\": false}"));
  CHECK_THAT(json, Catch::Contains("\"suppressed\": \"lib_init\""));
  CHECK_THAT(json, Catch::Contains("\"file\": null, \"line\": 0"));
  CHECK_THAT(json, Catch::Contains("\"leak_totals\": {\"definite\": {\"bytes\": 174, \"count\": 4}, \"indirect\": "
                                   "{\"bytes\": 200, \"count\": 1}, \"possible\": {\"bytes\": 400, \"count\": 1}, "
                                   "\"reachable\": {\"bytes\": 300, \"count\": 1}}"));
  CHECK_THAT(json, Catch::Contains("\"suppressed\": {\"bytes\": 1000, \"count\": 1}"));
  CHECK_THAT(json, Catch::Contains("\"suppressions\": [{\"pattern\": \"lib_init\", \"bytes\": 1000, \"count\": 1}]"));
  CHECK_THAT(json, Catch::EndsWith("}\n}\n"));
}

TEST_CASE("report paths: %p is the pid") {
  CHECK(expand_report_path("/tmp/memf.%p.json", 1234) == "/tmp/memf.1234.json");
  CHECK(expand_report_path("a%%p%p", 7) == "a%p7");
  CHECK(expand_report_path("plain", 7) == "plain");
}
