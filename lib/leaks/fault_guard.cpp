#include "fault_guard.hpp"

#include <sys/syscall.h>
#include <unistd.h>

namespace memf {

constinit FaultGuard g_fault{};

namespace {

void on_fault(int sig, siginfo_t*, void*) {
  if (g_fault.armed && pid_t(syscall(SYS_gettid)) == g_fault.tid) {
    g_fault.armed = false;
    siglongjmp(g_fault.env, 1);
  }
  // Not ours: restore the previous disposition; returning re-executes the faulting access.
  sigaction(sig, sig == SIGSEGV ? &g_fault.old_segv : &g_fault.old_bus, nullptr);
}

}  // namespace

FaultScope::FaultScope() {
  g_fault.tid = pid_t(syscall(SYS_gettid));
  g_fault.armed = false;
  struct sigaction action {};
  action.sa_sigaction = on_fault;
  // SA_NODEFER: siglongjmp out of the handler does not restore the signal mask (sigsetjmp
  // saving the mask would cost a system call per range), so the signal must stay unblocked
  // (scan_range unblocks it after a fault as well).
  action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  // Should this fail, a fault while reading is fatal as it would be without the scope.
  sigaction(SIGSEGV, &action, &g_fault.old_segv);
  sigaction(SIGBUS, &action, &g_fault.old_bus);
}

FaultScope::~FaultScope() {
  g_fault.armed = false;
  sigaction(SIGSEGV, &g_fault.old_segv, nullptr);
  sigaction(SIGBUS, &g_fault.old_bus, nullptr);
}

}  // namespace memf
