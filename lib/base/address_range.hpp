#pragma once
#include <cstdint>

namespace memf {

// [begin, end) of the address space.
struct AddressRange {
  uintptr_t begin;
  uintptr_t end;  // exclusive
};

}  // namespace memf
