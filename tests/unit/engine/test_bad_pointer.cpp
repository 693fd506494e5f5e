// engine/bad_pointer: what a pointer is that free(), realloc() or malloc_usable_size() cannot
// accept, and its report in the pool core's words (one line; MEMF_ON_ERROR decides what follows).
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "bad_pointer.hpp"
#include "core/misuse_test_util.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "freed_large.hpp"

using namespace memf;

TEST_CASE("bad pointers are classified precisely and reported on one line") {
  char line[320];
  auto* block = static_cast<char*>(engine_malloc(64));
  // Freed block: a double free of a 64 B block.
  engine_free(block);
  BadPointer bad = classify_bad_pointer(block);
  REQUIRE(bad.kind == Misuse::kDoubleFree);
  REQUIRE(bad.class_size == 64);
  size_t length = format_bad_pointer(line, sizeof(line), "free", block);
  std::string text(line, length);
  REQUIRE(text.rfind("memf: error: double free of 0x", 0) == 0);
  REQUIRE(text.find("(size class 64 B) in free()") != std::string::npos);
  REQUIRE(text.find('\n') == std::string::npos);
  // Interior pointer of a live block.
  block = static_cast<char*>(engine_malloc(64));
  bad = classify_bad_pointer(block + 16);
  REQUIRE(bad.kind == Misuse::kInterior);
  REQUIRE(bad.block_start == block);
  length = format_bad_pointer(line, sizeof(line), "free", block + 16);
  text.assign(line, length);
  REQUIRE(text.find("16 bytes into the block at") != std::string::npos);
  engine_free(block);
  // Inside the range but in a slab that was never used.
  void* far = reinterpret_cast<void*>(g_pool.base + g_pool.usable_bytes - kSlabSize);
  REQUIRE(classify_bad_pointer(far).kind == Misuse::kNotLive);
  length = format_bad_pointer(line, sizeof(line), "free", far);
  REQUIRE(std::string(line, length).find("no live block there in memf's pools") != std::string::npos);
  int on_stack = 0;
  REQUIRE(classify_bad_pointer(&on_stack).kind == Misuse::kForeign);
  length = format_bad_pointer(line, sizeof(line), "realloc", &on_stack);
  text.assign(line, length);
  REQUIRE(text.find("not allocated by memf") != std::string::npos);
  REQUIRE(text.find("realloc()") != std::string::npos);
}

TEST_CASE("a large or huge block freed already is a double free with its size, not a foreign pointer") {
  char line[320];
  for (size_t size : {size_t(20000), size_t(3) << 20}) {
    void* block = engine_malloc(size);
    REQUIRE(block != nullptr);
    engine_free(block);
    FreedLarge freed;
    REQUIRE(find_freed_large(block, &freed));
    CHECK(freed.requested == size);
    CHECK(freed.mapping == (size >= config().huge_threshold));
    const std::string text(line, format_bad_pointer(line, sizeof(line), "free", block));
    const std::string expected = std::string(size >= config().huge_threshold ? "(huge" : "(large") + " block of " +
                                 std::to_string(size) + " B) in free()";
    CHECK(text.rfind("memf: error: double free of 0x", 0) == 0);
    CHECK(text.find(expected) != std::string::npos);
  }
  int never_allocated = 0;
  const std::string text(line, format_bad_pointer(line, sizeof(line), "free", &never_allocated));
  CHECK(text.find("not allocated by memf") != std::string::npos);
}

TEST_CASE("in report mode a double free and a foreign free are reported once each and change nothing") {
  misuse_test::set_on_error("report");
  auto* block = static_cast<char*>(engine_malloc(48));
  engine_free(block);
  const std::string twice = misuse_test::stderr_of([&] { engine_free(block); });
  char expected[320];
  const size_t length = format_bad_pointer(expected, sizeof(expected), "free", block);
  REQUIRE(twice == std::string(expected, length) + "; ignored\n");
  // The block went on this thread's cache once: the next two allocations of its class differ.
  void* a = engine_malloc(48);
  void* b = engine_malloc(48);
  REQUIRE(a == block);
  REQUIRE(b != block);
  int on_stack = 0;
  const std::string foreign = misuse_test::stderr_of([&] { engine_free(&on_stack); });
  REQUIRE(foreign.find("not allocated by memf; ignored\n") != std::string::npos);
  size_t usable = 1;
  const std::string usable_line = misuse_test::stderr_of([&] { usable = engine_usable_size(&on_stack); });
  REQUIRE(usable == 0);
  REQUIRE(usable_line.find("in malloc_usable_size(): not allocated by memf; ignored\n") != std::string::npos);
  void* moved = a;
  const std::string realloc_line = misuse_test::stderr_of([&] { moved = engine_realloc(static_cast<char*>(a) + 16, 100); });
  REQUIRE(moved == nullptr);
  REQUIRE(realloc_line.find("in realloc(): 16 bytes into the block at") != std::string::npos);
  REQUIRE(engine_owns(a));  // the failed realloc left it alone
  engine_free(a);
  engine_free(b);
  misuse_test::set_on_error("abort");
}

TEST_CASE("with MEMF_ON_ERROR=abort a double free aborts after its line") {
  std::string err;
  REQUIRE(misuse_test::aborts_in_child(
      [] {
        void* p = engine_malloc(64);
        engine_free(p);
        engine_free(p);
      },
      &err));
  REQUIRE(err.rfind("memf: error: double free of 0x", 0) == 0);
  REQUIRE(err.find("(size class 64 B) in free(); aborting (MEMF_ON_ERROR=abort)\n") != std::string::npos);
}
