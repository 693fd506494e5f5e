#!/bin/bash
# Server throughput under glibc, Debian's mimalloc and memf (chosen with LD_PRELOAD in the
# server's environment; the clients run plainly): redis-benchmark requests/s (LPUSH and LPOP of
# 1 KiB values), nginx requests/s (ab, 8 keep-alive clients, files of 1 KB and 100 KB) and
# pgbench transactions/s (TPC-B-like, scale 2, 4 clients, 2 threads, fsync off). ROUNDS rounds
# (default 3), each running the allocators in a rotated order so that a drift of the machine
# does not favour one; prints a markdown table of medians with the min-max of the rounds. Not a
# test: nothing is compared.
#
# usage: tools/bench/servers.sh [PATH-TO-libmemf.so]   (default build/interpose/libmemf.so)
set -euo pipefail
cd "$(dirname "$0")/../.."
# free_port, wait_until, wait_exit, wait_gone, fail and the cleanup of started servers.
source tests/servers/common.sh
setup_servers "${1:-build/interpose/libmemf.so}"

MIMALLOC=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2
PGBIN=/usr/lib/postgresql/15/bin
[[ -f $MIMALLOC ]] || fail "$MIMALLOC is not installed (Debian package: libmimalloc2.0)"
require redis-server redis-server
require redis-benchmark redis-tools
require /usr/sbin/nginx nginx-light
require ab apache2-utils
require "$PGBIN/pgbench" postgresql-client-15
REDIS_N=${REDIS_N:-200000}
AB_N=${AB_N:-40000}
PG_SECONDS=${PG_SECONDS:-20}
ROUNDS=${ROUNDS:-3}
ALLOCATORS=(glibc mimalloc memf)

preload_of() {
    case $1 in
        glibc) echo "" ;;
        mimalloc) echo "$MIMALLOC" ;;
        memf) echo "$MEMF_LIB" ;;
    esac
}

head -c 1000 /dev/urandom >"$WORK/small.bin"
head -c 100000 /dev/urandom >"$WORK/medium.bin"
chmod 644 "$WORK"/*.bin

# check_loaded ALLOCATOR PID: the preload took effect. libmemf.so uses libmimalloc.so.2 for its
# large blocks, so mimalloc is mapped under memf too; under glibc neither is.
check_loaded() {
    local lib want
    for lib in "$MIMALLOC" "$MEMF_LIB"; do
        case $1:$lib in
            mimalloc:"$MIMALLOC" | memf:*) want=yes ;;
            *) want=no ;;
        esac
        if grep -qF "$(realpath "$lib")" "/proc/$2/maps"; then
            [[ $want == yes ]] || fail "$lib is mapped into the $1 server"
        else
            [[ $want == no ]] || fail "$lib is not mapped into the $1 server"
        fi
    done
}

# record ALLOCATOR MEASURE VALUE: one round's figure, in $WORK/figures.
record() {
    echo "$1 $2 $3" >>"$WORK/figures"
}

bench_redis() {  # allocator
    local dir=$WORK/redis-$1 port
    rm -rf "$dir"
    mkdir -p "$dir"
    port=$(free_port)
    env LD_PRELOAD="$(preload_of "$1")" redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
        --save '' --appendonly no --logfile '' >"$dir/log" 2>&1 &
    local pid=$!
    STARTED_PIDS+=("$pid")
    wait_until 30 "redis-server" redis-cli -p "$port" ping
    check_loaded "$1" "$pid"
    timeout 300 redis-benchmark -h 127.0.0.1 -p "$port" -t lpush,lpop -d 1024 -n "$REDIS_N" --csv >"$dir/out"
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait_exit "$pid" 30
    record "$1" lpush "$(awk -F'"' '$2 == "LPUSH" { printf "%.0f", $4 }' "$dir/out")"
    record "$1" lpop "$(awk -F'"' '$2 == "LPOP" { printf "%.0f", $4 }' "$dir/out")"
}

bench_nginx() {  # allocator
    local dir=$WORK/nginx-$1 port
    rm -rf "$dir"
    mkdir -p "$dir"
    port=$(free_port)
    cat >"$dir/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    sendfile off;
    keepalive_requests 100000;
    server { listen 127.0.0.1:$port; root $WORK; }
}
EOF
    env LD_PRELOAD="$(preload_of "$1")" /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        >"$dir/stdout" 2>&1 &
    local pid=$!
    STARTED_PIDS+=("$pid")
    wait_until 30 "nginx" curl -sS -o /dev/null "http://127.0.0.1:$port/small.bin"
    check_loaded "$1" "$pid"
    local name
    for name in small medium; do
        timeout 300 ab -q -k -n "$AB_N" -c 8 "http://127.0.0.1:$port/$name.bin" >"$dir/$name.out" 2>&1
        grep -q '^Failed requests: *0$' "$dir/$name.out" || fail "ab: failed requests ($1, $name)"
        record "$1" "$name" "$(awk '/^Requests per second/ { printf "%.0f", $4 }' "$dir/$name.out")"
    done
    kill -QUIT "$pid"
    wait_exit "$pid" 30
}

bench_postgres() {  # allocator
    local dir=$WORK/pg-$1 port user=()
    rm -rf "$dir"
    mkdir -p "$dir"
    port=$(free_port)
    if [[ $EUID == 0 ]]; then
        chown nobody "$dir"
        user=(runuser -u nobody --)
    fi
    "${user[@]}" "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1
    "${user[@]}" env LD_PRELOAD="$(preload_of "$1")" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    local master
    master=$(head -n 1 "$dir/data/postmaster.pid")
    STARTED_PIDS+=("$master")
    check_loaded "$1" "$master"
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s 2 postgres >"$dir/init.out" 2>&1
    timeout 300 "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -c 4 -j 2 -T "$PG_SECONDS" postgres >"$dir/out" 2>&1
    "${user[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    wait_gone "$master" 30
    record "$1" tps "$(awk '/^tps = / { printf "%.0f", $3 }' "$dir/out")"
}

for ((round = 0; round < ROUNDS; round++)); do
    for ((i = 0; i < ${#ALLOCATORS[@]}; i++)); do
        alloc=${ALLOCATORS[(i + round) % ${#ALLOCATORS[@]}]}
        bench_redis "$alloc"
        bench_nginx "$alloc"
        bench_postgres "$alloc"
        echo "--- round $((round + 1)) of $ROUNDS: $alloc done" >&2
    done
done

# median ALLOCATOR MEASURE: the median of the rounds' figures, then "min-max".
median() {
    awk -v a="$1" -v m="$2" '$1 == a && $2 == m { print $3 }' "$WORK/figures" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; printf "%d %d-%d\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'
}

row() {  # label measure
    local g m f gr mr fr
    read -r g gr <<<"$(median glibc "$2")"
    read -r m mr <<<"$(median mimalloc "$2")"
    read -r f fr <<<"$(median memf "$2")"
    awk -v l="$1" -v g="$g" -v m="$m" -v f="$f" -v gr="$gr" -v mr="$mr" -v fr="$fr" \
        'BEGIN { printf "| %s | %d (%s) | %d (%s) | %d (%s) | %.2f | %.2f |\n", l, g, gr, m, mr, f, fr, f / g, f / m }'
}
echo "| server, measure (higher is better; median of $ROUNDS, min-max) | glibc | mimalloc | memf | memf ÷ glibc | memf ÷ mimalloc |"
echo "|---|---|---|---|---|---|"
row "redis LPUSH 1 KiB, requests/s" lpush
row "redis LPOP, requests/s" lpop
row "nginx 1 KB file, requests/s" small
row "nginx 100 KB file, requests/s" medium
row "PostgreSQL pgbench, transactions/s" tps
