# Helpers shared by the real-program comparison scripts.  Source it, then
# call `setup "$@"` with the script's arguments: MEMF_RUN [extra...].
#
# Environment: MEMF_LIB (path of libmemf.so; memf-run finds it there).
#
# A comparison runs the same command twice, plainly and under
# `memf-run --`, and fails with a diff when the exit codes or the compared
# output differ.

set -euo pipefail

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

note() {
    echo "--- $*"
}

setup() {
    MEMF_RUN=${1:-}
    [[ -n $MEMF_RUN ]] || fail "usage: $0 PATH-TO-memf-run"
    [[ -f $MEMF_RUN ]] || fail "memf-run not found at '$MEMF_RUN'"
    [[ -n ${MEMF_LIB:-} ]] || fail "MEMF_LIB is not set (path of libmemf.so)"
    [[ -f $MEMF_LIB ]] || fail "MEMF_LIB=$MEMF_LIB does not exist (is the library built?)"
    export MEMF_LIB
    # The comparison must not inherit another preload from the caller.
    unset LD_PRELOAD
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/memf-integration.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    export LC_ALL=C TZ=UTC
}

# require_prog NAME PACKAGE: the program must be installed; this is a
# failure, not a skip (CI installs every program these tests use).
require_prog() {
    command -v "$1" >/dev/null 2>&1 ||
        fail "'$1' is not installed; this test needs it (Debian package: $2)"
}

# setup_program MEMF_RUN PROGRAM: the set-up of a test that runs one built program; sets name.
setup_program() {
    setup "$1"
    shift
    (($# > 0)) || fail "usage: $0 PATH-TO-memf-run PROGRAM [ARGS...]"
    [[ -x $1 ]] || fail "program '$1' is not built"
    check_memf_active
    name=$(basename "$1")
}

# Runs memf-run on a program that prints its own memory map and checks
# that libmemf.so is really mapped, so that a silently ignored preload
# cannot make a comparison pass vacuously.
check_memf_active() {
    local real maps
    real=$(realpath "$MEMF_LIB")
    maps=$(bash "$MEMF_RUN" -- cat /proc/self/maps) ||
        fail "memf-run -- cat /proc/self/maps failed"
    grep -qF "$real" <<<"$maps" ||
        fail "under memf-run, $real is not mapped into the process (preload not effective)"
}

# run_plain NAME CMD... / run_memf NAME CMD...: run CMD with stdout in
# $WORK/NAME.{plain,memf}.out, stderr in .err, exit code in .rc.
# TIME_LIMIT (seconds, default 300) bounds each run.
run_plain() {
    local name=$1
    shift
    local rc=0
    timeout --kill-after=10 "${TIME_LIMIT:-300}" "$@" \
        >"$WORK/$name.plain.out" 2>"$WORK/$name.plain.err" || rc=$?
    echo "$rc" >"$WORK/$name.plain.rc"
}

run_memf() {
    local name=$1
    shift
    local rc=0
    # MEMF_RUN_OPTIONS: memf-run's options. Unset, the leak check is off: its report on stderr is
    # output of its own, which programs that read their children's stderr would see.
    # shellcheck disable=SC2086
    timeout --kill-after=10 "${TIME_LIMIT:-300}" bash "$MEMF_RUN" ${MEMF_RUN_OPTIONS---no-leak-check} -- "$@" \
        >"$WORK/$name.memf.out" 2>"$WORK/$name.memf.err" || rc=$?
    echo "$rc" >"$WORK/$name.memf.rc"
}

run_both() {
    local name=$1
    shift
    run_plain "$name" "$@"
    run_memf "$name" "$@"
}

# show_err NAME MODE: last lines of a run's stderr
show_err() {
    echo "  stderr of the $2 run (last 30 lines):" >&2
    tail -n 30 "$WORK/$1.$2.err" | sed 's/^/    /' >&2
}

# compare NAME [FILTER]: exit codes and stdout (optionally passed through
# the FILTER command first) must match.  A timeout (124/137) is reported
# as such.
compare() {
    local name=$1 filter=${2:-cat}
    local prc mrc
    prc=$(cat "$WORK/$name.plain.rc")
    mrc=$(cat "$WORK/$name.memf.rc")
    for mode in plain memf; do
        local rc
        rc=$(cat "$WORK/$name.$mode.rc")
        if [[ $rc == 124 || $rc == 137 ]]; then
            show_err "$name" "$mode"
            fail "$name: the $mode run timed out after ${TIME_LIMIT:-300} s"
        fi
    done
    if [[ $prc != "$mrc" ]]; then
        show_err "$name" plain
        show_err "$name" memf
        fail "$name: exit code differs: plain $prc, under memf $mrc"
    fi
    $filter <"$WORK/$name.plain.out" >"$WORK/$name.plain.cmp"
    $filter <"$WORK/$name.memf.out" >"$WORK/$name.memf.cmp"
    if ! diff -u "$WORK/$name.plain.cmp" "$WORK/$name.memf.cmp" >"$WORK/$name.diff"; then
        echo "output differs (--- plain, +++ under memf):" >&2
        head -n 80 "$WORK/$name.diff" >&2
        show_err "$name" memf
        fail "$name: output under memf differs from the plain run"
    fi
    [[ -s $WORK/$name.plain.cmp ]] ||
        fail "$name: the compared output is empty, so the comparison proves nothing"
    note "$name: same exit code ($prc) and same output ($(wc -l <"$WORK/$name.plain.cmp") lines)"
}

# same_stderr NAME: stderr under memf is byte for byte the plain run's. For programs that leak
# nothing (by LeakSanitizer's and Valgrind's verdict too) run with the leak check on: a clean
# process gets no report, so a test suite that checks its children's stderr still passes.
same_stderr() {
    local name=$1
    if ! cmp -s "$WORK/$name.plain.err" "$WORK/$name.memf.err"; then
        echo "stderr differs (--- plain, +++ under memf):" >&2
        diff -u "$WORK/$name.plain.err" "$WORK/$name.memf.err" | head -n 40 >&2
        fail "$name: stderr under memf differs from the plain run's"
    fi
    note "$name: stderr identical ($(wc -c <"$WORK/$name.plain.err") bytes)"
}

# expect_rc NAME MODE RC: a run must have ended with RC (e.g. the plain
# baseline must succeed, or the comparison would be meaningless).
expect_rc() {
    local rc
    rc=$(cat "$WORK/$1.$2.rc")
    if [[ $rc != "$3" ]]; then
        show_err "$1" "$2"
        fail "$1: the $2 run exited with $rc, expected $3"
    fi
}
