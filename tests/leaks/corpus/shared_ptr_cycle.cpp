// Two objects that own each other through std::shared_ptr: the cycle outlives its last owner.
#include <memory>
#include <string>
struct Node {
  std::shared_ptr<Node> other;
  std::string name;
};
static void make() {
  auto a = std::make_shared<Node>();
  auto b = std::make_shared<Node>();
  a->name = "first";
  b->name = "second";
  a->other = b;
  b->other = a;
}
int main() {
  make();
  return 0;
}
