// base/fork: the one set of pthread_atfork handlers. The order is the lock order across layers,
// so it is checked exactly: prepare in rank order, parent and child handlers in reverse.
// Nothing else in this executable (base only) registers fork handlers.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "fork.hpp"

using namespace memf;

namespace {

// What the handlers did, in order: phase * 100 + rank (phase 1 prepare, 2 parent, 3 child;
// 9 for handlers that must never run). Only the forking thread writes it.
int g_events[64];
int g_event_count = 0;
void note(int event) {
  if (g_event_count < 64) g_events[g_event_count++] = event;
}
std::vector<int> events() { return std::vector<int>(g_events, g_events + g_event_count); }

template <int kRank>
void prepare() { note(100 + kRank); }
template <int kRank>
void parent() { note(200 + kRank); }
template <int kRank>
void child() { note(300 + kRank); }
template <int kRank>
void never() { note(900 + kRank); }

template <int kRank>
void register_rank() {
  fork_register(ForkRank(kRank), {prepare<kRank>, parent<kRank>, child<kRank>});
}

// Forks; the child sends the events it saw to the parent through a pipe and exits. The parent's
// events and the child's.
void fork_and_collect(std::vector<int>* in_parent, std::vector<int>* in_child) {
  g_event_count = 0;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const int count = g_event_count;
    const bool ok = write(fds[1], &count, sizeof count) == ssize_t(sizeof count) &&
                    write(fds[1], g_events, sizeof(int) * size_t(count)) == ssize_t(sizeof(int) * size_t(count));
    _exit(ok ? 0 : 1);
  }
  REQUIRE(pid > 0);
  *in_parent = events();
  close(fds[1]);
  int count = -1;
  REQUIRE(read(fds[0], &count, sizeof count) == ssize_t(sizeof count));
  REQUIRE(count >= 0);
  REQUIRE(count <= 64);
  in_child->resize(size_t(count));
  if (count > 0) REQUIRE(read(fds[0], in_child->data(), sizeof(int) * size_t(count)) == ssize_t(sizeof(int) * size_t(count)));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

}  // namespace

TEST_CASE("fork handlers: prepare in rank order, parent and child handlers in reverse, first registration per rank kept") {
  // Registered out of rank order: the order they run in is the ranks', not the registrations'.
  register_rank<kForkEngine>();
  register_rank<kForkOptimizer>();
  register_rank<kForkCategories>();
  register_rank<kForkPools>();
  // A second registration at a rank that has handlers does nothing.
  fork_register(kForkEngine, {never<kForkEngine>, never<kForkEngine>, never<kForkEngine>});
  // A rank out of range is ignored.
  fork_register(ForkRank(kForkRanks), {never<kForkRanks>, never<kForkRanks>, never<kForkRanks>});

  std::vector<int> in_parent, in_child;
  fork_and_collect(&in_parent, &in_child);
  const std::vector<int> expected_parent = {100 + kForkOptimizer, 100 + kForkPools, 100 + kForkEngine, 100 + kForkCategories,
                                            200 + kForkCategories, 200 + kForkEngine, 200 + kForkPools, 200 + kForkOptimizer};
  const std::vector<int> expected_child = {100 + kForkOptimizer, 100 + kForkPools, 100 + kForkEngine, 100 + kForkCategories,
                                           300 + kForkCategories, 300 + kForkEngine, 300 + kForkPools, 300 + kForkOptimizer};
  REQUIRE(in_parent == expected_parent);
  REQUIRE(in_child == expected_child);

  // A rank registered after the first fork joins in its place on the next one.
  register_rank<kForkMonitor>();
  fork_and_collect(&in_parent, &in_child);
  REQUIRE(in_parent == std::vector<int>{100 + kForkOptimizer, 100 + kForkMonitor, 100 + kForkPools, 100 + kForkEngine,
                                        100 + kForkCategories, 200 + kForkCategories, 200 + kForkEngine, 200 + kForkPools,
                                        200 + kForkMonitor, 200 + kForkOptimizer});
  REQUIRE(in_child == std::vector<int>{100 + kForkOptimizer, 100 + kForkMonitor, 100 + kForkPools, 100 + kForkEngine,
                                       100 + kForkCategories, 300 + kForkCategories, 300 + kForkEngine, 300 + kForkPools,
                                       300 + kForkMonitor, 300 + kForkOptimizer});
}
