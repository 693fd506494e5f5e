#!/bin/bash
# git builds a repository with a fixed history (40 commits, a branch and a
# merge, tags), then logs, diffs, blames, greps, gc's (aggressive, with
# two pack threads), fscks and archives it -- once plainly and once with
# everything under memf-run.  Output and exit codes must match.
#
# usage: git.sh PATH-TO-memf-run
source "$(dirname "$0")/common.sh"
setup "$@"
require_prog git git
require_prog awk mawk
check_memf_active

driver="$(cd "$(dirname "$0")" && pwd)/git_driver.sh"
mkdir "$WORK/plain" "$WORK/memf"
run_plain git bash "$driver" "$WORK/plain"
run_memf git bash "$driver" "$WORK/memf"
expect_rc git plain 0
compare git
