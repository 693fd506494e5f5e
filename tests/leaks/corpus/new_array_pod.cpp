// new[] of ints and a single new of a struct, leaked.
struct Point { double x, y; };
static void make() {
  int* numbers = new int[100];
  numbers[0] = 1;
  Point* p = new Point{1.0, 2.0};
  (void)p;
}
int main() {
  make();
  return 0;
}
