#!/bin/bash
# GNU sort sorts a generated 50 MB file with two threads, in memory
# (-S 100M) and with an external merge (-S 8M), and with a locale-aware
# key sort, plainly and under memf-run; exit codes and the checksums of
# the sorted output must match.
#
# usage: sort.sh PATH-TO-memf-run
source "$(dirname "$0")/common.sh"
setup "$@"
require_prog sort coreutils
require_prog awk mawk
require_prog sha256sum coreutils
check_memf_active

# ~50 MB of pseudo-random lines, generated plainly (same file for both runs)
awk 'BEGIN {
    srand(20240601);
    for (i = 0; i < 1400000; i++) {
        w = "";
        n = 3 + int(rand() * 30);
        for (j = 0; j < n; j++) w = w sprintf("%c", 97 + int(rand() * 26));
        printf "%010d %s %d\n", int(rand() * 2000000000), w, i;
    }
}' >"$WORK/input.txt"
size=$(stat -c %s "$WORK/input.txt")
((size > 40000000)) || fail "generated input is only $size bytes"

checksum() { sha256sum | cut -d' ' -f1; }

mkdir "$WORK/tmp"
run_both sort_mem sort -S 100M --parallel=2 -T "$WORK/tmp" "$WORK/input.txt"
expect_rc sort_mem plain 0
compare sort_mem checksum
rm -f "$WORK"/sort_mem.*

run_both sort_ext sort -S 8M --parallel=2 -T "$WORK/tmp" -k2,2 -k1,1n "$WORK/input.txt"
expect_rc sort_ext plain 0
compare sort_ext checksum
rm -f "$WORK"/sort_ext.*

run_plain sort_locale env LC_ALL=C.UTF-8 sort -S 100M --parallel=2 -T "$WORK/tmp" -k2,2 -u "$WORK/input.txt"
run_memf sort_locale env LC_ALL=C.UTF-8 sort -S 100M --parallel=2 -T "$WORK/tmp" -k2,2 -u "$WORK/input.txt"
expect_rc sort_locale plain 0
compare sort_locale checksum
