// Fault recovery for the leak scan. Another thread may free (and unmap) a large block, or end and
// unmap its stack, while the scan reads it. A read that faults jumps back into the scan_range
// call that made it (scanner.cpp), which goes on at the next page. Only faults of the scanning
// thread while a range is being read are caught; any other SIGSEGV/SIGBUS goes to the handler
// that was installed before.
#pragma once
#include <setjmp.h>
#include <signal.h>
#include <sys/types.h>

namespace memf {

struct FaultGuard {
  sigjmp_buf env;
  volatile pid_t tid;    // the scanning thread
  volatile bool armed;   // env belongs to a live scan_range frame
  struct sigaction old_segv;
  struct sigaction old_bus;
};
extern FaultGuard g_fault;

// While it lives, faults of the calling thread with g_fault armed jump to g_fault.env.
class FaultScope {
 public:
  FaultScope();
  ~FaultScope();
  FaultScope(const FaultScope&) = delete;
  FaultScope& operator=(const FaultScope&) = delete;
};

}  // namespace memf
