#!/bin/bash
# memf-run's edges: every mistake it can know of before the program runs gets one clear line and
# an exit code of its own, and a statically linked program gets a warning.
#
# usage: memf_run_edges.sh PATH-TO-memf-run
source "$(dirname "$0")/common.sh"
setup "$@"

# expect NAME STATUS TEXT -- memf-run args: runs memf-run, checks the status and a stderr line.
expect() {
    local name=$1 status=$2 text=$3
    shift 4
    local rc=0
    bash "$MEMF_RUN" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    [[ $rc == "$status" ]] || { cat "$WORK/$name.err" >&2; fail "$name: status $rc, expected $status"; }
    grep -qF -- "$text" "$WORK/$name.err" || { cat "$WORK/$name.err" >&2; fail "$name: stderr lacks: $text"; }
    note "$name: status $rc, '$(head -1 "$WORK/$name.err")'"
}

expect missing-program 127 "memf-run: ./does-not-exist: no such file" -- -- ./does-not-exist
expect unknown-command 127 "memf-run: no-such-command-here: command not found" -- -- no-such-command-here
expect not-executable 126 "memf-run: /etc/passwd: not an executable file" -- -- /etc/passwd
expect bad-exitcode 125 "--leak-exitcode takes a number from 0 to 255, not 'abc'" -- --leak-exitcode abc -- true
expect big-exitcode 125 "--leak-exitcode takes a number from 0 to 255, not '256'" -- --leak-exitcode 256 -- true
expect bad-depth 125 "--stack-depth takes a number from 1 to 128, not '0'" -- --stack-depth 0 -- true
expect report-dir 125 "cannot write the report '/nonexistent-dir/x.json': no directory '/nonexistent-dir'" -- \
    --report /nonexistent-dir/x.json -- true
expect unknown-option 125 "unknown option '--bogus'" -- --bogus -- true

# A statically linked program: warned, then run (without memf).
if cc -static -x c -o "$WORK/static" - <<<'int main(void) { return 7; }' 2>/dev/null; then
    expect static-program 7 "is statically linked: LD_PRELOAD cannot give it memf" -- -- "$WORK/static"
else
    fail "cannot build a static test program (Debian: libc6-dev provides libc.a)"
fi

# The ordinary case says nothing of its own.
rc=0
bash "$MEMF_RUN" -- true 2>"$WORK/true.err" || rc=$?
[[ $rc == 0 && ! -s $WORK/true.err ]] || fail "memf-run -- true: status $rc, stderr: $(cat "$WORK/true.err")"
note "memf-run -- true: status 0, nothing on stderr"
