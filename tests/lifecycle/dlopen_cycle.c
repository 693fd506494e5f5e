/* (d) dlopen and dlclose of a library (plugin.c) several times: blocks cross the boundary both
 * ways, and the library's blocks outlive it (freed by the program after dlclose). */
#include "lifecycle.h"

enum { kCycles = 6, kBlocks = 300 };

typedef void make_fn(void **, size_t *, int, uint64_t);
typedef void take_fn(void **, const size_t *, int, uint64_t);

int main(int argc, char **argv) {
  require_memf();
  CHECK(argc == 2, "usage: dlopen_cycle PATH-TO-PLUGIN");
  static void *theirs[kBlocks], *mine[kBlocks];
  static size_t their_sizes[kBlocks], my_sizes[kBlocks];
  for (int cycle = 0; cycle < kCycles; cycle++) {
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    CHECK(lib != NULL, "dlopen: %s", dlerror());
    make_fn *make = (make_fn *)dlsym(lib, "plugin_make");
    take_fn *take = (take_fn *)dlsym(lib, "plugin_take");
    CHECK(make && take, "dlsym: %s", dlerror());

    uint64_t state = 99 + (uint64_t)cycle;
    for (int i = 0; i < kBlocks; i++) {
      my_sizes[i] = random_size(&state);
      mine[i] = malloc(my_sizes[i]);
      CHECK(mine[i] != NULL, "malloc failed");
      fill(mine[i], my_sizes[i], 5000 + (uint64_t)i);
    }
    take(mine, my_sizes, kBlocks, 5000);
    make(theirs, their_sizes, kBlocks, 9000 + (uint64_t)cycle * kBlocks);

    CHECK(dlclose(lib) == 0, "dlclose: %s", dlerror());
    CHECK(dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD) == NULL, "the library is still loaded after dlclose");
    for (int i = 0; i < kBlocks; i++) {
      CHECK(intact(theirs[i], their_sizes[i], 9000 + (uint64_t)cycle * kBlocks + (uint64_t)i),
            "block %d from the unloaded library corrupted", i);
      theirs[i] = realloc(theirs[i], their_sizes[i] + 100); /* a block of an unloaded library grows */
      CHECK(theirs[i] != NULL, "realloc failed");
      free(theirs[i]);
    }
  }
  printf("dlopen_cycle: %d cycles of dlopen/dlclose, %d blocks each way\n", kCycles, kBlocks);
  return 0;
}
