// core/slab_list: the index-linked lists of slab records every memf pool keeps (the engine's
// partial/empty/purged slabs, the pools' chunks). A wrong link loses a slab or hands it out twice,
// so every operation is checked link by link, and random sequences against a model.
#include <catch2/catch.hpp>

#include <deque>
#include <random>
#include <vector>

#include "slab_list.hpp"

using namespace memf;

namespace {

// A pool's own record type: the list works on records derived from SlabRecord (stride and all).
struct Record : SlabRecord {
  uint64_t payload;
};

std::vector<Record> fresh_records(size_t n) {
  std::vector<Record> records(n);
  for (size_t i = 0; i < n; ++i) {
    records[i] = Record{};
    records[i].prev = records[i].next = 0xdead;  // garbage: push_front must set both
    records[i].payload = i * 1000;
  }
  return records;
}

// The list's records front to back, following next, checking each prev link on the way, the
// list id of each record, and that the back is the tail.
template <class R>
std::vector<uint32_t> walk(const SlabList<R>& list, const std::vector<R>& records) {
  std::vector<uint32_t> order;
  uint32_t prev = kNoSlab;
  for (uint32_t i = list.head(); i != kNoSlab; i = records[i].next) {
    REQUIRE(records[i].prev == prev);
    REQUIRE(records[i].list == list.id());
    order.push_back(i);
    prev = i;
    REQUIRE(order.size() <= records.size());  // no cycle
  }
  REQUIRE(list.tail() == prev);
  REQUIRE(list.size() == order.size());
  REQUIRE(list.empty() == order.empty());
  return order;
}

}  // namespace

TEST_CASE("an empty list has no head or tail, and popping it gives kNoSlab") {
  std::vector<Record> records = fresh_records(2);
  SlabList<Record> list{7};
  REQUIRE(list.id() == 7);
  REQUIRE(list.empty());
  REQUIRE(list.size() == 0);
  REQUIRE(list.head() == kNoSlab);
  REQUIRE(list.tail() == kNoSlab);
  REQUIRE(list.pop_front(records.data(), 1) == kNoSlab);
  REQUIRE(list.pop_back(records.data(), 1) == kNoSlab);
  REQUIRE(records[0].list == 0);  // nothing touched
}

TEST_CASE("push_front puts records at the head; the first pushed is the tail; links both ways") {
  std::vector<Record> records = fresh_records(5);
  SlabList<Record> list{3};
  list.push_front(records.data(), 2);
  REQUIRE(list.head() == 2);
  REQUIRE(list.tail() == 2);
  REQUIRE(records[2].prev == kNoSlab);
  REQUIRE(records[2].next == kNoSlab);
  list.push_front(records.data(), 0);
  list.push_front(records.data(), 4);
  REQUIRE(walk(list, records) == std::vector<uint32_t>{4, 0, 2});
  REQUIRE(list.head() == 4);
  REQUIRE(list.tail() == 2);
  for (uint32_t i : {4u, 0u, 2u}) REQUIRE(records[i].list == 3);
  REQUIRE(records[1].list == 0);  // records not pushed keep their fields
  REQUIRE(records[1].prev == 0xdead);
  for (size_t i = 0; i < records.size(); ++i) REQUIRE(records[i].payload == i * 1000);
}

TEST_CASE("remove unlinks a record from the middle, the head or the tail and gives it the new state") {
  std::vector<Record> records = fresh_records(6);
  SlabList<Record> list{1};
  for (uint32_t i = 0; i < 6; ++i) list.push_front(records.data(), i);  // 5 4 3 2 1 0
  list.remove(records.data(), 3, 9);  // middle
  REQUIRE(walk(list, records) == std::vector<uint32_t>{5, 4, 2, 1, 0});
  REQUIRE(records[3].list == 9);
  REQUIRE(records[3].prev == kNoSlab);
  REQUIRE(records[3].next == kNoSlab);
  REQUIRE(records[4].next == 2);
  REQUIRE(records[2].prev == 4);
  list.remove(records.data(), 5, 9);  // head
  REQUIRE(list.head() == 4);
  REQUIRE(records[4].prev == kNoSlab);
  list.remove(records.data(), 0, 8);  // tail
  REQUIRE(list.tail() == 1);
  REQUIRE(records[1].next == kNoSlab);
  REQUIRE(records[0].list == 8);
  REQUIRE(walk(list, records) == std::vector<uint32_t>{4, 2, 1});
  // A removed record can go on the list again.
  list.push_front(records.data(), 3);
  REQUIRE(walk(list, records) == std::vector<uint32_t>{3, 4, 2, 1});
  list.remove(records.data(), 3, 0);
  list.remove(records.data(), 4, 0);
  list.remove(records.data(), 2, 0);
  list.remove(records.data(), 1, 0);  // the last one: empty again
  REQUIRE(list.empty());
  REQUIRE(list.head() == kNoSlab);
  REQUIRE(list.tail() == kNoSlab);
  REQUIRE(list.size() == 0);
}

TEST_CASE("pop_front takes the newest record, pop_back the oldest") {
  std::vector<Record> records = fresh_records(4);
  SlabList<Record> list{2};
  for (uint32_t i = 0; i < 4; ++i) list.push_front(records.data(), i);  // 3 2 1 0
  REQUIRE(list.pop_back(records.data(), 5) == 0);
  REQUIRE(records[0].list == 5);
  REQUIRE(list.pop_front(records.data(), 6) == 3);
  REQUIRE(records[3].list == 6);
  REQUIRE(walk(list, records) == std::vector<uint32_t>{2, 1});
  REQUIRE(list.pop_back(records.data(), 5) == 1);
  REQUIRE(list.pop_back(records.data(), 5) == 2);
  REQUIRE(list.empty());
  REQUIRE(list.tail() == kNoSlab);
}

TEST_CASE("several lists share one array of records; reset forgets a list without touching its records") {
  std::vector<Record> records = fresh_records(6);
  SlabList<Record> partial{1}, empty{2};
  for (uint32_t i = 0; i < 3; ++i) partial.push_front(records.data(), i);
  for (uint32_t i = 3; i < 6; ++i) empty.push_front(records.data(), i);
  // Moving a record from one list to the other keeps both intact.
  partial.remove(records.data(), 1, 0);
  empty.push_front(records.data(), 1);
  REQUIRE(walk(partial, records) == std::vector<uint32_t>{2, 0});
  REQUIRE(walk(empty, records) == std::vector<uint32_t>{1, 5, 4, 3});
  empty.reset();
  REQUIRE(empty.empty());
  REQUIRE(empty.size() == 0);
  REQUIRE(empty.tail() == kNoSlab);
  REQUIRE(records[1].list == 2);  // fields left as they were
  REQUIRE(walk(partial, records) == std::vector<uint32_t>{2, 0});
}

TEST_CASE("random pushes, removes and pops agree with a model list") {
  constexpr uint32_t kRecords = 64;
  std::vector<Record> records = fresh_records(kRecords);
  SlabList<Record> list{4};
  std::deque<uint32_t> model;  // front = head
  std::vector<bool> on_list(kRecords, false);
  std::mt19937 random(11);
  for (int op = 0; op < 20000; ++op) {
    const uint32_t i = random() % kRecords;
    switch (random() % 4) {
      case 0:
      case 1:
        if (!on_list[i]) {
          list.push_front(records.data(), i);
          model.push_front(i);
          on_list[i] = true;
        } else {
          list.remove(records.data(), i, 0);
          for (auto it = model.begin(); it != model.end(); ++it)
            if (*it == i) {
              model.erase(it);
              break;
            }
          on_list[i] = false;
          REQUIRE(records[i].list == 0);
        }
        break;
      case 2: {
        const uint32_t got = list.pop_front(records.data(), 0);
        REQUIRE(got == (model.empty() ? kNoSlab : model.front()));
        if (!model.empty()) {
          on_list[model.front()] = false;
          model.pop_front();
        }
        break;
      }
      default: {
        const uint32_t got = list.pop_back(records.data(), 0);
        REQUIRE(got == (model.empty() ? kNoSlab : model.back()));
        if (!model.empty()) {
          on_list[model.back()] = false;
          model.pop_back();
        }
        break;
      }
    }
    if (op % 97 == 0) REQUIRE(walk(list, records) == std::vector<uint32_t>(model.begin(), model.end()));
  }
  REQUIRE(walk(list, records) == std::vector<uint32_t>(model.begin(), model.end()));
}
