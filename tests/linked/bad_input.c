/* memf's C interface given null, out-of-range, foreign and already-freed arguments: each call
 * fails the documented way (or is a no-op) and leaves memf consistent: allocation, statistics
 * and categories still work afterwards. The table in docs/usage.md ("Bad input") lists these. */
#include <errno.h>
#include <memf/memf.h>
#include <memf/pressure.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "bad_input: line %d: %s\n", __LINE__, #cond);  \
      failures++;                                                     \
    }                                                                 \
  } while (0)

static size_t evict_nothing(size_t wanted, void* ctx) {
  (void)wanted;
  (void)ctx;
  return 0;
}
static void on_level(int level, void* ctx) {
  (void)level;
  (void)ctx;
}

/* Bytes live now, as memf counts them. */
static uint64_t live_bytes(void) {
  memf_stats stats;
  return memf_get_stats(&stats) == 0 ? stats.current_bytes : 0;
}

/* A block allocated now is counted: categories never lose an allocation. */
static void check_counted(size_t size) {
  const uint64_t before = live_bytes();
  void* p = malloc(size);
  CHECK(p != NULL && live_bytes() >= before + size);
  free(p);
}

int main(void) {
  CHECK(memf_get_stats(NULL) == -1);

  /* Categories: a null name counts as "Unknown"; pops without a push are ignored; names are cut
   * to 47 bytes; deep nesting and more names than the table holds do not lose allocations. */
  memf_category_push(NULL);
  memf_category_pop();
  memf_category_pop();
  memf_category_pop();
  char long_name[200];
  memset(long_name, 'n', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  memf_category_push(long_name);
  check_counted(1000);
  memf_category_pop();
  for (int i = 0; i < 300; ++i) {
    char name[32];
    snprintf(name, sizeof name, "bad-input-%d", i);
    memf_category_push(name);
  }
  for (int i = 0; i < 300; ++i) memf_category_pop();
  for (int i = 0; i < 100000; ++i) memf_category_push("deep");
  check_counted(2000);
  for (int i = 0; i < 100000; ++i) memf_category_pop();
  memf_category_push("after");
  check_counted(3000);
  memf_category_pop();

  /* Output: bad descriptors and paths fail without a crash; errno says why. */
  memf_print_stats(-1);
  memf_print_stats(12345);
  errno = 0;
  CHECK(memf_report_write(NULL) == -1 && errno == EINVAL);
  errno = 0;
  CHECK(memf_report_write("/nonexistent-dir/report.json") == -1 && errno == ENOENT);
  errno = 0;
  CHECK(memf_report_write("/") == -1 && errno == EISDIR);
  char link_path[64];
  snprintf(link_path, sizeof link_path, "/tmp/memf-bad-input-%d.json", (int)getpid());
  unlink(link_path);
  CHECK(symlink("/tmp/memf-bad-input-target", link_path) == 0);
  errno = 0;
  CHECK(memf_report_write(link_path) == -1 && errno == ELOOP);
  unlink(link_path);

  /* Defragmentation of pointers that are not live blocks: no hint, no move. */
  int on_stack = 0;
  void* volatile freed = malloc(48);  /* volatile: its value is used after the free on purpose */
  free(freed);
  CHECK(memf_defrag_hint(NULL) == 0);
  CHECK(memf_defrag_hint(&on_stack) == 0);
  CHECK(memf_defrag_hint(freed) == 0);
  CHECK(memf_defrag_move(NULL) == NULL);
  CHECK(memf_defrag_move(&on_stack) == &on_stack);
  CHECK(memf_defrag_move(freed) == freed);

  /* Pressure subscriptions and caches: null callbacks and unknown or spent ids are refused. */
  CHECK(memf_on_pressure(NULL, NULL) == -1);
  CHECK(memf_off_pressure(-5) == -1);
  CHECK(memf_off_pressure(12345) == -1);
  const int subscription = memf_on_pressure(on_level, NULL);
  CHECK(subscription > 0);
  CHECK(memf_off_pressure(subscription) == 0);
  CHECK(memf_off_pressure(subscription) == -1);
  CHECK(memf_cache_register("bad-input", NULL, NULL, 0) == -1);
  CHECK(memf_cache_unregister(-1) == -1);
  const int cache = memf_cache_register(NULL, evict_nothing, NULL, 1000000);
  CHECK(cache > 0);
  CHECK(memf_cache_unregister(cache) == 0);
  CHECK(memf_cache_unregister(cache) == -1);
  CHECK(memf_set_limit_action(99) == -1);
  CHECK(memf_set_limit_action(-1) == -1);
  CHECK(memf_pressure_info_get(NULL) == -1);
  uint64_t empty_bytes = 0;
  const size_t classes = memf_fragmentation(NULL, 5, NULL);
  CHECK(classes > 0);
  CHECK(memf_fragmentation(NULL, 0, &empty_bytes) == classes);
  CHECK(memf_optimize(0) == 0);
  memf_set_limit(SIZE_MAX);
  memf_set_limit(0);

  /* memf is still whole: allocation and statistics work. */
  memf_stats stats;
  void* blocks[1000];
  for (int i = 0; i < 1000; ++i) {
    blocks[i] = malloc((size_t)(16 + i));
    CHECK(blocks[i] != NULL);
    memset(blocks[i], i & 0xff, (size_t)(16 + i));
  }
  for (int i = 0; i < 1000; ++i) free(blocks[i]);
  CHECK(memf_get_stats(&stats) == 0);
  printf("bad_input: %d failures\n", failures);
  return failures ? 1 : 0;
}
