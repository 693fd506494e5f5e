#!/bin/bash
# The tools' own interface: --version names the project's version, memf-report's usage lists its
# commands and a mistyped command says so, the man pages render without warnings, and the bash
# completions complete.
#
# usage: tools_cli.sh PATH-TO-memf-run PATH-TO-memf-report VERSION SOURCE-ROOT
source "$(dirname "$0")/common.sh"
setup "$1"
report_tool=$2 version=$3 root=$4

[[ $(bash "$MEMF_RUN" --version) == "memf-run $version" ]] || fail "memf-run --version: $(bash "$MEMF_RUN" --version)"
[[ $(python3 "$report_tool" --version) == "memf-report $version" ]] ||
    fail "memf-report --version: $(python3 "$report_tool" --version) (expected $version: update VERSION in tools/memf-report)"
note "--version: memf-run $version, memf-report $version"

rc=0
python3 "$report_tool" tops x.json 2>"$WORK/top.err" || rc=$?
[[ $rc == 2 ]] && grep -q "unknown command 'tops' (commands: show, diff, top, peak, flame, folded, timeline, pprof, dump)" "$WORK/top.err" ||
    fail "memf-report tops x.json: status $rc: $(cat "$WORK/top.err")"
python3 "$report_tool" 2>"$WORK/usage.err" || true
grep -q "memf-report diff" "$WORK/usage.err" || fail "memf-report's usage does not list diff: $(cat "$WORK/usage.err")"
note "memf-report: a mistyped command is named, the usage lists the commands"

for page in memf-run.1 memf-report.1 memf.3; do
    warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$root/docs/man/$page" 2>&1 >/dev/null)
    [[ -z $warnings ]] || fail "man $page: $warnings"
    lines=$(MANWIDTH=80 man -l "$root/docs/man/$page" 2>/dev/null | wc -l)
    ((lines > 30)) || fail "man $page renders $lines lines"
done
note "man pages memf-run(1), memf-report(1), memf(3) render without warnings"

# Completion: the option list, fixed values, and the program after --.
complete_words() {  # tool line...: the completions bash offers for the last word of the line
    bash -c '
        source /usr/share/bash-completion/bash_completion 2>/dev/null || true
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _${COMP_WORDS[0]//-/_}; printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}
[[ $(complete_words "$root/tools/completion/memf-run" memf-run --sta) == $'--stacks\n--stack-depth\n--stack-sample\n--stats' ]] ||
    fail "memf-run --sta<TAB>: $(complete_words "$root/tools/completion/memf-run" memf-run --sta)"
[[ $(complete_words "$root/tools/completion/memf-run" memf-run --stacks s) == sampled ]] ||
    fail "memf-run --stacks s<TAB>"
[[ $(complete_words "$root/tools/completion/memf-report" memf-report d) == *diff* ]] || fail "memf-report d<TAB>"
note "bash completion: memf-run options and values, memf-report commands"
