// A shared module the symbolizer test loads, takes an address in, and unloads before symbolizing.
extern "C" __attribute__((visibility("default"), noinline)) int stack_fixture_unloaded(int x) {
  return x * 5 + 2;
}
