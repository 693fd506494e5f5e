#include <catch2/catch.hpp>

#include "size_classes.hpp"

using namespace memf;

TEST_CASE("every size maps to the smallest class that holds it") {
  for (size_t size = 0; size <= kMaxPoolSize; ++size) {
    unsigned cls = size_to_class(size);
    REQUIRE(cls < kNumClasses);
    REQUIRE(class_to_size(cls) >= size);
    if (cls > 0) REQUIRE(class_to_size(cls - 1) < size);
  }
}

TEST_CASE("classes are increasing, 16-byte aligned, and fit a slab") {
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    const SizeClassInfo& info = kSizeClasses[cls];
    REQUIRE(info.size % kMinAlign == 0);
    if (cls > 0) REQUIRE(info.size > kSizeClasses[cls - 1].size);
    REQUIRE(info.capacity == kSlabSize / info.size);
    REQUIRE(size_t(info.capacity) * info.size <= kSlabSize);
    REQUIRE(info.batch >= 4);
    REQUIRE(info.cache_max >= info.batch);
    // Internal waste is at most 25% above 256 B, 16 B below.
    if (cls > 0 && info.size > 256) REQUIRE(info.size - kSizeClasses[cls - 1].size <= info.size / 4);
    // A slab's tail that holds no block is at most 1/8 of it (14 KiB blocks leave 8 KiB of 64).
    REQUIRE(kSlabSize - size_t(info.capacity) * info.size <= kSlabSize / 8);
  }
  REQUIRE(class_to_size(kNumClasses - 1) == kMaxPoolSize);
}

TEST_CASE("the reciprocal divides exactly for every offset in a slab") {
  for (unsigned cls = 0; cls < kNumClasses; ++cls) {
    const SizeClassInfo& info = kSizeClasses[cls];
    for (uint64_t offset = 0; offset < kSlabSize; ++offset) {
      uint64_t quotient = (offset * info.reciprocal) >> 32;
      if (quotient != offset / info.size) FAIL("class " << info.size << " offset " << offset);
    }
  }
}

TEST_CASE("aligned requests find a class whose blocks are aligned") {
  for (size_t alignment = 16; alignment <= kMaxPoolSize; alignment *= 2) {
    for (size_t size : {size_t(1), size_t(17), size_t(100), size_t(1000), size_t(3000), size_t(8192), size_t(12000), kMaxPoolSize}) {
      unsigned cls = aligned_size_to_class(size, alignment, kMaxPoolSize);
      REQUIRE(cls != kNoClass);
      REQUIRE(class_to_size(cls) >= size);
      REQUIRE(class_to_size(cls) % alignment == 0);
    }
  }
  REQUIRE(aligned_size_to_class(kMaxPoolSize, 2 * kMaxPoolSize, kMaxPoolSize) == kNoClass);
  // 12 KiB blocks sit 12 KiB apart from a slab's start: 4 KiB aligned, never 8 KiB.
  REQUIRE(class_to_size(aligned_size_to_class(9000, 4096, kMaxPoolSize)) == 12288);
  REQUIRE(class_to_size(aligned_size_to_class(9000, 8192, kMaxPoolSize)) == 16384);
  REQUIRE(aligned_size_to_class(2000, 64, 1024) == kNoClass);  // beyond a lowered pool limit
  REQUIRE(class_to_size(aligned_size_to_class(100, 64, kMaxPoolSize)) == 128);
}
