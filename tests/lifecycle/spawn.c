/* (c) posix_spawn (with file actions, which allocate) and vfork+exec, of /bin/true and of this
 * program; the parent's blocks are checked after each. */
#include "lifecycle.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

enum { kRounds = 8, kHeld = 100 };

static pid_t spawn(char *const args[], int with_actions) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_t *use = NULL;
  if (with_actions) {
    CHECK(posix_spawn_file_actions_init(&actions) == 0, "file_actions_init failed");
    CHECK(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) == 0, "addopen failed");
    use = &actions;
  }
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], use, NULL, args, environ);
  CHECK(rc == 0, "posix_spawn %s failed: %s", args[0], strerror(rc));
  if (use) posix_spawn_file_actions_destroy(use);
  return pid;
}

static pid_t vfork_exec(char *const args[]) {
  pid_t pid = vfork();
  CHECK(pid >= 0, "vfork failed");
  if (pid == 0) {
    execve(args[0], args, environ); /* between vfork and exec: nothing that allocates */
    _exit(127);
  }
  return pid;
}

int main(int argc, char **argv) {
  run_if_child(argc, argv);
  require_memf();
  void *held[kHeld];
  size_t sizes[kHeld];
  hold(held, sizes, kHeld, 7);
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  CHECK(n > 0, "readlink /proc/self/exe failed");
  self[n] = '\0';
  for (int round = 0; round < kRounds; round++) {
    char seed[16];
    snprintf(seed, sizeof seed, "%d", 50 + round);
    char *truth[] = {"/bin/true", NULL};
    char *again[] = {self, "child", seed, NULL};
    EXPECT_EXIT0(spawn(truth, round % 2), "posix_spawn /bin/true");
    EXPECT_EXIT0(spawn(again, round % 2 == 0), "posix_spawn self");
    EXPECT_EXIT0(vfork_exec(truth), "vfork+exec /bin/true");
    pid_t pid = vfork_exec(again);
    churn(300 + (uint64_t)round, 3000);
    EXPECT_EXIT0(pid, "vfork+exec self");
    check_held(held, sizes, kHeld, 0);
  }
  check_held(held, sizes, kHeld, 1);
  printf("spawn: %d rounds of posix_spawn and vfork+exec of /bin/true and of itself\n", kRounds);
  return 0;
}
