// A block lost inside a callback that libc calls (qsort's comparison function). Debian's libc is
// built without frame pointers, so the frame-pointer walk cannot see past qsort's frames to
// main; MEMF_UNWIND=precise (DWARF unwinding) can.
#include <stdlib.h>
#include <string.h>

#include "leaks_common.h"

static int compared;

__attribute__((noinline)) static void leak_in_compare(void) {
  char* p = malloc(88);
  memset(p, 'c', 88);
  escape(p);
}

static int compare(const void* a, const void* b) {
  if (compared++ == 0) leak_in_compare();
  return *(const int*)a - *(const int*)b;
}

__attribute__((noinline)) void sort_numbers(void) {
  int numbers[] = {5, 3, 9, 1, 7, 2, 8};
  qsort(numbers, sizeof numbers / sizeof numbers[0], sizeof numbers[0], compare);
  escape(numbers);
}

int main(void) {
  sort_numbers();
  clobber_stack();
  return 0;
}
