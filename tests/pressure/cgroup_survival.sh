#!/bin/bash
# A memory cgroup (v1) with a limit far below what cache_app's cache grows to. Run plainly, the
# kernel kills the program; under memf (preloaded, no MEMF_LIMIT) memf finds the cgroup's limit,
# evicts from the registered cache, and the program finishes.
#
#   cgroup_survival.sh CACHE_APP LIBMEMF
# Exit 77 (skipped) when not root or when there is no cgroup v1 memory controller.
set -u
app=$1
lib=$2
limit_mib=${MEMF_TEST_CGROUP_MIB:-64}
grow_mib=400

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: creating a memory cgroup needs root (uid $(id -u))"
  exit 77
fi
# The v1 memory controller's mount point, from mountinfo: "... mountpoint ... - cgroup src opts".
mount_point=$(awk '{ for (i = 1; i <= NF; ++i) if ($i == "-") break;
                     if ($(i + 1) == "cgroup" && $(i + 3) ~ /(^|,)memory(,|$)/) { print $5; exit } }' /proc/self/mountinfo)
if [ -z "$mount_point" ] || [ ! -w "$mount_point" ]; then
  echo "SKIP: no writable cgroup v1 memory controller mounted (this test creates a v1 memory cgroup)"
  exit 77
fi
cg="$mount_point/memf-pressure-test-$$"
cleanup() { rmdir "$cg" 2>/dev/null; }
trap cleanup EXIT
mkdir "$cg" || { echo "FAIL: cannot create $cg"; exit 1; }
echo $((limit_mib << 20)) > "$cg/memory.limit_in_bytes"
[ -w "$cg/memory.memsw.limit_in_bytes" ] && echo $((limit_mib << 20)) > "$cg/memory.memsw.limit_in_bytes" 2>/dev/null
echo "cgroup $cg: limit $(cat "$cg/memory.limit_in_bytes") bytes; the cache grows to $grow_mib MiB"

in_cgroup() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"; }
oom_kills() { awk '$1 == "oom_kill" { print $2 }' "$cg/memory.oom_control"; }

fail=0
# 1. Without memf: the kernel must kill it, or this cgroup does not show anything.
kills_before=$(oom_kills)
in_cgroup env -u LD_PRELOAD -u MEMF_LIMIT "$app" $grow_mib 4096
status=$?
kills_after=$(oom_kills)
echo "without memf: exit status $status, oom kills in the cgroup ${kills_before:-?} -> ${kills_after:-?}"
if [ $status -ne 137 ]; then
  echo "FAIL: without memf the program was expected to be killed (SIGKILL, status 137)"
  fail=1
fi

echo 0 > "$cg/memory.max_usage_in_bytes" 2>/dev/null
# 2. Under memf, pool-sized entries (memf's own slabs) and large ones (mimalloc).
for entry in 4096 65536; do
  out=$(in_cgroup env -u MEMF_LIMIT LD_PRELOAD="$lib" "$app" $grow_mib $entry 2>&1)
  status=$?
  echo "$out" | sed 's/^/  /'
  echo "with memf, $entry-byte entries: exit status $status, peak usage $(cat "$cg/memory.max_usage_in_bytes")"
  if [ $status -ne 0 ]; then
    echo "FAIL: under memf the program did not survive"
    fail=1
    continue
  fi
  if ! echo "$out" | grep -q "cgroup_limit=$((limit_mib << 20)) own_limit=0"; then
    echo "FAIL: memf did not report the cgroup's limit"
    fail=1
  fi
  evicted=$(echo "$out" | sed -n 's/.*pressure_evicted_bytes=\([0-9]*\).*/\1/p')
  if [ -z "$evicted" ] || [ "$evicted" -lt $(((grow_mib - limit_mib) << 20)) ]; then
    echo "FAIL: memf evicted ${evicted:-nothing}; at least $(((grow_mib - limit_mib) << 20)) bytes had to go"
    fail=1
  fi
  echo 0 > "$cg/memory.max_usage_in_bytes" 2>/dev/null
done
[ $fail -eq 0 ] && echo "PASS"
exit $fail
