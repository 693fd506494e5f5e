// An array in memory of its own (mmap), for code that must not allocate through malloc while it
// examines the heap (the leak scan) or that may run inside malloc (/proc/self/maps snapshots).
#pragma once
#include <algorithm>
#include <cstddef>

#include "compiler.hpp"
#include "os.hpp"

namespace memf {

template <class T>
struct MappedArray {
  T* data = nullptr;
  size_t capacity = 0;  // elements
  size_t bytes = 0;

  // Fresh zeroed room for at least n elements (pages are committed only when touched).
  bool map(size_t n) {
    bytes = round_up(std::max<size_t>(n, 1) * sizeof(T), kPageSize);
    data = static_cast<T*>(os::map(bytes));
    capacity = data ? bytes / sizeof(T) : 0;
    return data != nullptr;
  }
  // Grows to at least n elements, keeping the contents (mremap: no malloc, no copy).
  bool grow(size_t n) {
    if (n <= capacity) return true;
    size_t new_bytes = round_up(std::max(n * sizeof(T), bytes * 2), kPageSize);
    void* p = os::remap(data, bytes, new_bytes);
    if (!p) return false;
    data = static_cast<T*>(p);
    bytes = new_bytes;
    capacity = bytes / sizeof(T);
    return true;
  }
  void unmap() {
    if (data) os::unmap(data, bytes);
    data = nullptr;
    capacity = bytes = 0;
  }
  T& operator[](size_t i) { return data[i]; }
  const T& operator[](size_t i) const { return data[i]; }
};

}  // namespace memf
