#!/usr/bin/env bash
# usage: print_stats.sh PROGRAM: its stdout (a pipe, so fully buffered) is "before", memf's
# summary, "after", in that order.
set -euo pipefail
out="$("$1" | cat)"
first="$(head -1 <<<"$out")" last="$(tail -1 <<<"$out")"
[ "$first" = before ] && [ "$last" = after ] && grep -q "^memf: stats for pid" <<<"$out" || {
  echo "FAIL: memf_print_stats(1) interleaved with buffered stdout:"; echo "$out"; exit 1; }
echo "memf_print_stats(1) lands between the program's lines: $(wc -l <<<"$out") lines"
