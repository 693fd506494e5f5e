// A std::vector<std::string> made with new, holding long strings, lost.
#include <string>
#include <vector>
static void make() {
  auto* v = new std::vector<std::string>;
  for (int i = 0; i < 10; ++i) v->push_back(std::string(40 + i, 'a' + i));
}
int main() {
  make();
  return 0;
}
