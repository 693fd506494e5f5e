// Slab records and their lists, the bookkeeping every memf pool keeps for each run of memory it
// carves blocks from: the allocator's 64 KiB slabs, a MemoryPool's chunks, a VariablePool's
// chunks. A pool keeps one record per slab in an array apart from the blocks (so that the
// program's writes never reach it) and threads records onto lists by index (partial, empty,
// released...): 32-bit links, and a record's place in the array is its slab's place in the
// pool's range.
#pragma once
#include <cstdint>

#include "free_mark.hpp"

namespace memf {

constexpr uint32_t kNoSlab = UINT32_MAX;

struct SlabRecord {
  FreeBlock* free;  // blocks given back to this slab, linked by FreeBlock::next
  uint32_t used;    // blocks out of the slab: with the program, in caches, on shelves
  uint32_t carved;  // slots [0, carved) have been handed out at least once
  uint32_t prev;    // neighbours on the list the record is on (kNoSlab at the ends)
  uint32_t next;
  uint8_t list;     // which list (or state) the record is in: the pool's own ids
};

// r's free list failed a check at the block the caller was taking (core/free_mark.hpp): the
// blocks on it, `taken` of which the caller had already taken off, stay counted as used, so that
// none is handed out again and the slab is never released or recycled under them.
inline void drop_free_list(SlabRecord& r, uint32_t taken) {
  r.used += r.carved - r.used - taken;
  r.free = nullptr;
}

// A doubly linked list of records of type Record (SlabRecord or derived from it), each in the
// array the caller passes. The list does not own the array: one array holds the records of
// several lists. Not thread-safe: the pool's lock guards it.
template <class Record>
class SlabList {
 public:
  constexpr explicit SlabList(uint8_t id) : id_(id) {}

  uint8_t id() const { return id_; }
  uint32_t head() const { return head_; }
  uint32_t tail() const { return tail_; }
  uint32_t size() const { return count_; }
  bool empty() const { return head_ == kNoSlab; }

  // Puts record i, which is on no list, at the front.
  void push_front(Record* records, uint32_t i) {
    Record& r = records[i];
    r.list = id_;
    r.prev = kNoSlab;
    r.next = head_;
    if (head_ != kNoSlab) records[head_].prev = i;
    else tail_ = i;
    head_ = i;
    ++count_;
  }

  // Takes record i off this list; its list field becomes `now` (a state of the pool's).
  void remove(Record* records, uint32_t i, uint8_t now) {
    Record& r = records[i];
    if (r.prev != kNoSlab) records[r.prev].next = r.next;
    else head_ = r.next;
    if (r.next != kNoSlab) records[r.next].prev = r.prev;
    else tail_ = r.prev;
    r.prev = r.next = kNoSlab;
    r.list = now;
    --count_;
  }

  // The front (most recently pushed) or back (oldest) record, taken off; kNoSlab when empty.
  uint32_t pop_front(Record* records, uint8_t now) {
    const uint32_t i = head_;
    if (i != kNoSlab) remove(records, i, now);
    return i;
  }
  uint32_t pop_back(Record* records, uint8_t now) {
    const uint32_t i = tail_;
    if (i != kNoSlab) remove(records, i, now);
    return i;
  }

  // Forgets every record (their fields are left as they are): for a pool that starts over.
  void reset() {
    head_ = tail_ = kNoSlab;
    count_ = 0;
  }

 private:
  uint32_t head_ = kNoSlab;
  uint32_t tail_ = kNoSlab;
  uint32_t count_ = 0;
  uint8_t id_;
};

}  // namespace memf
