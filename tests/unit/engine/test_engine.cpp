// The engine's entry points and their C/POSIX/C++ contracts, in-process through lib/.
// (The same contracts through the exported symbols are tested in child processes in tests/interpose.)
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "engine.hpp"
#include "large.hpp"

using namespace memf;

TEST_CASE("requests that cannot be served fail with ENOMEM") {
  for (size_t size : {SIZE_MAX, SIZE_MAX - 4096, size_t(PTRDIFF_MAX) + 1}) {
    errno = 0;
    REQUIRE(engine_malloc(size) == nullptr);
    REQUIRE(errno == ENOMEM);
  }
  errno = 0;
  REQUIRE(engine_calloc(SIZE_MAX / 2, 3) == nullptr);  // count * size overflows
  REQUIRE(errno == ENOMEM);
  void* p = engine_malloc(10);
  errno = 0;
  REQUIRE(engine_reallocarray(p, SIZE_MAX / 4, 8) == nullptr);
  REQUIRE(errno == ENOMEM);
  REQUIRE(engine_owns(p));  // untouched
  errno = 0;
  REQUIRE(engine_realloc(p, SIZE_MAX) == nullptr);
  REQUIRE(errno == ENOMEM);
  REQUIRE(engine_owns(p));
  engine_free(p);
}

TEST_CASE("malloc(0) returns a unique freeable block") {
  void* a = engine_malloc(0);
  void* b = engine_malloc(0);
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  REQUIRE(a != b);
  engine_free(a);
  engine_free(b);
  engine_free(nullptr);
}

TEST_CASE("calloc zeroes reused dirty memory, small and large") {
  for (size_t size : {size_t(24), size_t(1000), size_t(8192), size_t(50000), size_t(2) << 20}) {
    void* dirty = engine_malloc(size);
    memset(dirty, 0xff, size);
    engine_free(dirty);
    auto* p = static_cast<unsigned char*>(engine_calloc(1, size));
    REQUIRE(p != nullptr);
    for (size_t i = 0; i < size; ++i)
      if (p[i] != 0) FAIL("calloc(" << size << ") byte " << i << " is not zero");
    engine_free(p);
  }
}

TEST_CASE("a block handed out holds no free-list link a leak scan could follow, pool and large") {
  // Freed blocks hold a link to the next free block in their first word (and pool blocks the free
  // mark in their second); handed out again, an unwritten leaked block points at nothing a leak
  // scan could follow: large blocks hold 0, pool blocks their encoded link, never a user-space
  // address (core/free_mark.hpp). (Beyond them a block holds what its last owner wrote.)
  for (size_t size : {size_t(16), size_t(64), size_t(1000), size_t(9000), size_t(20000), size_t(100000)}) {
    void* blocks[64];
    for (void*& b : blocks) b = engine_malloc(size);
    for (void* b : blocks) engine_free(b);
    for (void*& b : blocks) {
      b = engine_malloc(size);
      const auto* words = static_cast<const uintptr_t*>(b);
      const bool pool_block = size <= kMaxPoolLimit;
      // A pool block freed before holds its encoded link; one never handed out yet holds 0 (the
      // 10 KiB class of a 9000-byte request keeps at most 8 blocks in the thread's bin, so some of
      // the 64 are blocks no one has had yet).
      const bool first_ok = pool_block ? words[0] >= (uintptr_t(1) << 63) || words[0] == 0 : words[0] == 0;
      if (!first_ok || (pool_block && words[1] != 0))
        FAIL("malloc(" << size << ") handed out a block holding " << std::hex << words[0] << " " << words[1]);
    }
    for (void* b : blocks) engine_free(b);
  }
}

TEST_CASE("memalign with an alignment no block can have: ENOMEM up to SIZE_MAX / 2 + 1, EINVAL past it (glibc's)") {
  errno = 0;
  REQUIRE(engine_memalign(size_t(1) << 63, 16) == nullptr);
  CHECK(errno == ENOMEM);
  errno = 0;
  REQUIRE(engine_memalign((size_t(1) << 62) + 1, 16) == nullptr);  // rounds up to 1 << 63
  CHECK(errno == ENOMEM);
  errno = 0;
  REQUIRE(engine_memalign((size_t(1) << 63) + 1, 16) == nullptr);
  CHECK(errno == EINVAL);
}

TEST_CASE("realloc keeps contents across every path") {
  const size_t sizes[] = {1, 16, 17, 200, 1024, 4000, 8192, 8193, 12000, 16384, 16385, 70000, 900000, 1 << 20, 3 << 20, 100, 5};
  auto* p = static_cast<unsigned char*>(engine_realloc(nullptr, sizes[0]));  // realloc(NULL, n) == malloc(n)
  REQUIRE(p != nullptr);
  p[0] = 0x3c;
  size_t valid = 1;
  for (size_t k = 1; k < sizeof(sizes) / sizeof(sizes[0]); ++k) {
    size_t size = sizes[k];
    p = static_cast<unsigned char*>(engine_realloc(p, size));
    REQUIRE(p != nullptr);
    REQUIRE(engine_usable_size(p) >= size);
    size_t keep = valid < size ? valid : size;
    for (size_t i = 0; i < keep; ++i)
      if (p[i] != static_cast<unsigned char>(0x3c + i)) FAIL("size " << size << " byte " << i);
    for (size_t i = keep; i < size; ++i) p[i] = static_cast<unsigned char>(0x3c + i);
    valid = size;
  }
  engine_free(p);
}

TEST_CASE("realloc(p, 0) frees p and returns NULL (glibc's behaviour)") {
  void* p = engine_malloc(48);
  errno = 0;
  REQUIRE(engine_realloc(p, 0) == nullptr);
  REQUIRE(errno == 0);
  REQUIRE_FALSE(engine_owns(p));
}

TEST_CASE("a shrink that keeps most of the block stays in place") {
  void* p = engine_malloc(1000);  // class 1024
  REQUIRE(engine_realloc(p, 900) == p);
  void* q = engine_realloc(p, 100);
  REQUIRE(q != p);
  REQUIRE(engine_usable_size(q) == 112);
  engine_free(q);
}

TEST_CASE("posix_memalign validates the alignment and leaves errno alone") {
  void* out = reinterpret_cast<void*>(0x1);
  errno = 1234;
  REQUIRE(engine_posix_memalign(&out, 24, 10) == EINVAL);
  REQUIRE(engine_posix_memalign(&out, 4, 10) == EINVAL);
  REQUIRE(engine_posix_memalign(&out, 0, 10) == EINVAL);
  REQUIRE(out == reinterpret_cast<void*>(0x1));
  REQUIRE(engine_posix_memalign(&out, 8, SIZE_MAX) == ENOMEM);
  REQUIRE(errno == 1234);
  for (size_t alignment = sizeof(void*); alignment <= (size_t(1) << 21); alignment *= 2) {
    for (size_t size : {size_t(0), size_t(1), size_t(100), size_t(5000), size_t(20000)}) {
      REQUIRE(engine_posix_memalign(&out, alignment, size) == 0);
      REQUIRE(uintptr_t(out) % alignment == 0);
      REQUIRE(engine_usable_size(out) >= size);
      memset(out, 7, size);
      engine_free(out);
    }
  }
  REQUIRE(errno == 1234);
}

TEST_CASE("aligned_alloc, memalign, valloc and pvalloc") {
  errno = 0;
  REQUIRE(engine_aligned_alloc(48, 96) == nullptr);
  REQUIRE(errno == EINVAL);
  void* p = engine_aligned_alloc(256, 100);
  REQUIRE(uintptr_t(p) % 256 == 0);
  REQUIRE(pool_contains(p));
  engine_free(p);
  p = engine_memalign(48, 10);  // rounded up to 64
  REQUIRE(uintptr_t(p) % 64 == 0);
  engine_free(p);
  p = engine_valloc(10);
  REQUIRE(uintptr_t(p) % kPageSize == 0);
  engine_free(p);
  p = engine_pvalloc(0);
  REQUIRE(uintptr_t(p) % kPageSize == 0);
  REQUIRE(engine_usable_size(p) >= kPageSize);
  engine_free(p);
  p = engine_pvalloc(5000);
  REQUIRE(engine_usable_size(p) >= 2 * kPageSize);
  memset(p, 0, 2 * kPageSize);
  engine_free(p);
}

namespace {
int g_handler_calls = 0;
void* g_reserve = nullptr;
void release_reserve_handler() {
  ++g_handler_calls;
  engine_free(g_reserve);
  g_reserve = nullptr;
  std::set_new_handler(nullptr);
}
}  // namespace

TEST_CASE("operator new calls the new_handler, then throws bad_alloc; nothrow returns null") {
  g_handler_calls = 0;
  g_reserve = engine_malloc(64);
  std::set_new_handler(release_reserve_handler);
  REQUIRE_THROWS_AS(engine_new(SIZE_MAX), std::bad_alloc);
  REQUIRE(g_handler_calls == 1);
  REQUIRE(g_reserve == nullptr);
  REQUIRE(engine_new_nothrow(SIZE_MAX) == nullptr);
  REQUIRE(engine_new_aligned_nothrow(SIZE_MAX / 2, 64) == nullptr);
  REQUIRE_THROWS_AS(engine_new_aligned(SIZE_MAX / 2, 4096), std::bad_alloc);
  void* p = engine_new_aligned(100, 128);
  REQUIRE(uintptr_t(p) % 128 == 0);
  engine_free(p);
}

TEST_CASE("foreign pointers are never treated as memf's") {
  int on_stack = 0;
  static int in_data = 0;
  REQUIRE_FALSE(engine_owns(&on_stack));
  REQUIRE_FALSE(engine_owns(&in_data));
  LargeRecord record;
  REQUIRE_FALSE(large_lookup(&on_stack, &record));
  REQUIRE_FALSE(large_free(&in_data));
}
