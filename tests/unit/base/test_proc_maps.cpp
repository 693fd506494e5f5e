// base/proc_maps: the one /proc/self/maps parser (the stack bounds inside malloc, the leak
// checker's roots), checked against mappings the test makes itself.
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include "compiler.hpp"
#include "proc_maps.hpp"

using namespace memf;

namespace {

// Three pages reserved PROT_NONE, the middle one made readable: the kernel cannot merge the
// middle page with a neighbour, so its line in maps has exactly its bounds; the pages around it
// are mappings that are not readable.
struct GuardedPage {
  char* region = nullptr;
  GuardedPage() {
    void* p = mmap(nullptr, 3 * kPageSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    region = static_cast<char*>(p);
    REQUIRE(mprotect(region + kPageSize, kPageSize, PROT_READ | PROT_WRITE) == 0);
  }
  ~GuardedPage() { munmap(region, 3 * kPageSize); }
  uintptr_t begin() const { return uintptr_t(region + kPageSize); }
  uintptr_t end() const { return uintptr_t(region + 2 * kPageSize); }
};

// A page with no mapping: the middle of three pages, unmapped (this test makes no threads, so
// nothing maps it again meanwhile).
struct Hole {
  char* region = nullptr;
  Hole() {
    void* p = mmap(nullptr, 3 * kPageSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    region = static_cast<char*>(p);
    REQUIRE(munmap(region + kPageSize, kPageSize) == 0);
  }
  ~Hole() {
    munmap(region, kPageSize);
    munmap(region + 2 * kPageSize, kPageSize);
  }
  uintptr_t address() const { return uintptr_t(region + kPageSize + 100); }
};

bool same(const Mapping& a, const Mapping& b) {
  return a.begin == b.begin && a.end == b.end && a.readable == b.readable && a.heap == b.heap;
}

int g_in_data = 1;

}  // namespace

TEST_CASE("find_mapping finds a mapping made here with its exact bounds and permissions") {
  GuardedPage page;
  Mapping m{};
  for (uintptr_t address : {page.begin(), page.begin() + 1234, page.end() - 1}) {
    INFO("offset " << address - page.begin());
    REQUIRE(find_mapping(address, &m));
    REQUIRE(m.begin == page.begin());
    REQUIRE(m.end == page.end());
    REQUIRE(m.readable);
    REQUIRE_FALSE(m.heap);
  }
  // The guard pages are mappings of their own, not readable; they end and start at the page.
  REQUIRE(find_mapping(page.begin() - 1, &m));
  REQUIRE(m.end == page.begin());
  REQUIRE_FALSE(m.readable);
  REQUIRE(find_mapping(page.end(), &m));
  REQUIRE(m.begin == page.end());
  REQUIRE_FALSE(m.readable);
}

TEST_CASE("an address in no mapping is not found, by find_mapping or a snapshot") {
  Hole hole;
  Mapping m{1, 2, true, true};
  REQUIRE_FALSE(find_mapping(hole.address(), &m));
  REQUIRE(m.begin == 1);  // untouched when nothing is found
  REQUIRE_FALSE(find_mapping(16, &m));  // page zero is never mapped
  MapsSnapshot snapshot;
  REQUIRE(snapshot.read());
  REQUIRE(snapshot.find(hole.address()) == nullptr);
  REQUIRE(snapshot.find(16) == nullptr);
  // The pages either side of the hole are found and end (start) at it.
  REQUIRE(find_mapping(uintptr_t(hole.region), &m));
  REQUIRE(m.end == uintptr_t(hole.region + kPageSize));
  const Mapping* above = snapshot.find(uintptr_t(hole.region + 2 * kPageSize));
  REQUIRE(above != nullptr);
  REQUIRE(above->begin == uintptr_t(hole.region + 2 * kPageSize));
  snapshot.release();
}

TEST_CASE("a maps snapshot is sorted and disjoint and agrees with find_mapping, the stack and [heap] included") {
  GuardedPage page;
  // A brk heap of this process's own: the [heap] mapping then exists (whatever malloc uses).
  char* brk_page = static_cast<char*>(sbrk(intptr_t(kPageSize)));
  REQUIRE(brk_page != reinterpret_cast<char*>(-1));
  brk_page[0] = 1;
  int on_stack = 0;
  Mapping stack{};
  REQUIRE(find_mapping(uintptr_t(&on_stack), &stack));  // the stack is as deep as it gets here

  MapsSnapshot snapshot;
  REQUIRE(snapshot.read());
  REQUIRE(snapshot.size() > 5);
  for (size_t i = 0; i < snapshot.size(); ++i) {
    REQUIRE(snapshot[i].begin < snapshot[i].end);
    if (i > 0) REQUIRE(snapshot[i - 1].end <= snapshot[i].begin);
  }
  // The snapshot's own memory was mapped before the reading: it lists itself.
  REQUIRE(snapshot.find(snapshot.own_range().begin) != nullptr);

  const uintptr_t addresses[] = {uintptr_t(&on_stack), uintptr_t(brk_page), uintptr_t(&g_in_data),
                                 uintptr_t(&find_mapping), page.begin(), page.end() - 8};
  for (uintptr_t address : addresses) {
    INFO("address " << std::hex << address);
    Mapping found{};
    REQUIRE(find_mapping(address, &found));
    const Mapping* listed = snapshot.find(address);
    REQUIRE(listed != nullptr);
    REQUIRE(same(found, *listed));
    REQUIRE(listed->begin <= address);
    REQUIRE(address < listed->end);
    REQUIRE(listed->readable);
  }
  REQUIRE(snapshot.find(uintptr_t(brk_page))->heap);
  REQUIRE_FALSE(snapshot.find(uintptr_t(&on_stack))->heap);
  REQUIRE_FALSE(snapshot.find(page.begin())->heap);
  REQUIRE(same(stack, *snapshot.find(uintptr_t(&on_stack))));
  // Exactly one [heap] line.
  size_t heaps = 0;
  for (size_t i = 0; i < snapshot.size(); ++i) heaps += snapshot[i].heap;
  REQUIRE(heaps == 1);
  snapshot.release();
  REQUIRE(snapshot.size() == 0);
}

TEST_CASE("for_each_mapping visits in address order and stops when told") {
  struct Walk {
    size_t visits = 0;
    uintptr_t last_end = 0;
    bool ordered = true;
    size_t stop_after = SIZE_MAX;
  };
  auto visit = [](const Mapping& m, void* context) {
    auto* w = static_cast<Walk*>(context);
    w->ordered = w->ordered && w->last_end <= m.begin && m.begin < m.end;
    w->last_end = m.end;
    return ++w->visits < w->stop_after;
  };
  Walk all;
  REQUIRE(for_each_mapping(visit, &all));
  REQUIRE(all.ordered);
  REQUIRE(all.visits > 5);
  Walk two;
  two.stop_after = 2;
  REQUIRE(for_each_mapping(visit, &two));
  REQUIRE(two.visits == 2);
}
