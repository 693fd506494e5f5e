// new[] of a type with a destructor (an array cookie), leaked.
#include <cstring>
struct Item {
  char name[12];
  Item() { std::memset(name, 'i', sizeof name); }
  ~Item() { name[0] = 0; }
};
static Item* make() { return new Item[10]; }
int main() {
  make();
  return 0;
}
