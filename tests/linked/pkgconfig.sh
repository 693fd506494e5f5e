#!/usr/bin/env bash
# Installs memf into a scratch prefix and builds a program with `pkg-config memf`, as a user
# linking memf as their allocator would; the program must run with libmemf bound.
set -euo pipefail
build_dir="$1"
source_file="$2"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
meson install -C "$build_dir" --destdir "$scratch" --no-rebuild >/dev/null
prefix="$(meson introspect "$build_dir" --buildoptions | /usr/bin/python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')"
pc_file="$(find "$scratch" -name memf.pc | head -1)"
[ -n "$pc_file" ] || { echo "pkgconfig: memf.pc was not installed" >&2; exit 1; }
pc_dir="$(dirname "$pc_file")"
export PKG_CONFIG_PATH="$pc_dir"
# The .pc names the final prefix; point it into the scratch root.
cflags="$(pkg-config --define-variable=prefix="$scratch$prefix" --cflags memf)"
libs="$(pkg-config --define-variable=prefix="$scratch$prefix" --libs memf)"
echo "pkgconfig: cflags=$cflags libs=$libs"
cc -O1 $cflags "$source_file" -o "$scratch/linked" $libs -ldl -lpthread
libdir="$(echo "$libs" | sed -n 's/.*-L\([^ ]*\).*/\1/p')"
LD_LIBRARY_PATH="$libdir" "$scratch/linked"
