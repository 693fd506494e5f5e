// Thread exit: the one pthread key whose destructor gives back what a thread holds. Every layer
// with per-thread state registers a handler at its rank; at a thread's exit the handlers run in
// rank order, on the exiting thread, whose thread-locals are still there.
#pragma once

namespace memf {

enum ThreadExitRank : unsigned {
  kThreadExitProfile = 0,  // track: the heap profile's pending figures of the thread are added in
  kThreadExitStacks,       // track: the thread's memo of recent stacks goes to the next thread
  kThreadExitUnwind,       // track: the thread's unwind state (recent rules, last walk) goes to the next thread
  kThreadExitPools,      // pools: each pool's cache of the thread goes back to its pool
  kThreadExitEngine,     // engine: the thread cache goes back to the centre; last, so that what
                         // the handlers before it free is given back too
  kThreadExitRanks
};

// Installs the handler at rank (once per rank). The first call creates the key: call it where
// allocating is safe (pthread_key_create does not allocate in glibc 2.36, but may elsewhere).
void thread_exit_register(ThreadExitRank rank, void (*handler)());
// Asks for the calling thread's handlers to run at its exit. Cheap after the first call in a
// thread; does not allocate (keys below PTHREAD_KEY_2NDLEVEL_SIZE live in the thread
// descriptor). Does nothing before the first registration.
void thread_exit_arm();

}  // namespace memf
