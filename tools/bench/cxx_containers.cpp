// cxx_containers: the standard containers of an ordinary C++ program, built and torn down.
//
// Each round, on one thread:
//   - a std::map<std::string, std::vector<int>> of 20,000 entries: keys of about 30 characters
//     (outside the small-string buffer), each value a vector grown by push_back to 0-16 ints;
//   - a std::unordered_map<int, std::string> of 20,000 entries, short and long strings mixed;
//   - a tree of std::shared_ptr nodes four levels deep (8 children a node), each named by
//     concatenating its parent's name and its index;
// then a walk over all three (the checksum) and their destruction. 150 rounds at scale 1.
#include "bench_common.h"

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Node {
  std::string name;
  std::vector<std::shared_ptr<Node>> children;
  std::weak_ptr<Node> parent;
};

std::shared_ptr<Node> grow_tree(const std::string& name, int depth, const std::shared_ptr<Node>& parent) {
  auto node = std::make_shared<Node>();
  node->name = name;
  node->parent = parent;
  if (depth > 0) {
    node->children.reserve(8);
    for (int i = 0; i < 8; ++i) node->children.push_back(grow_tree(name + "/" + std::to_string(i), depth - 1, node));
  }
  return node;
}

uint64_t walk_tree(const Node& node) {
  uint64_t sum = node.name.size();
  for (const auto& child : node.children) sum += walk_tree(*child);
  return sum;
}

std::string key_of(bench_rng& rng, uint64_t i) {
  std::string key = "entry-key-";
  key += std::to_string(bench_next(&rng) % 1000000007u);
  key += "-";
  key += std::to_string(i);
  while (key.size() < 30) key += 'k';
  return key;
}

uint64_t one_round(bench_rng& rng) {
  uint64_t sum = 0;
  std::map<std::string, std::vector<int>> by_name;
  std::unordered_map<int, std::string> by_id;
  for (uint64_t i = 0; i < 20000; ++i) {
    std::vector<int>& values = by_name[key_of(rng, i)];
    const unsigned n = unsigned(bench_next(&rng) % 17);
    for (unsigned k = 0; k < n; ++k) values.push_back(int(i + k));
    const uint64_t r = bench_next(&rng);
    by_id.emplace(int(i * 7919 % 1000003), r % 3 == 0 ? std::string("id") : std::string(20 + r % 40, char('a' + r % 26)));
  }
  auto root = grow_tree("root", 4, nullptr);
  for (const auto& entry : by_name) sum += entry.first.size() + entry.second.size();
  for (const auto& entry : by_id) sum += entry.second.size() + uint64_t(entry.first & 1);
  sum += walk_tree(*root);
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t rounds = bench_scaled(150, bench_scale(argc, argv));
  bench_rng rng;
  bench_rng_seed(&rng, 42);
  const double start = bench_now();
  uint64_t checksum = 0;
  for (uint64_t round = 0; round < rounds; ++round) checksum += one_round(rng);
  printf("cxx_containers rounds=%llu checksum=%llu elapsed=%.3f\n", (unsigned long long)rounds,
         (unsigned long long)checksum, bench_now() - start);
  return 0;
}
