#!/usr/bin/env bash
# Installs memf as a user would (meson install, into a scratch root) and builds a C and a C++
# program against it three ways: pkg-config, CMake's find_package(memf), meson's dependency('memf').
# Each program must run with memf as its allocator.
#
# usage: consumer.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir="$(cd "$1" && pwd)"
here="$(cd "$2" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

meson install -C "$build_dir" --destdir "$scratch/root" --no-rebuild >/dev/null
option() {
  meson introspect "$build_dir" --buildoptions |
    /usr/bin/python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]==sys.argv[1]))' "$1"
}
prefix="$(option prefix)"
libdir="$(option libdir)"
case "$libdir" in /*) ;; *) libdir="$prefix/$libdir" ;; esac
root="$scratch/root"
[ -f "$root$libdir/pkgconfig/memf.pc" ] || fail "memf.pc not installed in $libdir/pkgconfig"
[ -f "$root$libdir/cmake/memf/memfConfig.cmake" ] || fail "memfConfig.cmake not installed in $libdir/cmake/memf"
[ -f "$root$libdir/cmake/memf/memfConfigVersion.cmake" ] || fail "memfConfigVersion.cmake not installed"
# The installed tree sits under a scratch root: pkg-config is told with a sysroot, CMake finds its
# config through CMAKE_PREFIX_PATH (the config file is relocatable).
export PKG_CONFIG_PATH="$root$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root"
export LD_LIBRARY_PATH="$root$libdir"

run() {  # label program
  local out
  out="$("$2")" || fail "$1: $2 exited with $?: $out"
  grep -q "memf is the allocator" <<<"$out" || fail "$1: $out"
  echo "$1: $out"
}

# pkg-config
cc -O1 $(pkg-config --cflags memf) "$here/consumer.c" -o "$scratch/pc_c" $(pkg-config --libs memf) -ldl
c++ -std=c++17 -O1 $(pkg-config --cflags memf) "$here/consumer.cpp" -o "$scratch/pc_cxx" $(pkg-config --libs memf)
run "pkg-config C" "$scratch/pc_c"
run "pkg-config C++" "$scratch/pc_cxx"

# CMake find_package
cmake -S "$here/cmake" -B "$scratch/cmake" -DCMAKE_PREFIX_PATH="$root$prefix" >"$scratch/cmake.log" 2>&1 ||
  { cat "$scratch/cmake.log"; fail "cmake could not configure the consumer"; }
cmake --build "$scratch/cmake" >>"$scratch/cmake.log" 2>&1 || { cat "$scratch/cmake.log"; fail "cmake build failed"; }
run "CMake C" "$scratch/cmake/consumer_c"
run "CMake C++" "$scratch/cmake/consumer_cxx"

# meson dependency()
meson setup "$scratch/meson" "$here/meson" >"$scratch/meson.log" 2>&1 ||
  { cat "$scratch/meson.log"; fail "meson could not configure the consumer"; }
ninja -C "$scratch/meson" >>"$scratch/meson.log" 2>&1 || { cat "$scratch/meson.log"; fail "meson build failed"; }
run "meson C" "$scratch/meson/consumer_c"
run "meson C++" "$scratch/meson/consumer_cxx"
