// A lost object owns a long std::string (heap buffer) and a short one (in place).
#include <string>
struct Record {
  std::string title;
  std::string note;
  int id;
};
static void make() {
  Record* r = new Record{std::string(100, 'x'), "short", 7};
  (void)r;
}
int main() {
  make();
  return 0;
}
