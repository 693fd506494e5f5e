// Two new[] arrays lost: int[25] (100 bytes) and Counted[4] (a type with a destructor, so the
// block carries an 8-byte element count before the 4 x 24 bytes: 104 bytes). Definitely lost:
// 204 bytes in 2 objects, both allocated in leak_new_array.
#include "leaks_common.h"

struct Counted {
  long a = 1, b = 2, c = 3;
  ~Counted() { escape(this); }
};

__attribute__((noinline)) void leak_new_array() {
  int* numbers = new int[25];
  for (int i = 0; i < 25; ++i) numbers[i] = i;
  escape(numbers);
  Counted* counted = new Counted[4];
  escape(counted);
}

int main() {
  leak_new_array();
  clobber_stack();
  return 0;
}
