// The heap profile's exact mode in-process, through the engine's entry points: malloc and operator
// new take exact mode's lane (one call that captures and records), calloc, tagged threads and
// refills take the general path, and both give every site its exact figures at its own call site.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "allocation_stacks.hpp"
#include "core/misuse_test_util.hpp"
#include "central.hpp"
#include "engine.hpp"
#include "heap_profile.hpp"
#include "stack_depot.hpp"
#include "symbolizer.hpp"
#include "thread_cache.hpp"

using namespace memf;

namespace {

void start_once() {
  static const bool started = [] {
    REQUIRE(allocation_stacks_init());
    REQUIRE(engine_record_every_allocation(capture_profile_stack));
    return heap_profile_start(ProfileMode::kExact, 0, capture_profile_stack);
  }();
  REQUIRE(started);
}

// Each site allocates one request size no other site uses, so that its figures can be found. The
// sites keep a frame record: in a function without one, rbp may hold the loop's own values, and
// the frame-pointer walk would then read a different stray frame on every allocation.
#define SITE __attribute__((noinline, optimize("no-omit-frame-pointer")))
SITE void malloc_site(std::vector<void*>& kept, int n) {
  for (int i = 0; i < n; ++i) kept.push_back(engine_malloc(40));
}
SITE void new_site(std::vector<void*>& kept, int n) {
  for (int i = 0; i < n; ++i) kept.push_back(engine_new(72));
}
SITE void calloc_site(std::vector<void*>& kept, int n) {
  for (int i = 0; i < n; ++i) kept.push_back(engine_calloc(13, 8));
}
SITE void temporary_site(int n) {
  for (int i = 0; i < n; ++i) {
    void* p = engine_malloc(56);
    asm volatile("" : : "r"(p) : "memory");
    engine_free(p);
  }
}
SITE void tagged_site(std::vector<void*>& kept, int n) {
  set_thread_category(kCategoryUnknown + 10);
  for (int i = 0; i < n; ++i) kept.push_back(engine_malloc(88));
  set_thread_category(kCategoryUnknown);
}

// Each stores what it got (a call in tail position would leave no frame of the site).
SITE void first_owner_site(void** out) { *out = engine_malloc(200); }
SITE void second_owner_site(void** out) { *out = engine_malloc(198); }  // the same class as 200

SITE void other_thread_site(std::vector<void*>& kept, int n) {
  for (int i = 0; i < n; ++i) kept.push_back(engine_malloc(120));
}

struct Site {
  SiteFigures figures{};
  int sites = 0;
};

// The summed figures of the sites whose innermost frame is in a function named like `function`
// and whose blocks are `size` bytes.
Site site_of(const char* function, double size) {
  std::vector<SiteFigures> all(4096);
  all.resize(std::min(heap_profile_sites(all.data(), all.size()), all.size()));
  Site site;
  for (const SiteFigures& s : all) {
    if (s.allocations <= 0 || std::fabs(s.allocated_bytes / s.allocations - size) > 0.01) continue;
    const uintptr_t* frames = nullptr;
    SymbolizedFrame frame;
    if (stack_depot_get(s.stack_id, &frames) == 0 || !symbolize(frames[0], &frame)) continue;
    if (std::string(frame.function).find(function) == std::string::npos) continue;
    ++site.sites;
    SiteFigures& f = site.figures;
    f.allocations += s.allocations, f.allocated_bytes += s.allocated_bytes, f.frees += s.frees;
    f.freed_bytes += s.freed_bytes, f.live += s.live, f.live_bytes += s.live_bytes, f.temporary += s.temporary;
  }
  return site;
}

void free_first(std::vector<void*>& kept, size_t n) {
  for (size_t i = 0; i < n; ++i) engine_free(kept[i]);
  kept.erase(kept.begin(), kept.begin() + long(n));
}

}  // namespace

TEST_CASE("malloc and operator new: every block at its call site, with its frees and temporaries") {
  start_once();
  std::vector<void*> small, cxx;
  small.reserve(5000), cxx.reserve(5000);  // the vectors' own blocks are not of the sizes counted
  malloc_site(small, 3000);  // more than a bin holds: refills take the general path in between
  new_site(cxx, 3000);
  free_first(small, 1000);
  free_first(cxx, 2000);
  temporary_site(500);

  const Site m = site_of("malloc_site", 40);
  CHECK(m.sites == 1);
  CHECK(m.figures.allocations == 3000);
  CHECK(m.figures.allocated_bytes == 3000 * 40);
  CHECK(m.figures.frees == 1000);
  CHECK(m.figures.freed_bytes == 1000 * 40);
  CHECK(m.figures.live == 2000);
  CHECK(m.figures.temporary == 0);

  const Site n = site_of("new_site", 72);
  CHECK(n.sites == 1);
  CHECK(n.figures.allocations == 3000);
  CHECK(n.figures.frees == 2000);
  CHECK(n.figures.live_bytes == 1000 * 72);

  const Site t = site_of("temporary_site", 56);
  CHECK(t.sites == 1);
  CHECK(t.figures.allocations == 500);
  CHECK(t.figures.frees == 500);
  CHECK(t.figures.temporary == 500);

  for (void* p : small) engine_free(p);
  for (void* p : cxx) engine_free(p);
}

TEST_CASE("calloc (the lane, then zeroed) and a tagged thread (the general path): same figures, same call sites") {
  start_once();
  std::vector<void*> zeroed, tagged;
  zeroed.reserve(600), tagged.reserve(600);
  // Blocks of calloc's class written and freed first: calloc gets them back and must zero them.
  for (int i = 0; i < 400; ++i) zeroed.push_back(engine_malloc(100));
  for (void* p : zeroed) memset(p, 0xab, 100);
  free_first(zeroed, zeroed.size());
  REQUIRE(size_to_class(100) == size_to_class(104));
  calloc_site(zeroed, 400);
  tagged_site(tagged, 300);
  for (void* p : zeroed) {
    const char* bytes = static_cast<const char*>(p);
    REQUIRE(std::count(bytes, bytes + 104, 0) == 104);
  }
  free_first(zeroed, 100);
  free_first(tagged, 300);

  const Site c = site_of("calloc_site", 104);
  CHECK(c.sites == 1);
  CHECK(c.figures.allocations == 400);
  CHECK(c.figures.frees == 100);
  const Site g = site_of("tagged_site", 88);
  CHECK(g.sites == 1);
  CHECK(g.figures.allocations == 300);
  CHECK(g.figures.frees == 300);
  CHECK(g.figures.live == 0);
  for (void* p : zeroed) engine_free(p);
}

TEST_CASE("blocks freed by another thread are counted at their allocation's site") {
  start_once();
  std::vector<void*> blocks;
  blocks.reserve(3000);
  other_thread_site(blocks, 2000);
  std::thread([&] {
    for (void* p : blocks) engine_free(p);
  }).join();  // the thread's pending sums reach the sites at its exit
  const Site s = site_of("other_thread_site", 120);
  CHECK(s.sites == 1);
  CHECK(s.figures.allocations == 2000);
  CHECK(s.figures.frees == 2000);
  CHECK(s.figures.live == 0);
  CHECK(s.figures.temporary == 0);
}

// The lane reads a freed block's record at the thread's next lane free, or before anything could
// rewrite it: the block handed out again, or leaving the thread's bins for another thread.
TEST_CASE("a freed block's record is read before anything rewrites it") {
  start_once();
  REQUIRE(size_to_class(200) == size_to_class(198));
  // The bin hands out the block freed last first: the second site gets the first site's block.
  void* p;
  first_owner_site(&p);
  engine_free(p);
  void* q;
  second_owner_site(&q);
  REQUIRE(q == p);
  engine_free(q);  // the thread's last free: counted when the figures are read

  Site a = site_of("first_owner_site", 200);
  CHECK(a.sites == 1);
  CHECK(a.figures.frees == 1);
  CHECK(a.figures.freed_bytes == 200);
  CHECK(a.figures.temporary == 1);
  Site b = site_of("second_owner_site", 198);
  CHECK(b.sites == 1);
  CHECK(b.figures.frees == 1);
  CHECK(b.figures.freed_bytes == 198);
  CHECK(b.figures.live == 0);

  // A block freed last, then every block of the thread's bins given back: another thread of the
  // same centre shard takes blocks of the class until it gets that one, and records its own site
  // in it.
  void* r;
  first_owner_site(&r);
  engine_free(r);
  thread_cache_flush_current();
  bool got = false;
  const uint8_t shard = t_central_shard;
  std::thread([&] {
    engine_free(engine_malloc(16));  // sets the thread's cache up, which gives it a shard
    t_central_shard = shard;
    std::vector<void*> taken;
    taken.reserve(200000);
    while (!got && taken.size() < 100000) {
      void* x;
      second_owner_site(&x);
      taken.push_back(x);
      got = x == r;
    }
    for (void* x : taken) engine_free(x);
  }).join();
  REQUIRE(got);
  a = site_of("first_owner_site", 200);
  CHECK(a.figures.allocations == 2);
  CHECK(a.figures.frees == 2);
  CHECK(a.figures.freed_bytes == 400);
  b = site_of("second_owner_site", 198);
  CHECK(b.figures.frees == b.figures.allocations);
  CHECK(b.figures.freed_bytes == 198 * b.figures.allocations);
}

SITE void twice_freed_site(void** out) { *out = engine_malloc(232); }

TEST_CASE("a double free of a recorded block is reported once and counted once") {
  start_once();
  misuse_test::set_on_error("report");
  void* p;
  twice_freed_site(&p);
  engine_free(p);
  // The lane turns the second free away (its free mark), the general path reports it.
  const std::string twice = misuse_test::stderr_of([&] { engine_free(p); });
  CHECK(twice.rfind("memf: error: double free of 0x", 0) == 0);
  CHECK(twice.find("; ignored\n") != std::string::npos);
  misuse_test::set_on_error("abort");
  const Site s = site_of("twice_freed_site", 232);
  CHECK(s.sites == 1);
  CHECK(s.figures.allocations == 1);
  CHECK(s.figures.frees == 1);
  CHECK(s.figures.freed_bytes == 232);
  CHECK(s.figures.temporary == 1);
  // The block went on the bin once: the class's next two blocks differ.
  void* a = engine_malloc(232);
  void* b = engine_malloc(232);
  CHECK(a == p);
  CHECK(b != p);
  engine_free(a);
  engine_free(b);
}
