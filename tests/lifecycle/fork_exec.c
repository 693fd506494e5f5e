/* (b) fork then exec, of /bin/true and of this program, while the parent holds blocks across
 * each fork (checked afterwards) and the child allocates before it execs (its argument strings). */
#include "lifecycle.h"

#include <sys/wait.h>

enum { kRounds = 8, kHeld = 200 };

int main(int argc, char **argv) {
  run_if_child(argc, argv);
  require_memf();
  void *held[kHeld];
  size_t sizes[kHeld];
  hold(held, sizes, kHeld, 42);
  for (int round = 0; round < kRounds; round++) {
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
      char *args[] = {strdup("/bin/true"), NULL};
      execv(args[0], args);
      _exit(127);
    }
    EXPECT_EXIT0(pid, "fork+exec /bin/true");

    pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
      /* The child's own blocks before exec: the parent's are still there, intact. */
      for (int i = 0; i < kHeld; i += 7) CHECK(intact(held[i], sizes[i], (uint64_t)i), "child: inherited block corrupted");
      char *seed = malloc(32);
      snprintf(seed, 32, "%d", round + 1);
      char *args[] = {strdup("/proc/self/exe"), strdup("child"), seed, NULL};
      execv("/proc/self/exe", args);
      _exit(127);
    }
    churn(100 + (uint64_t)round, 5000); /* the parent works while the child runs */
    EXPECT_EXIT0(pid, "fork+exec self");
  }
  check_held(held, sizes, kHeld, 1);
  printf("fork_exec: %d rounds of fork+exec of /bin/true and of itself\n", kRounds);
  return 0;
}
