#!/bin/bash
# No memf thread unless the process asks for pressure handling (docs/pressure.md): with a limit
# the process stays single-threaded (and unshare -U works), the limit is still enforced on the
# allocation path, and MEMF_PRESSURE=1 starts the monitor.
#   no_thread.sh THREAD_COUNT LIBMEMF
set -u
probe=$1
lib=$2
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
run() { env LD_PRELOAD="$lib" "$@" "$probe"; }

out=$(run MEMF_LIMIT=1G) || fail "MEMF_LIMIT=1G: status $?"
[ "$out" = "threads=1 big=ok" ] || fail "MEMF_LIMIT=1G: $out (expected one thread)"
out=$(run MEMF_LIMIT=1M MEMF_LIMIT_ACTION=fail) || fail "MEMF_LIMIT=1M: status $?"
[ "$out" = "threads=1 big=NULL" ] || fail "MEMF_LIMIT=1M MEMF_LIMIT_ACTION=fail: $out (expected one thread, the 2 MiB malloc refused)"
out=$(run MEMF_PRESSURE=1) || fail "MEMF_PRESSURE=1: status $?"
[ "$out" = "threads=2 big=ok" ] || fail "MEMF_PRESSURE=1: $out (expected the monitor thread)"

# unshare(CLONE_NEWUSER) needs a single-threaded process.
if unshare -U true 2>/dev/null; then
  env LD_PRELOAD="$lib" MEMF_LIMIT=1G unshare -U true || fail "MEMF_LIMIT=1G unshare -U true failed under memf"
else
  echo "note: unshare -U is not permitted here even without memf; that check is left out"
fi
echo "no_thread: $failures failures"
[ $failures -eq 0 ]
