// A std::map<int, std::string> of 50 entries made with new and never deleted.
#include <map>
#include <string>
static void make() {
  auto* m = new std::map<int, std::string>;
  for (int i = 0; i < 50; ++i) (*m)[i] = "value number " + std::to_string(i) + " with some length";
}
int main() {
  make();
  return 0;
}
