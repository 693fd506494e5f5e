#!/bin/bash
# Runs a program under memf-run and fails unless it exits 0.
#
# usage: under_memf.sh PATH-TO-memf-run PROGRAM [ARGS...]
source "$(dirname "$0")/common.sh"
setup_program "$@"
shift
run_memf "$name" "$@"
cat "$WORK/$name.memf.out"
rc=$(cat "$WORK/$name.memf.rc")
if [[ $rc != 0 ]]; then
    show_err "$name" memf
    [[ $rc == 124 || $rc == 137 ]] && fail "$name timed out under memf after ${TIME_LIMIT:-300} s"
    fail "$name exited with $rc under memf"
fi
