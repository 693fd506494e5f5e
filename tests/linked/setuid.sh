#!/usr/bin/env bash
# A set-user-ID root program linked with memf, run by `nobody` with the caller's MEMF_* settings:
# memf honours none of them (docs/configuration.md). Needs root (to make the program set-user-ID)
# and a file system that honours the bit; skips (77) without them.
# usage: setuid.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
source_dir=$1 build_dir=$2
[ "$(id -u)" = 0 ] || { echo "setuid: skipped: needs root to make a set-user-ID program"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "setuid: skipped: no user 'nobody'"; exit 77; }
lib_dir=$(cd "$build_dir/interpose" && pwd)
work=$(mktemp -d /tmp/memf-setuid.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
# An absolute run path: a set-user-ID program ignores $ORIGIN and LD_LIBRARY_PATH.
cc -O1 -I"$source_dir/include" -o "$work/probe" "$source_dir/tests/linked/setuid_probe.c" \
  -L"$lib_dir" -lmemf -Wl,-rpath,"$lib_dir" || { echo "setuid: cannot build the probe"; exit 1; }
chmod 4755 "$work/probe"
if ! runuser -u nobody -- "$work/probe" limit >/dev/null 2>&1; then
  echo "setuid: skipped: $work is on a file system that ignores the set-user-ID bit, or nobody cannot run it"
  exit 77
fi

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
as_nobody() { runuser -u nobody -- env "$@"; }

out=$(as_nobody MEMF_ON_ERROR=report "$work/probe" double-free 2>&1); status=$?
[ $status -eq 134 ] || fail "double free with MEMF_ON_ERROR=report: status $status, expected 134 (abort): $out"
grep -q "memf: error: double free" <<<"$out" || fail "double free: no report line: $out"
grep -q "MEMF_\* settings are ignored in a secure-execution" <<<"$out" || fail "double free: no warning that settings are ignored: $out"

out=$(as_nobody MEMF_LIMIT=1 MEMF_LIMIT_ACTION=fail "$work/probe" limit 2>&1); status=$?
[ $status -eq 0 ] && grep -q "succeeded" <<<"$out" || fail "MEMF_LIMIT=1 MEMF_LIMIT_ACTION=fail: status $status: $out"

report="$work/report.json"
out=$(as_nobody MEMF_LEAK_CHECK=1 MEMF_LEAK_EXITCODE=77 MEMF_STATS=1 MEMF_STACKS=all MEMF_REPORT="$report" \
  "$work/probe" leak 2>&1); status=$?
[ $status -eq 0 ] || fail "leak with MEMF_LEAK_EXITCODE=77: status $status, expected 0: $out"
grep -q "leaked\|stats for pid\|0x[0-9a-f]\{8,\}" <<<"$out" && fail "leak: memf printed a report or addresses: $out"
[ -e "$report" ] && fail "leak: MEMF_REPORT was written"

echo "setuid: $failures failures"
[ $failures -eq 0 ]
