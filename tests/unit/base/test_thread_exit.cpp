// base/thread_exit: the one pthread key whose destructor runs every layer's thread-exit handler.
// The engine's handler frees what the pools' handler gave back, so the rank order matters; each
// handler finds the thread's state in its thread-locals, so it must run on the exiting thread
// while they are still there. Nothing else in this executable (base only) registers handlers.
#include <catch2/catch.hpp>

#include <pthread.h>

#include <mutex>
#include <thread>
#include <vector>

#include "thread_exit.hpp"

using namespace memf;

namespace {

// Set by each test thread before it exits; a handler reads it on the exiting thread.
thread_local int t_label = 0;
thread_local pthread_t t_self;

struct Call {
  int rank;
  int label;       // t_label as the handler saw it
  bool same_thread;  // pthread_self() in the handler is the thread that set t_label
  bool operator==(const Call& o) const { return rank == o.rank && label == o.label && same_thread == o.same_thread; }
};
std::mutex g_mutex;
std::vector<Call> g_calls;

void record(int rank) {
  std::lock_guard<std::mutex> guard(g_mutex);
  g_calls.push_back({rank, t_label, pthread_equal(pthread_self(), t_self) != 0});
}
void pools_handler() { record(kThreadExitPools); }
void engine_handler() { record(kThreadExitEngine); }
void second_handler() { record(99); }

std::vector<Call> take_calls() {
  std::lock_guard<std::mutex> guard(g_mutex);
  std::vector<Call> calls;
  calls.swap(g_calls);
  return calls;
}

// Runs a thread that sets its label, arms (arms times) and exits; join orders its handlers'
// records before the caller reads them.
void run_thread(int label, int arms) {
  std::thread([label, arms] {
    t_label = label;
    t_self = pthread_self();
    for (int i = 0; i < arms; ++i) thread_exit_arm();
  }).join();
}

}  // namespace

TEST_CASE("thread-exit handlers run in rank order on an armed exiting thread, with its thread-locals, and never for an unarmed one") {
  // Registered against rank order: they must still run pools first, engine last.
  thread_exit_register(kThreadExitEngine, engine_handler);
  thread_exit_register(kThreadExitPools, pools_handler);
  // A second handler at a rank keeps the first.
  thread_exit_register(kThreadExitPools, second_handler);
  // A rank out of range is ignored.
  thread_exit_register(ThreadExitRank(kThreadExitRanks), second_handler);
  take_calls();

  run_thread(7, 1);
  REQUIRE(take_calls() == std::vector<Call>{{kThreadExitPools, 7, true}, {kThreadExitEngine, 7, true}});

  // Never armed: no handler runs.
  run_thread(8, 0);
  REQUIRE(take_calls().empty());

  // Armed several times: the handlers still run once each.
  run_thread(9, 3);
  REQUIRE(take_calls() == std::vector<Call>{{kThreadExitPools, 9, true}, {kThreadExitEngine, 9, true}});

  // Several armed threads at once: each thread's handlers see that thread's label.
  std::vector<std::thread> threads;
  for (int label = 10; label < 14; ++label)
    threads.emplace_back([label] {
      t_label = label;
      t_self = pthread_self();
      thread_exit_arm();
    });
  for (auto& thread : threads) thread.join();
  std::vector<Call> calls = take_calls();
  REQUIRE(calls.size() == 8);
  for (int label = 10; label < 14; ++label) {
    INFO("thread " << label);
    std::vector<int> ranks;
    for (const Call& call : calls)
      if (call.label == label) {
        REQUIRE(call.same_thread);
        ranks.push_back(call.rank);
      }
    REQUIRE(ranks == std::vector<int>{kThreadExitPools, kThreadExitEngine});
  }
}
