#!/usr/bin/env bash
# Runs every test: the release build's suites (unit: tests/unit/<layer>/, one executable per unit
# linked with only its layer and those below; interpose, linked, integration, leaks, pressure,
# servers, lifecycle, examples, soak: child processes), then the unit tests built with
# AddressSanitizer+UBSan (with the in-process soak test) and with ThreadSanitizer, then a bounded
# libFuzzer run (tests/fuzz, built with clang 14). Ends with one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0
run_suite() {  # build_dir label [meson test args...]
  local dir="$1" label="$2"
  shift 2
  echo "== $label"
  meson test -C "$dir" --print-errorlogs "$@" | tee "$dir/test-summary.txt"
  local ok fail skip timeout
  ok=$(awk '/^Ok:/ {print $2}' "$dir/test-summary.txt")
  fail=$(awk '/^Fail:/ {print $2}' "$dir/test-summary.txt")
  timeout=$(awk '/^Timeout:/ {print $2}' "$dir/test-summary.txt")
  skip=$(awk '/^Skipped:/ {print $2}' "$dir/test-summary.txt")
  if [ -z "$ok" ]; then
    echo "test: $label did not run (see above)"
    failed=$((failed + 1))
    return
  fi
  passed=$((passed + ok))
  failed=$((failed + fail + timeout))
  skipped=$((skipped + skip))
}

configure() {  # build_dir [meson options...]
  local dir="$1"
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  fi
  ninja -C "$dir" >"$dir.build.log" 2>&1 || { tail -50 "$dir.build.log"; return 1; }
}

if configure build --buildtype=release; then
  run_suite build "release build: unit, interpose and integration tests"
else
  echo "test: the release build failed"; failed=$((failed + 1))
fi
if configure build-asan --buildtype=debugoptimized -Dsanitize=address -Dbenchmarks=false; then
  run_suite build-asan "unit and soak tests under AddressSanitizer + UBSan" --suite unit --suite soak
else
  echo "test: the AddressSanitizer build failed"; failed=$((failed + 1))
fi
if configure build-tsan --buildtype=debugoptimized -Dsanitize=thread -Dbenchmarks=false; then
  run_suite build-tsan "unit tests under ThreadSanitizer" --suite unit
else
  echo "test: the ThreadSanitizer build failed"; failed=$((failed + 1))
fi

if CC=clang-14 CXX=clang++-14 configure build-fuzz --buildtype=debugoptimized -Dsanitize=address -Dfuzz=true \
    -Dtests=false -Dbenchmarks=false; then
  run_suite build-fuzz "fuzzing under AddressSanitizer + UBSan (bounded run)" --suite fuzz
else
  echo "test: the fuzzing build failed"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
