// engine/heap_walk: enumerating what the engine has handed out (the leak checker's and the
// tracker's snapshots): live pool blocks in address order, then large blocks, never free ones.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "engine.hpp"
#include "heap_walk.hpp"

using namespace memf;

TEST_CASE("the heap walk lists live pool and large blocks with their tags") {
  void* small = engine_malloc(200);
  void* large = engine_malloc(50000);
  bool seen_small = false, seen_large = false;
  struct Context {
    void* small;
    void* large;
    bool* seen_small;
    bool* seen_large;
  } context{small, large, &seen_small, &seen_large};
  heap_walk(
      [](const LiveBlock& block, void* raw) {
        auto* c = static_cast<Context*>(raw);
        if (block.address == uintptr_t(c->small)) *c->seen_small = !block.large && block.size == 208;
        if (block.address == uintptr_t(c->large)) *c->seen_large = block.large && block.size == 50000;
        return true;
      },
      &context);
  REQUIRE(seen_small);
  REQUIRE(seen_large);
  engine_free(small);
  engine_free(large);
}

namespace {
// Every live block. (The vector grows through glibc's malloc, not the engine being walked.)
std::vector<LiveBlock> walk_all() {
  std::vector<LiveBlock> blocks;
  heap_walk(
      [](const LiveBlock& block, void* raw) {
        static_cast<std::vector<LiveBlock>*>(raw)->push_back(block);
        return true;
      },
      &blocks);
  return blocks;
}
}  // namespace

TEST_CASE("the heap walk gives pool blocks in address order, then large ones; free blocks never; tags as allocated") {
  set_thread_category(77);
  void* tagged = engine_malloc(96);
  void* tagged_large = engine_malloc(70000);
  set_thread_category(kCategoryUnknown);
  std::vector<void*> kept, freed;
  for (int i = 0; i < 300; ++i) (i % 3 ? freed : kept).push_back(engine_malloc(96));
  for (void* p : freed) engine_free(p);  // (the next 96-B allocation would reuse one: none follows)
  const std::vector<LiveBlock> blocks = walk_all();
  size_t pool_blocks = 0;
  bool large_seen = false, ordered = true, pool_after_large = false;
  uintptr_t last = 0;
  for (const LiveBlock& block : blocks) {
    if (block.large) {
      large_seen = true;
      continue;
    }
    pool_after_large = pool_after_large || large_seen;
    ordered = ordered && block.address > last;
    last = block.address;
    ++pool_blocks;
  }
  REQUIRE(ordered);
  REQUIRE_FALSE(pool_after_large);
  auto find = [&](void* p) -> const LiveBlock* {
    for (const LiveBlock& block : blocks)
      if (block.address == uintptr_t(p)) return &block;
    return nullptr;
  };
  for (void* p : kept) {
    const LiveBlock* block = find(p);
    REQUIRE(block != nullptr);
    REQUIRE(block->category == kCategoryUnknown);
    REQUIRE(block->size == 96);
  }
  for (void* p : freed) REQUIRE(find(p) == nullptr);
  REQUIRE(find(tagged) != nullptr);
  REQUIRE(find(tagged)->category == 77);
  REQUIRE(find(tagged_large) != nullptr);
  REQUIRE(find(tagged_large)->large);
  REQUIRE(find(tagged_large)->category == 77);
  REQUIRE(find(tagged_large)->size == 70000);

  // The walk stops when the visitor says so, having counted the blocks it visited.
  size_t visits = 0;
  REQUIRE(heap_walk(
              [](const LiveBlock&, void* raw) {
                return ++*static_cast<size_t*>(raw) < 5;
              },
              &visits) == 5);
  REQUIRE(visits == 5);
  for (void* p : kept) engine_free(p);
  engine_free(tagged);
  engine_free(tagged_large);
}
