// Helpers for the pool tests: the bytes the tracker counts under a pool's name, and (from the
// core's misuse helpers) MEMF_ON_ERROR from a test and what a call writes on stderr.
#pragma once
#include <cstring>
#include <string>

#include "core/misuse_test_util.hpp"
#include "tracker.hpp"

namespace pool_test {

using misuse_test::aborts_in_child;
using misuse_test::set_on_error;
using misuse_test::stderr_of;

// The current bytes the tracker counts under a category (0 when it has none).
inline size_t category_bytes(const std::string& name) {
  memf::CategoryUsage usage[memf::kMaxCategories];
  const size_t count = memf::category_snapshot(usage, memf::kMaxCategories);
  for (size_t i = 0; i < count && i < memf::kMaxCategories; ++i)
    if (name == usage[i].name) return size_t(usage[i].current_bytes);
  return 0;
}

}  // namespace pool_test
