# Helpers shared by the server tests.  Source it, then call `setup_servers "$@"` with the
# script's arguments: PATH-TO-libmemf.so.
#
# A server test runs one scenario twice, with mode=glibc (nothing preloaded) and mode=memf
# (LD_PRELOAD=libmemf.so in the server's environment only; clients run plainly), writes what the
# clients saw into $WORK/<mode>.result, and ends with compare_modes: both results must be equal.
# Every server started is recorded and killed on exit, so a failed test leaves nothing running.

# fail, note and `set -euo pipefail` from the real-program tests' helpers.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/common.sh"

STARTED_PIDS=()

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    [[ -n ${WORK:-} ]] && rm -rf "$WORK"
    return 0
}

setup_servers() {
    MEMF_LIB=${1:-}
    [[ -n $MEMF_LIB ]] || fail "usage: $0 PATH-TO-libmemf.so"
    [[ -f $MEMF_LIB ]] || fail "$MEMF_LIB does not exist (is the library built?)"
    MEMF_LIB=$(realpath "$MEMF_LIB")
    # Neither run may inherit another preload or memf setting from the caller.
    unset LD_PRELOAD MEMF_LEAK_CHECK MEMF_STATS MEMF_REPORT
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/memf-servers.XXXXXX")
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

# preload_env MODE: the environment prefix that puts the server under MODE's allocator.
preload_env() {
    case $1 in
        glibc) echo "env -u LD_PRELOAD" ;;
        memf) echo "env LD_PRELOAD=$MEMF_LIB" ;;
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

# check_preload MODE PID: libmemf.so is mapped into PID exactly when MODE is memf, so that an
# ignored preload cannot make the comparison pass vacuously.
check_preload() {
    local mode=$1 pid=$2
    [[ -r /proc/$pid/maps ]] || fail "process $pid is gone"
    if grep -qF "$MEMF_LIB" "/proc/$pid/maps"; then
        [[ $mode == memf ]] || fail "libmemf.so is mapped into $pid in the $mode run"
    else
        [[ $mode != memf ]] || fail "libmemf.so is not mapped into $pid (preload not effective)"
    fi
}

# check_no_memf_error FILE...: memf reports misuse and its own failures as `memf: error` lines.
check_no_memf_error() {
    local f
    for f in "$@"; do
        [[ -e $f ]] || continue
        if grep -n 'memf: error' "$f" >&2; then
            fail "memf reported an error in $f (above)"
        fi
    done
}

# show_tail FILE: the last lines of a log, for a failure's context.
show_tail() {
    echo "  last lines of $1:" >&2
    tail -n 30 "$1" 2>/dev/null | sed 's/^/    /' >&2 || true
}

# compare_modes: what the clients saw under glibc and under memf must be the same, and not empty.
compare_modes() {
    [[ -s $WORK/glibc.result ]] || fail "the glibc run recorded no result, so the comparison proves nothing"
    if ! diff -u "$WORK/glibc.result" "$WORK/memf.result" >&2; then
        fail "results differ (--- glibc, +++ memf)"
    fi
    note "glibc and memf: same results ($(wc -l <"$WORK/glibc.result") lines)"
}
