// A shared module the symbolizer test dlopens after the symbolizer has read the module list.
extern "C" __attribute__((visibility("default"), noinline)) int stack_fixture_loaded_later(int x) {
  return x * 3 + 1;
}
