#!/usr/bin/env bash
# Builds allocators to compare memf with from source checkouts you point it at, under a work
# directory (default /tmp/memf-peers), and prints the run.py options that use them:
#
#   bash tools/bench/build_peers.sh [--out DIR] NAME=CHECKOUT[@REF] ...
#
#   NAME      mimalloc3, mimalloc2 or snmalloc (the build recipe), or NAME:recipe for another name
#   CHECKOUT  a git checkout (or a bare repository) of the allocator's public repository
#   REF       a tag or commit to build (default: what the checkout has); e.g. v3.1.5, v2.2.4
#
#   bash tools/bench/build_peers.sh mimalloc3=~/src/mimalloc@v3.1.5 mimalloc2=~/src/mimalloc@v2.2.4 \
#       snmalloc=~/src/snmalloc
#   -> --peer mimalloc3=/tmp/memf-peers/mimalloc3/build/libmimalloc.so ...
#
# Nothing is written into the checkouts (each ref is exported with git archive) and nothing
# built here belongs in this repository. Needs cmake, ninja and a C++ compiler (tools/setup.sh).
set -euo pipefail

out=/tmp/memf-peers
if [[ ${1:-} == --out ]]; then
  out=$2
  shift 2
fi
[[ $# -gt 0 ]] || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
mkdir -p "$out"
peers=()

build_one() {
  local name=$1 recipe=$2 checkout=$3 ref=$4
  local src="$out/$name/src" build="$out/$name/build"
  rm -rf "$out/$name"
  mkdir -p "$src" "$build"
  git -C "$checkout" archive --format=tar "${ref:-HEAD}" | tar -x -C "$src"
  local version
  version=$(git -C "$checkout" describe --tags --always "${ref:-HEAD}" 2>/dev/null || echo "${ref:-HEAD}")
  case "$recipe" in
    mimalloc3|mimalloc2)
      cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMI_BUILD_TESTS=OFF \
        -DMI_BUILD_OBJECT=OFF -DMI_BUILD_STATIC=OFF >/dev/null
      ninja -C "$build" >/dev/null
      lib=$(find "$build" -maxdepth 1 -name 'libmimalloc.so.*' -type f | sort | tail -n 1)
      ;;
    snmalloc)
      cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSNMALLOC_BUILD_TESTING=OFF >/dev/null
      ninja -C "$build" snmallocshim >/dev/null
      lib="$build/libsnmallocshim.so"
      ;;
    *) echo "build_peers: no recipe '$recipe' (mimalloc3, mimalloc2, snmalloc)" >&2; exit 2 ;;
  esac
  [[ -f $lib ]] || { echo "build_peers: $name: no library built in $build" >&2; exit 1; }
  # A trial run, so that a library that cannot be preloaded is found here and not in the report.
  LD_PRELOAD=$lib /bin/true || { echo "build_peers: $name: $lib cannot be preloaded" >&2; exit 1; }
  echo "$version" > "$out/$name/VERSION"
  echo "build_peers: $name $version -> $lib" >&2
  peers+=("--peer $name=$lib")
}

for spec in "$@"; do
  name=${spec%%=*}
  rest=${spec#*=}
  [[ $spec == *=* && -n $name && -n $rest ]] || { echo "build_peers: '$spec' is not NAME=CHECKOUT[@REF]" >&2; exit 2; }
  checkout=${rest%@*}
  ref=""
  [[ $rest == *@* ]] && ref=${rest##*@}
  recipe=${name#*:}
  name=${name%%:*}
  [[ -d $checkout ]] || { echo "build_peers: no checkout at $checkout" >&2; exit 2; }
  build_one "$name" "$recipe" "$checkout" "$ref"
done
echo "${peers[*]}"
