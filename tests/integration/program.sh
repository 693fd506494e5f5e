#!/bin/bash
# Runs a program plainly and under memf-run; exit codes and stdout must
# match and the plain run must succeed.
#
# usage: program.sh PATH-TO-memf-run PROGRAM [ARGS...]
source "$(dirname "$0")/common.sh"
setup_program "$@"
shift
run_both "$name" "$@"
expect_rc "$name" plain 0
compare "$name"
