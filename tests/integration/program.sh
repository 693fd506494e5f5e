#!/bin/bash
# Runs a program plainly and under memf-run; exit codes and stdout must
# match and the plain run must succeed.
#
# usage: program.sh PATH-TO-memf-run PROGRAM [ARGS...]
source "$(dirname "$0")/common.sh"
setup "$1"
shift
(($# > 0)) || fail "usage: $0 PATH-TO-memf-run PROGRAM [ARGS...]"
[[ -x $1 ]] || fail "program '$1' is not built"
check_memf_active
name=$(basename "$1")
run_both "$name" "$@"
expect_rc "$name" plain 0
compare "$name"
