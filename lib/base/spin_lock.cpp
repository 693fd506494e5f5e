#include "spin_lock.hpp"

#include <sched.h>

#include <cstdlib>

#include "os.hpp"

namespace memf {

// Out of line: the lock's fast path stays small where it is inlined.
void SpinLock::yield() { sched_yield(); }

void SpinLock::reentered() {
  static const char kMessage[] =
      "memf: error: memf was entered again by a thread already inside it, which can only be malloc or free (or "
      "another allocation call) made by a signal handler that interrupted one; that is not async-signal-safe and "
      "would hang here; aborting\n";
  os::write_stderr(kMessage, sizeof kMessage - 1);
  abort();
}

}  // namespace memf
