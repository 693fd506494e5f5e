#!/usr/bin/env bash
# Builds memf's Debian packages from this repository (a copy of it under a scratch directory:
# dpkg-buildpackage writes next to the source tree), checks them with lintian, installs them
# with apt, and runs memf-run -- ls with no variable set. As root on Debian 12; installs the
# build dependencies it needs first.
#
# usage: tools/deb/check.sh [OUT_DIR]     (the .deb files are left in OUT_DIR, default /tmp/memf-deb)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-/tmp/memf-deb}"

need=(build-essential debhelper dpkg-dev fakeroot lintian meson ninja-build g++ pkg-config libmimalloc-dev
      libfmt-dev libdw-dev)
missing=()
for package in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/memf"
# The tracked files only: no build directories.
git -C "$root" ls-files -z | (cd "$root" && xargs -0 cp --parents -t "$work/memf")
(cd "$work/memf" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
mkdir -p "$out"
rm -f "$out"/*.deb
cp "$work"/*.deb "$out"/
echo "== packages"
ls -1 "$out"
echo "== lintian"
lintian --fail-on error "$work"/*.changes && echo "lintian: no errors"
echo "== apt install"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall "$out"/*.deb >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; exit 1; }
dpkg -L memf-tools | grep -E 'bin/|man|completions/' 
echo "== memf-run -- ls (no variable set)"
env -u MEMF_LIB -u LD_PRELOAD memf-run --report "$work/ls.json" -- ls / >/dev/null
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("memf-run -- ls: memf ran in ls (pid %d, %s), %d allocations" % (r["pid"], r["exe"], r["stats"]["allocations"]))' "$work/ls.json"
echo "== find_package and pkg-config against the installed package"
pkg-config --modversion memf
mkdir "$work/consumer" && cp -r "$root/tests/consumer/." "$work/consumer/"
cmake -S "$work/consumer/cmake" -B "$work/consumer/build" >/dev/null && cmake --build "$work/consumer/build" >/dev/null
"$work/consumer/build/consumer_c" && "$work/consumer/build/consumer_cxx"
