#!/bin/bash
# Runs one lifecycle program under the preloaded libmemf.so with the leak check on, and fails
# unless it exits 0, prints its closing line, and memf wrote no error and no leak report: each
# program frees everything it allocates, in every process it starts that exits through exit().
# Stacks are recorded (MEMF_STACKS=all, memf-run's default): without them the dynamic linker's
# blocks are not told apart, and the one ld.so allocates when pthread_exit first loads the
# unwinder (libgcc_s, already mapped at start) is reported as a 56-byte direct leak.
#
# usage: run.sh PATH-TO-libmemf.so PROGRAM [ARGS...]
set -euo pipefail
lib=$1
shift
[[ -f $lib ]] || { echo "FAIL: $lib does not exist" >&2; exit 1; }
[[ -x $1 ]] || { echo "FAIL: program $1 is not built" >&2; exit 1; }
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
rc=0
env LD_PRELOAD="$lib" MEMF_LEAK_CHECK=1 MEMF_STACKS=all timeout --kill-after=5 60 "$@" >"$out" 2>"$err" || rc=$?
cat "$out"
status=0
name=$(basename "$1")
if [[ $rc == 124 || $rc == 137 ]]; then
    echo "FAIL: $name timed out" >&2
    status=1
elif [[ $rc != 0 ]]; then
    echo "FAIL: $name exited with status $rc" >&2
    status=1
fi
if ! grep -q "^$name: " "$out"; then
    echo "FAIL: $name did not print its closing line" >&2
    status=1
fi
if grep -q 'memf: error' "$err"; then
    echo "FAIL: memf reported an error" >&2
    status=1
fi
if grep -qE 'memf: detected memory leaks|Direct leak|Indirect leak' "$err"; then
    echo "FAIL: memf reported a leak in a process that freed everything" >&2
    status=1
fi
if ((status != 0)); then
    echo "stderr:" >&2
    head -c 8000 "$err" >&2
fi
exit "$status"
