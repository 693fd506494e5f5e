# Helpers shared by the server tests.  Source it, then call `setup_servers "$@"` with the
# script's arguments: PATH-TO-libmemf.so.
#
# A server test runs one scenario three times, with mode=glibc (nothing preloaded), mode=memf
# (libmemf.so preloaded with the leak check and the stats at exit on) and mode=lsan
# (LeakSanitizer's runtime preloaded, for the leak verdicts memf's are compared with); only the
# server's environment changes, clients run plainly. Each run writes what the clients saw into
# $WORK/<mode>.result, and run_modes requires the three to be equal.
# Every server started is recorded and killed on exit, so a failed test leaves nothing running.
# KEEP_WORK=1 keeps the work directory (logs, reports) for inspection.

# fail, note and `set -euo pipefail` from the real-program tests' helpers.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/common.sh"

STARTED_PIDS=()
MODES=(glibc memf lsan)
LSAN_LIB=/usr/lib/x86_64-linux-gnu/liblsan.so.0

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    [[ -n ${WORK:-} && -z ${KEEP_WORK:-} ]] && rm -rf "$WORK"
    return 0
}

setup_servers() {
    MEMF_LIB=${1:-}
    [[ -n $MEMF_LIB ]] || fail "usage: $0 PATH-TO-libmemf.so"
    [[ -f $MEMF_LIB ]] || fail "$MEMF_LIB does not exist (is the library built?)"
    MEMF_LIB=$(realpath "$MEMF_LIB")
    # No run may inherit another preload, memf or LeakSanitizer setting from the caller (a leak
    # exit code would make postgres's postmaster take its exiting children for crashed ones).
    unset LD_PRELOAD MEMF_LEAK_CHECK MEMF_STATS MEMF_STACKS MEMF_REPORT MEMF_LEAK_EXITCODE \
        MEMF_SUPPRESSIONS LSAN_OPTIONS
    [[ -f $LSAN_LIB ]] || fail "$LSAN_LIB is not installed; this test needs it (Debian package: liblsan0)"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/memf-servers.XXXXXX")
    mkdir "$WORK/lsan-reports"
    chmod 777 "$WORK/lsan-reports"
    # Servers that drop privileges (nginx's workers, postgres as nobody) must reach their files.
    chmod 755 "$WORK"
    trap cleanup EXIT
    export LC_ALL=C TZ=UTC
}

# require PATH PACKAGE: a missing program is a failure, not a skip (tools/setup.sh installs it).
require() {
    [[ -x $1 ]] || command -v "$1" >/dev/null 2>&1 ||
        fail "'$1' is not installed; this test needs it (Debian package: $2)"
}

# preload_env MODE: the environment prefix that puts the server under MODE's allocator. Under
# memf every process that ends through exit() writes the stats and, if it leaked, a leak report
# to its stderr; under LeakSanitizer each report is a file $WORK/lsan-reports/report.PROGRAM.PID.
# Neither changes an exit status (MEMF_LEAK_EXITCODE is 0 by default): postgres's postmaster
# treats a child's non-zero status as a crash.
preload_env() {
    case $1 in
        glibc) echo "env -u LD_PRELOAD" ;;
        memf) echo "env LD_PRELOAD=$MEMF_LIB MEMF_LEAK_CHECK=1 MEMF_STATS=1 MEMF_STACKS=all" ;;
        lsan) echo "env LD_PRELOAD=$LSAN_LIB LSAN_OPTIONS=exitcode=0:log_exe_name=1:log_path=$WORK/lsan-reports/report" ;;
        *) fail "unknown mode '$1'" ;;
    esac
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_until SECONDS WHAT CMD...: polls CMD every 0.1 s until it succeeds; fails after SECONDS.
wait_until() {
    local secs=$1 what=$2
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "$what: not within $secs s"
        sleep 0.1
    done
}

# wait_exit PID SECONDS: waits for a child of this shell to end and sets EXIT_RC to its exit
# status; kills it and fails when it outlives SECONDS.  (Not for $(...): wait needs this shell.)
wait_exit() {
    local pid=$1 secs=$2
    EXIT_RC=0
    local deadline=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid" 2>/dev/null) != Z* ]]; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null || true
            fail "process $pid did not exit within $secs s"
        fi
        sleep 0.1
    done
    wait "$pid" || EXIT_RC=$?
}

# wait_gone PID SECONDS: the same for a process that is not this shell's child (a daemon).
wait_gone() {
    local pid=$1 secs=$2
    local deadline=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "process $pid did not exit within $secs s"
        sleep 0.1
    done
}

# check_preload MODE PID: libmemf.so (liblsan.so) is mapped into PID exactly when MODE is memf
# (lsan), so that an ignored preload cannot make the comparison pass vacuously.
check_preload() {
    local mode=$1 pid=$2 lib expected path
    [[ -r /proc/$pid/maps ]] || fail "process $pid is gone"
    for lib in memf lsan; do
        expected=no
        [[ $mode == "$lib" ]] && expected=yes
        [[ $lib == memf ]] && path=$MEMF_LIB || path=$(realpath "$LSAN_LIB")
        if grep -qF "$path" "/proc/$pid/maps"; then
            [[ $expected == yes ]] || fail "$path is mapped into $pid in the $mode run"
        else
            [[ $expected == no ]] || fail "$path is not mapped into $pid (preload not effective)"
        fi
    done
}

# check_no_memf_error FILE...: memf reports misuse as `memf: error` lines and its own failures
# as `memf: fatal`.
check_no_memf_error() {
    local f
    for f in "$@"; do
        [[ -e $f ]] || continue
        if grep -nE 'memf: (error|fatal)' "$f" >&2; then
            fail "memf reported an error in $f (above)"
        fi
    done
}

# check_memf_exit LOG PID...: each PID wrote memf's stats into LOG, so memf's exit path (the
# leak check's too: it runs first) ran in it. Not for processes that end by _exit.
check_memf_exit() {
    local log=$1 pid
    shift
    for pid in "$@"; do
        grep -q "^memf: stats for pid $pid\$" "$log" ||
            { show_tail "$log"; fail "no memf report at exit from process $pid in $log"; }
    done
}

# leak_verdicts MODE FILE...: one line `PROGRAM BYTES ALLOCATIONS` per process that reported a
# leak (definite and indirect, as LeakSanitizer counts), sorted. memf's reports are read from the
# FILEs, LeakSanitizer's from its report files.
leak_verdicts() {
    local mode=$1
    shift
    case $mode in
        memf)
            cat "$@" 2>/dev/null |
                sed -nE 's/^memf: SUMMARY: (.*) \(pid [0-9]+\): ([0-9]+) bytes leaked in ([0-9]+) allocations.*/\1 \2 \3/p' ;;
        lsan)
            local f
            for f in "$WORK"/lsan-reports/report.*; do
                [[ -e $f ]] || continue
                # report.PROGRAM.PID
                local prog=${f#"$WORK"/lsan-reports/report.}
                sed -nE "s/^SUMMARY: LeakSanitizer: ([0-9]+) byte\(s\) leaked in ([0-9]+) allocation\(s\).*/${prog%.*} \1 \2/p" "$f"
            done ;;
    esac | sort
}

# collect_leaks MEMF_LOG...: memf's and LeakSanitizer's verdicts into $WORK/{memf,lsan}.leaks,
# and a note of each: per program, the processes that leaked and their bytes.
collect_leaks() {
    check_lsan_ran
    leak_verdicts memf "$@" >"$WORK/memf.leaks"
    leak_verdicts lsan >"$WORK/lsan.leaks"
    local mode
    for mode in memf lsan; do
        note "leaks under $mode: $(awk '{n[$1]++; b[$1] += $2} END {for (p in n) printf "%s: %d processes, %d bytes; ", p, n[p], b[p]}' \
            "$WORK/$mode.leaks" | sort)$(wc -l <"$WORK/$mode.leaks") processes in all"
    done
}

# expect_no_leaks: neither memf nor LeakSanitizer found a leak in any process.
expect_no_leaks() {
    local mode
    for mode in memf lsan; do
        [[ ! -s $WORK/$mode.leaks ]] || { cat "$WORK/$mode.leaks" >&2; fail "$mode reported leaks (above)"; }
    done
}

# check_lsan_ran: LeakSanitizer ended with no error of its own (a failed scan writes no
# SUMMARY, which would read as "no leak").
check_lsan_ran() {
    local f
    for f in "$WORK"/lsan-reports/report.*; do
        [[ -e $f ]] || continue
        if grep -q 'LeakSanitizer has encountered a fatal error\|Tracer caught signal' "$f"; then
            cat "$f" >&2
            fail "LeakSanitizer failed in $f"
        fi
    done
}

# show_tail FILE: the last lines of a log, for a failure's context.
show_tail() {
    echo "  last lines of $1:" >&2
    tail -n 30 "$1" 2>/dev/null | sed 's/^/    /' >&2 || true
}

# run_modes: run_mode for each mode, then what the clients saw must be the same in all, and not
# empty.
run_modes() {
    local mode
    for mode in "${MODES[@]}"; do
        run_mode "$mode"
    done
    [[ -s $WORK/glibc.result ]] || fail "the glibc run recorded no result, so the comparison proves nothing"
    for mode in memf lsan; do
        if ! diff -u "$WORK/glibc.result" "$WORK/$mode.result" >&2; then
            fail "results differ (--- glibc, +++ $mode)"
        fi
    done
    note "glibc, memf and LeakSanitizer: same results ($(wc -l <"$WORK/glibc.result") lines)"
}
