// A std::unordered_map<std::string, int> of 40 entries made with new and never deleted.
#include <string>
#include <unordered_map>
static void make() {
  auto* m = new std::unordered_map<std::string, int>;
  for (int i = 0; i < 40; ++i) (*m)["key-" + std::to_string(i) + "-padding-padding"] = i;
}
int main() {
  make();
  return 0;
}
