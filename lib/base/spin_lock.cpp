#include "spin_lock.hpp"

#include <sched.h>

namespace memf {

// Out of line: the lock's fast path stays small where it is inlined.
void SpinLock::yield() { sched_yield(); }

}  // namespace memf
