#!/usr/bin/env bash
# Installs what memf needs to build, test and benchmark on Debian 12 (as root), then builds it
# into build/. Safe to run again: it installs only what is missing and rebuilds incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  meson ninja-build g++ pkg-config libmimalloc-dev libfmt-dev catch2 libdw-dev
  # libc's separate debug information (compressed, as Debian's are): the symbolizer's tests
  libc6-dbg
  # the consumer test: memf found by CMake as users find it; the man pages' rendering test
  cmake man-db
  # integration tests: real programs run under memf
  python3 libpython3.11-testsuite sqlite3 git perl coreutils
  # server tests and benchmarks: servers under memf, their clients
  redis-server redis-tools nginx-light curl postgresql-15 postgresql-client-15 apache2-utils procps
  # peers and tools for tests and benchmarks
  libjemalloc2 libtcmalloc-minimal4 liblsan0 valgrind heaptrack hyperfine gnuplot-nox time libboost-dev
  # the fuzzing build (tests/fuzz): clang 14 and its libFuzzer and sanitizer runtimes
  clang-14 libclang-rt-14-dev
  # the heap profile's consumers (tests/profile, tests/report): the pprof tool built offline from
  # its Debian source and the two Go packages it imports, profile.proto read with protoc and
  # python3-protobuf, flame graph and timeline opened in headless Chromium
  golang-go golang-github-google-pprof-dev golang-github-chzyer-readline-dev
  golang-github-ianlancetaylor-demangle-dev protobuf-compiler python3-protobuf chromium fonts-dejavu-core
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release
fi
ninja -C build
