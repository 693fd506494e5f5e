#!/bin/bash
# CPython (Debian's /usr/bin/python3, with PYTHONMALLOC=malloc so every
# Python object goes through malloc) runs a set of its own test modules,
# plainly and under memf-run; the per-module verdicts, the overall result
# and the exit codes must match, and the plain run must pass.
#
# usage: python.sh PATH-TO-memf-run
source "$(dirname "$0")/common.sh"
setup "$@"

PY=/usr/bin/python3
[[ -x $PY ]] || fail "$PY is not installed; this test needs it (Debian package: python3)"
suite_pkg=$("$PY" -c 'import sys; print("libpython%d.%d-testsuite" % sys.version_info[:2])')
"$PY" -c 'import test.libregrtest, test.test_list, test.test_threading' 2>/dev/null ||
    fail "Python's own test suite is not installed; this test needs it (Debian package: $suite_pkg)"
check_memf_active

MODULES=(
    test_list test_dict test_set test_json test_re test_threading test_bytes
    test_collections test_pickle test_deque test_itertools test_unicode test_array
    test_gc test_decimal test_xml_etree
)

# the verdict lines: "test_x passed" per module (timings dropped, sorted),
# "All N tests OK." and "Tests result: ..."
verdicts() {
    sed -nE 's/^.*\[ *[0-9]+\/[0-9]+\] (test_[A-Za-z0-9_]+) (passed|failed|skipped|crashed|resource denied|interrupted|timed out).*/\1 \2/p' | sort
    grep -E '^(All [0-9]+ tests OK\.|[0-9]+ tests? (OK|failed|skipped)\.?|Tests result: .*)$' || true
}

mkdir "$WORK/plain" "$WORK/memf"
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
TIME_LIMIT=240
(cd "$WORK/plain" && run_plain python "$PY" -m test -j2 "${MODULES[@]}")
(cd "$WORK/memf" && run_memf python "$PY" -m test -j2 "${MODULES[@]}")
expect_rc python plain 0
grep -q '^Tests result: SUCCESS' "$WORK/python.plain.out" ||
    fail "the plain run did not report 'Tests result: SUCCESS'"
n=$(verdicts <"$WORK/python.plain.out" | grep -c ' passed$' || true)
[[ $n == "${#MODULES[@]}" ]] || fail "the plain run passed $n of ${#MODULES[@]} modules"
compare python verdicts
