// A shared module the symbolizer test loads with its debug information in a separate file,
// named by its .gnu_debuglink (split_debug.sh).
extern "C" __attribute__((visibility("default"), noinline)) int stack_fixture_split_debug(int x) {
  return x * 5 + 2;
}
