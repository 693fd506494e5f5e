// /proc/self/maps, the one parser of it: the stack-bounds lookup on a thread's first captured
// stack (inside malloc) and the leak checker's roots both read it here.
#pragma once
#include <cstddef>
#include <cstdint>

#include "address_range.hpp"
#include "mapped_array.hpp"

namespace memf {

struct Mapping {
  uintptr_t begin;
  uintptr_t end;  // exclusive
  bool readable;
  bool heap;  // the [heap] mapping (brk)
};

// Calls visit(mapping, context) for each line, in address order, until visit returns false.
// Reads with raw system calls into a buffer on the stack, a byte at a time through the parser,
// so no line has to fit the buffer: no stdio, no malloc, not a cancellation point, errno kept.
// Safe inside malloc. False when the file cannot be opened.
bool for_each_mapping(bool (*visit)(const Mapping& mapping, void* context), void* context);

// The mapping that contains address; false if none (or the file cannot be read).
bool find_mapping(uintptr_t address, Mapping* out);

// Every mapping at one moment, in memory of its own: room for 64Ki mappings (the kernel's
// default vm.max_map_count) is reserved before reading, so that reading does not change the
// mappings it lists.
class MapsSnapshot {
 public:
  bool read();
  // The mapping containing address, nullptr if none.
  const Mapping* find(uintptr_t address) const;
  size_t size() const { return count_; }
  const Mapping& operator[](size_t i) const { return list_[i]; }
  // The snapshot's own memory (a leak scan leaves it out of its roots).
  AddressRange own_range() const { return {uintptr_t(list_.data), uintptr_t(list_.data) + list_.bytes}; }
  void release();

 private:
  MappedArray<Mapping> list_;
  size_t count_ = 0;
};

}  // namespace memf
