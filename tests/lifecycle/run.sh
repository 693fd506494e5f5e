#!/bin/bash
# Runs one lifecycle program under the preloaded libmemf.so with the leak check and the stats at
# exit on, and fails unless it exits 0, prints its closing line, memf wrote no error, every
# process that ends through exit() wrote memf's report (EXITS of them: the program, its forked
# children, the programs they exec, all preloaded), and memf's leak verdicts are exactly those
# the program announces on stdout: `expect-leak: PID definite BYTES in N, indirect BYTES in N`
# for a process that leaks just that, `may-leak: PID N` for one that may leak up to N blocks of
# any size, nothing for one that frees everything. A child that leaks exits with
# MEMF_LEAK_EXITCODE.
# Stacks are recorded (MEMF_STACKS=all, memf-run's default): without them the dynamic linker's
# blocks are not told apart, and the one ld.so allocates when pthread_exit first loads the
# unwinder (libgcc_s, already mapped at start) is reported as a 56-byte direct leak.
#
# usage: run.sh PATH-TO-libmemf.so EXITS PROGRAM [ARGS...]
set -euo pipefail
lib=$1 exits=$2
shift 2
[[ -f $lib ]] || { echo "FAIL: $lib does not exist" >&2; exit 1; }
[[ -x $1 ]] || { echo "FAIL: program $1 is not built" >&2; exit 1; }
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
rc=0
# timeout outside the preload: only the program's processes write memf's report.
timeout --kill-after=5 60 env LD_PRELOAD="$lib" MEMF_LEAK_CHECK=1 MEMF_STACKS=all MEMF_STATS=1 MEMF_LEAK_EXITCODE=23 \
    "$@" >"$out" 2>"$err" || rc=$?
cat "$out"
status=0
failure() {
    echo "FAIL: $*" >&2
    status=1
}
name=$(basename "$1")
if [[ $rc == 124 || $rc == 137 ]]; then
    failure "$name timed out"
elif [[ $rc != 0 ]]; then
    failure "$name exited with status $rc"
fi
grep -q "^$name: " "$out" || failure "$name did not print its closing line"
grep -qE 'memf: (error|fatal)' "$err" && failure "memf reported an error"
reports=$(grep -c '^memf: stats for pid [0-9]*$' "$err" || true)
[[ $reports == "$exits" ]] || failure "memf's report at exit came from $reports processes, not $exits"
# Verdicts as `PID definite BYTES in N, indirect BYTES in N`.
expected=$(sed -n 's/^expect-leak: //p' "$out" | sort)
found=$(sed -nE 's/^memf: SUMMARY: .* \(pid ([0-9]+)\): [0-9]+ bytes leaked in [0-9]+ allocations \((definite [0-9]+ in [0-9]+, indirect [0-9]+ in [0-9]+)\).*/\1 \2/p' "$err" | sort)
declare -A may=()
while read -r pid blocks; do may[$pid]=$blocks; done < <(sed -n 's/^may-leak: //p' "$out")
strict=() tolerated=0
while read -r pid _ _ _ definite _ _ _ indirect; do
    [[ -n $pid ]] || continue
    if [[ -n ${may[$pid]:-} ]]; then
        ((${definite%,} + indirect <= may[$pid])) || failure "process $pid leaked $((${definite%,} + indirect)) blocks, more than ${may[$pid]}"
        tolerated=$((tolerated + 1))
    else
        strict+=("$(grep "^$pid " <<<"$found")")
    fi
done <<<"$found"
strict_found=$(printf '%s\n' "${strict[@]}" | grep . || true)
if [[ $strict_found != "$expected" ]]; then
    failure "memf's leak verdicts differ from the expected ones (< expected, > found)"
    diff <(echo "$expected") <(echo "$strict_found") >&2 || true
fi
echo "$name: $reports processes wrote memf's report at exit, $(grep -c . <<<"$found") of them a leak" \
    "($tolerated where one was allowed)"
if ((status != 0)); then
    echo "stderr:" >&2
    head -c 8000 "$err" >&2
fi
exit "$status"
