#!/bin/bash
# Buffers grown by realloc far past the huge-block threshold, in programs written elsewhere:
# python3 appending 64 KiB to a bytearray 4096 times (CPython over-allocates by an eighth, so
# each growth is a realloc of a block of a few MiB to 256 MiB), and perl appending 64 KiB to a
# string 4096 times; three buffers each. Every allocator given as NAME=PATH (glibc: nothing
# preloaded) runs each program ROUNDS times (default 5), in an order rotated each round; prints
# a markdown table of median wall time, peak RSS and page faults (GNU time). Not a test.
#
# usage: tools/bench/grow_buffers.sh memf=build/interpose/libmemf.so [NAME=PATH ...]
set -euo pipefail
ROUNDS=${ROUNDS:-5}
PY_GROW='chunk = bytes(65536)
for r in range(3):
    b = bytearray()
    for i in range(4096): b += chunk
    del b'
PERL_GROW='my $c = "x" x 65536; for my $r (1..3) { my $s = ""; $s .= $c for 1..4096; }'

names=(glibc)
paths=("")
for spec in "$@"; do
    names+=("${spec%%=*}")
    paths+=("${spec#*=}")
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_one() {  # program (python or perl), allocator index -> appends "seconds kib faults" to a file
    local prog=$1 i=$2 out="$work/$1.$2"
    if [[ $prog == python ]]; then
        env PYTHONMALLOC=malloc LD_PRELOAD="${paths[$i]}" /usr/bin/time -f "%e %M %R" -a -o "$out" \
            /usr/bin/python3 -c "$PY_GROW" >/dev/null
    else
        env LD_PRELOAD="${paths[$i]}" /usr/bin/time -f "%e %M %R" -a -o "$out" perl -e "$PERL_GROW" >/dev/null
    fi
}

n=${#names[@]}
for ((round = 0; round < ROUNDS; round++)); do
    for prog in python perl; do
        for ((k = 0; k < n; k++)); do run_one "$prog" $(((k + round) % n)); done
    done
done

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo "| program | allocator | time (s) | peak RSS (MiB) | page faults |"
echo "|---|---|---|---|---|"
for prog in python perl; do
    for ((i = 0; i < n; i++)); do
        f="$work/$prog.$i"
        t=$(cut -d' ' -f1 "$f" | median)
        m=$(cut -d' ' -f2 "$f" | median)
        r=$(cut -d' ' -f3 "$f" | median)
        awk -v p="$prog" -v a="${names[$i]}" -v t="$t" -v m="$m" -v r="$r" \
            'BEGIN { printf "| %s | %s | %s | %.1f | %s |\n", p, a, t, m / 1024, r }'
    done
done
