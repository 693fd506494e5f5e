#!/bin/sh
# split_debug.sh FULL STRIPPED DEBUG BAD_STRIPPED BAD_DEBUG ZLIB_STRIPPED ZLIB_DEBUG
# STRIPPED: FULL without its DWARF, its .gnu_debuglink naming DEBUG (FULL's DWARF, same directory).
# BAD_STRIPPED: the same, naming BAD_DEBUG, a copy of DEBUG changed after the link recorded its CRC.
# ZLIB_STRIPPED: the same, naming ZLIB_DEBUG, DEBUG with its sections compressed (as Debian's are).
set -e
objcopy --only-keep-debug "$1" "$3"
objcopy --strip-debug --add-gnu-debuglink="$3" "$1" "$2"
cp "$3" "$5"
objcopy --strip-debug --add-gnu-debuglink="$5" "$1" "$4"
printf 'x' >> "$5"
objcopy --compress-debug-sections=zlib "$3" "$7"
objcopy --strip-debug --add-gnu-debuglink="$7" "$1" "$6"
