#!/usr/bin/env bash
# The bounded fuzzing run: run.sh FUZZER SOURCE_DIR BUILD_DIR SECONDS. New inputs go to a fresh
# directory (the committed corpus is only read); a failing input is kept in BUILD_DIR/artifacts.
set -euo pipefail
fuzzer="$1" source_dir="$2" build_dir="$3" seconds="$4"
found="$build_dir/found"
rm -rf "$found"
mkdir -p "$found" "$build_dir/artifacts"
# detect_leaks: the harness frees everything it allocates, through glibc or memf.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
exec "$fuzzer" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
  -artifact_prefix="$build_dir/artifacts/" \
  "$found" "$source_dir/corpus"
