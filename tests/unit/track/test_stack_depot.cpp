// The stack depot: deduplication, ids stable across threads, the bound, fork.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "stack_capture.hpp"
#include "stack_depot.hpp"

using namespace memf;

namespace {

// A distinct, deterministic stack for each seed (code-address-like values).
std::vector<uintptr_t> make_stack(uint64_t seed, unsigned depth) {
  std::vector<uintptr_t> frames(depth);
  for (unsigned i = 0; i < depth; ++i) frames[i] = 0x555500000000ull + seed * 0x1000 + i * 0x40 + 5;
  return frames;
}

std::vector<uintptr_t> frames_of(const StackDepot& depot, StackId id) {
  const uintptr_t* frames = nullptr;
  const unsigned depth = depot.get(id, &frames);
  return depth == 0 ? std::vector<uintptr_t>{} : std::vector<uintptr_t>(frames, frames + depth);
}

std::vector<uintptr_t> frames_of_global(StackId id) {
  const uintptr_t* frames = nullptr;
  const unsigned depth = stack_depot_get(id, &frames);
  return depth == 0 ? std::vector<uintptr_t>{} : std::vector<uintptr_t>(frames, frames + depth);
}

struct LocalDepot {
  explicit LocalDepot(size_t bytes) { REQUIRE(depot->init(bytes)); }
  ~LocalDepot() { depot->destroy(); }
  std::unique_ptr<StackDepot> depot = std::make_unique<StackDepot>();
};

}  // namespace

TEST_CASE("the same stack gets the same id, a different one a different id") {
  LocalDepot local(1 << 20);
  StackDepot& depot = *local.depot;
  const auto a = make_stack(1, 12);
  auto b = a;
  b[11] += 1;  // differs in the outermost frame only
  const auto prefix = std::vector<uintptr_t>(a.begin(), a.begin() + 11);

  const StackId id_a = depot.put(a.data(), unsigned(a.size()));
  REQUIRE(id_a != 0);
  REQUIRE(depot.put(a.data(), unsigned(a.size())) == id_a);
  const auto copy = a;  // equal contents at another address
  REQUIRE(depot.put(copy.data(), unsigned(copy.size())) == id_a);

  const StackId id_b = depot.put(b.data(), unsigned(b.size()));
  const StackId id_prefix = depot.put(prefix.data(), unsigned(prefix.size()));
  REQUIRE(id_b != 0);
  REQUIRE(id_prefix != 0);
  REQUIRE(std::set<StackId>{id_a, id_b, id_prefix}.size() == 3);

  REQUIRE(frames_of(depot, id_a) == a);
  REQUIRE(frames_of(depot, id_b) == b);
  REQUIRE(frames_of(depot, id_prefix) == prefix);

  const StackDepotStats stats = depot.stats();
  REQUIRE(stats.stacks == 3);
  REQUIRE(stats.dropped == 0);
  REQUIRE(stats.bytes == (3 + 12 + 3 + 12 + 3 + 11) * 8);  // a 3-word header per record
  REQUIRE(stats.capacity_bytes == 1 << 20);
  REQUIRE(stats.mapped_bytes >= stats.bytes);
}

TEST_CASE("empty stacks, unknown ids and over-deep stacks") {
  LocalDepot local(1 << 20);
  StackDepot& depot = *local.depot;
  const auto a = make_stack(2, 4);
  REQUIRE(depot.put(a.data(), 0) == 0);
  REQUIRE(depot.put(nullptr, 3) == 0);

  const uintptr_t* frames = reinterpret_cast<const uintptr_t*>(1);
  REQUIRE(depot.get(0, &frames) == 0);
  REQUIRE(frames == nullptr);
  const StackId id = depot.put(a.data(), 4);
  REQUIRE(depot.get(id + 1000, &frames) == 0);  // never issued
  REQUIRE(frames == nullptr);

  // Deeper than kMaxStackDepth: the innermost kMaxStackDepth frames are what is kept and matched.
  const auto deep = make_stack(3, kMaxStackDepth + 20);
  const StackId deep_id = depot.put(deep.data(), unsigned(deep.size()));
  REQUIRE(deep_id != 0);
  REQUIRE(frames_of(depot, deep_id) == std::vector<uintptr_t>(deep.begin(), deep.begin() + kMaxStackDepth));
  REQUIRE(depot.put(deep.data(), kMaxStackDepth) == deep_id);
}

TEST_CASE("a second init does not change the bound") {
  LocalDepot local(1 << 20);
  REQUIRE(local.depot->init(4 << 20));  // ready
  REQUIRE(local.depot->stats().capacity_bytes == 1 << 20);
  StackDepot fresh;
  REQUIRE(fresh.stats().capacity_bytes == 0);
  REQUIRE(fresh.init(1));  // clamped up to the smallest bound
  REQUIRE(fresh.stats().capacity_bytes == 64 << 10);
  fresh.destroy();
}

TEST_CASE("threads putting overlapping stacks agree on every id") {
  LocalDepot local(16 << 20);
  StackDepot& depot = *local.depot;
  constexpr unsigned kStacks = 3000, kThreads = 4;
  std::vector<std::vector<uintptr_t>> stacks;
  for (unsigned i = 0; i < kStacks; ++i) stacks.push_back(make_stack(1000 + i, 4 + i % 29));

  std::vector<std::vector<StackId>> ids(kThreads, std::vector<StackId>(kStacks));
  std::atomic<unsigned> ready{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::vector<unsigned> order(kStacks);
      for (unsigned i = 0; i < kStacks; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937(t));
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();  // start together: races on insert
      for (int round = 0; round < 3; ++round)
        for (unsigned i : order) {
          const StackId id = depot.put(stacks[i].data(), unsigned(stacks[i].size()));
          if (round == 0) ids[t][i] = id;
          else if (ids[t][i] != id) ids[t][i] = 0;  // unstable: fails below
        }
    });
  for (auto& thread : threads) thread.join();

  std::set<StackId> distinct;
  for (unsigned i = 0; i < kStacks; ++i) {
    REQUIRE(ids[0][i] != 0);
    for (unsigned t = 1; t < kThreads; ++t) REQUIRE(ids[t][i] == ids[0][i]);
    REQUIRE(frames_of(depot, ids[0][i]) == stacks[i]);
    distinct.insert(ids[0][i]);
  }
  REQUIRE(distinct.size() == kStacks);
  const StackDepotStats stats = depot.stats();
  REQUIRE(stats.stacks == kStacks);
}

TEST_CASE("each stack has one cookie word, zero until set, kept apart from the others") {
  LocalDepot local(1 << 20);
  StackDepot& depot = *local.depot;
  const auto a = make_stack(1, 5), b = make_stack(2, 7);
  const StackId id_a = depot.put(a.data(), 5), id_b = depot.put(b.data(), 7);
  REQUIRE(depot.cookie(0) == nullptr);
  REQUIRE(depot.cookie(id_b + 1000) == nullptr);
  std::atomic<uint32_t>* cookie_a = depot.cookie(id_a);
  std::atomic<uint32_t>* cookie_b = depot.cookie(id_b);
  REQUIRE(cookie_a != nullptr);
  REQUIRE(cookie_a != cookie_b);
  REQUIRE(cookie_a->load() == 0);
  cookie_a->store(7);
  cookie_b->store(9);
  REQUIRE(depot.cookie(depot.put(a.data(), 5))->load() == 7);
  REQUIRE(frames_of(depot, id_a) == a);  // the cookie is not one of the frames
  REQUIRE(frames_of(depot, id_b) == b);
}

TEST_CASE("a full depot refuses new stacks, counts them and still finds the old ones") {
  LocalDepot local(64 << 10);  // the smallest bound
  StackDepot& depot = *local.depot;
  std::vector<std::vector<uintptr_t>> stored;
  std::vector<StackId> ids;
  for (uint64_t seed = 0;; ++seed) {
    auto stack = make_stack(seed, 13);  // 128 bytes a record
    const StackId id = depot.put(stack.data(), 13);
    if (id == 0) break;
    ids.push_back(id);
    stored.push_back(std::move(stack));
    REQUIRE(seed < 10000);  // the bound must be reached
  }
  REQUIRE(stored.size() == (64 << 10) / 128);
  StackDepotStats stats = depot.stats();
  REQUIRE(stats.stacks == stored.size());
  REQUIRE(stats.bytes <= stats.capacity_bytes);
  REQUIRE(stats.dropped == 1);

  for (uint64_t seed = 100000; seed < 100010; ++seed) {
    const auto fresh = make_stack(seed, 3);  // even small stacks: full is full
    REQUIRE(depot.put(fresh.data(), 3) == 0);
  }
  for (size_t i = 0; i < stored.size(); ++i) {
    REQUIRE(depot.put(stored[i].data(), 13) == ids[i]);
    REQUIRE(frames_of(depot, ids[i]) == stored[i]);
  }
  stats = depot.stats();
  REQUIRE(stats.dropped == 11);
  REQUIRE(stats.stacks == stored.size());
}

TEST_CASE("the process-wide depot interns captured stacks") {
  uintptr_t frames[64];
  const unsigned depth = capture_stack(frames, 64, 0);
  REQUIRE(depth >= 1);
  const StackDepotStats before = stack_depot_stats();
  const StackId id = stack_depot_put(frames, depth);
  REQUIRE(id != 0);
  REQUIRE(stack_depot_put(frames, depth) == id);
  const uintptr_t* stored = nullptr;
  REQUIRE(stack_depot_get(id, &stored) == depth);
  REQUIRE(std::memcmp(stored, frames, depth * sizeof(uintptr_t)) == 0);
  const StackDepotStats after = stack_depot_stats();
  REQUIRE(after.stacks == before.stacks + 1);  // one new stack, put twice
  REQUIRE(after.capacity_bytes == kDefaultStackDepotBytes);
}

TEST_CASE("fork: the child resets the lock, the parent unlocks, both keep inserting") {
  const auto old_stack = make_stack(7, 9);
  const StackId old_id = stack_depot_put(old_stack.data(), 9);
  REQUIRE(old_id != 0);

  stack_depot_lock_all();  // what the engine's prepare handler does
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    stack_depot_reset_after_fork();
    const auto fresh = make_stack(8, 9);
    const StackId fresh_id = stack_depot_put(fresh.data(), 9);
    const bool ok = stack_depot_put(old_stack.data(), 9) == old_id && fresh_id != 0 && fresh_id != old_id &&
                    stack_depot_put(fresh.data(), 9) == fresh_id;
    _exit(ok ? 0 : 1);
  }
  stack_depot_unlock_all();
  const auto fresh = make_stack(9, 9);
  REQUIRE(stack_depot_put(fresh.data(), 9) != 0);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

TEST_CASE("a thread's memo of recent stacks gives the depot's ids and passes to the next thread") {
  // Last in this file: stack_depot_init also installs the fork handlers, which the fork case
  // above stands in for by hand.
  REQUIRE(stack_depot_init());
  // Same depth and innermost frame, different callers: one memo slot's check must tell them apart.
  auto outer_a = make_stack(21, 6);
  auto outer_b = outer_a;
  outer_b[5] += 0x40;
  const StackId id_a = stack_depot_put(outer_a.data(), 6);
  const StackId id_b = stack_depot_put(outer_b.data(), 6);
  REQUIRE(id_a != 0);
  REQUIRE(id_b != 0);
  REQUIRE(id_a != id_b);
  const StackMemoStats before = stack_depot_memo_stats();
  for (int t = 0; t < 6; ++t) {
    StackId seen_a = 0, seen_b = 0, again_a = 0, fresh = 0, fresh_again = 0;
    std::thread([&] {
      seen_a = stack_depot_put(outer_a.data(), 6);
      seen_b = stack_depot_put(outer_b.data(), 6);
      again_a = stack_depot_put(outer_a.data(), 6);
      const auto mine = make_stack(100 + uint64_t(t), 6);
      fresh = stack_depot_put(mine.data(), 6);
      fresh_again = stack_depot_put(mine.data(), 6);
    }).join();
    REQUIRE(seen_a == id_a);
    REQUIRE(seen_b == id_b);
    REQUIRE(again_a == id_a);
    REQUIRE(fresh != 0);
    REQUIRE(fresh_again == fresh);
    REQUIRE(frames_of_global(fresh) == make_stack(100 + uint64_t(t), 6));
    // The exited thread's memo is a spare; the threads one after another share one memo.
    const StackMemoStats after = stack_depot_memo_stats();
    REQUIRE(after.spare >= 1);
    REQUIRE(after.mapped <= before.mapped + 1);
  }
}

namespace {

// The plain walk and the depot's one-pass capture, both from this function's caller.
__attribute__((noinline)) unsigned capture_both(uintptr_t* plain, unsigned* plain_depth, uintptr_t* frames,
                                                unsigned max_depth, uintptr_t own_begin, uintptr_t own_end,
                                                uint64_t* hash) {
  const StackOrigin origin = MEMF_STACK_ORIGIN();
  *plain_depth = capture_stack_from(origin, plain, 3, UnwindMode::kFramePointer);
  return capture_frame_pointers_hashed(origin, frames, max_depth, own_begin, own_end, hash);
}

// Two callers with frame records, so that the first three frames of a walk are known whatever
// the test itself was compiled with (its own rbp may hold anything: the walk past it is not).
__attribute__((noinline, optimize("no-omit-frame-pointer"))) unsigned capture_both_inner(
    uintptr_t* plain, unsigned* plain_depth, uintptr_t* frames, unsigned max_depth, uintptr_t own_begin,
    uintptr_t own_end, uint64_t* hash) {
  const unsigned depth = capture_both(plain, plain_depth, frames, max_depth, own_begin, own_end, hash);
  asm volatile("" ::: "memory");  // not a tail call: this frame stays on the stack
  return depth;
}
__attribute__((noinline, optimize("no-omit-frame-pointer"))) unsigned capture_both_framed(
    uintptr_t* plain, unsigned* plain_depth, uintptr_t* frames, unsigned max_depth, uintptr_t own_begin,
    uintptr_t own_end, uint64_t* hash) {
  const unsigned depth = capture_both_inner(plain, plain_depth, frames, max_depth, own_begin, own_end, hash);
  asm volatile("" ::: "memory");
  return depth;
}

}  // namespace

TEST_CASE("the one-pass capture keeps the plain walk's frames, leaves out leading own frames and hashes as the depot") {
  // Every capture from one call site (the loop's), so that each sees the same frames: the first
  // with nothing left out gives them; the others leave out parts of them.
  struct Case {
    unsigned max_depth;
    int own;  // the frame whose address is the own range: -1 none
  };
  // Three frames at most (the framed callers' and the loop's return addresses); with the first
  // left out, two.
  const Case cases[] = {{3, -1}, {2, 0}, {3, 1}, {1, -1}, {0, -1}};
  uintptr_t first[64];
  unsigned first_depth = 0;
  for (const Case& c : cases) {
    uintptr_t plain[64], frames[64];
    unsigned plain_depth = 0;
    uint64_t hash = 0;
    const uintptr_t own = c.own < 0 ? 0 : first[c.own];
    const unsigned depth = capture_both_framed(plain, &plain_depth, frames, c.max_depth, own, own ? own + 1 : 0, &hash);
    if (first_depth == 0) {
      REQUIRE(plain_depth == 3);
      std::copy(plain, plain + plain_depth, first);
      first_depth = plain_depth;
    }
    REQUIRE(plain_depth == first_depth);
    REQUIRE(std::equal(plain, plain + plain_depth, first));
    if (c.own == 0) {
      // The leading frame is left out; the hash is of the frames kept.
      REQUIRE(depth == 2);
      REQUIRE(std::equal(frames, frames + depth, plain + 1));
      REQUIRE(hash == StackDepot::hash_of(plain + 1, depth));
    } else if (c.own == 1) {
      // An own frame after a kept one stays.
      REQUIRE(depth == plain_depth);
      REQUIRE(frames[1] == plain[1]);
    } else if (c.max_depth < plain_depth) {
      REQUIRE(depth == c.max_depth);
      if (depth > 0) {
        REQUIRE(hash == StackDepot::hash_of(plain, depth));
        REQUIRE(hash != StackDepot::hash_of(plain, depth + 1));
      }
    } else {
      REQUIRE(depth == plain_depth);
      REQUIRE(std::equal(frames, frames + depth, plain));
      REQUIRE(hash == StackDepot::hash_of(plain, depth));
      const StackId id = stack_depot_put_hashed(hash, frames, depth);
      REQUIRE(id != 0);
      REQUIRE(stack_depot_put(plain, plain_depth) == id);
    }
  }
  // No frame pointer: the origin's return address alone.
  uintptr_t frames[64];
  uint64_t alone = 0;
  REQUIRE(capture_frame_pointers_hashed(StackOrigin{first[0], 0}, frames, 64, 0, 0, &alone) == 1);
  REQUIRE(frames[0] == first[0]);
  REQUIRE(alone == StackDepot::hash_of(first, 1));
}
