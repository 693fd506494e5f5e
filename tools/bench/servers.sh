#!/bin/bash
# Server throughput under glibc, Debian's mimalloc and memf (chosen with LD_PRELOAD in the
# server's environment; the clients run plainly): redis-benchmark requests/s (LPUSH and LPOP of
# 1 KiB values), nginx requests/s (ab, 8 keep-alive clients, files of 1 KB and 100 KB) and
# pgbench transactions/s (TPC-B-like, scale 2, 4 clients, 2 threads, fsync off). One run of
# each; prints a markdown table. Not a test: nothing is compared.
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

bench_redis() {  # allocator -> "lpush lpop"
    local dir=$WORK/redis-$1 port
    mkdir -p "$dir"
    port=$(free_port)
    env LD_PRELOAD="$(preload_of "$1")" redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
        --save '' --appendonly no --logfile '' >"$dir/log" 2>&1 &
    local pid=$!
    STARTED_PIDS+=("$pid")
    wait_until 30 "redis-server" redis-cli -p "$port" ping
    timeout 300 redis-benchmark -h 127.0.0.1 -p "$port" -t lpush,lpop -d 1024 -n "$REDIS_N" --csv >"$dir/out"
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait_exit "$pid" 30
    awk -F'"' '$2 == "LPUSH" { p = $4 } $2 == "LPOP" { q = $4 } END { printf "%.0f %.0f\n", p, q }' "$dir/out"
}

bench_nginx() {  # allocator -> "small medium"
    local dir=$WORK/nginx-$1 port
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
    local name rates=()
    for name in small medium; do
        timeout 300 ab -q -k -n "$AB_N" -c 8 "http://127.0.0.1:$port/$name.bin" >"$dir/$name.out" 2>&1
        grep -q '^Failed requests: *0$' "$dir/$name.out" || fail "ab: failed requests ($1, $name)"
        rates+=("$(awk '/^Requests per second/ { printf "%.0f", $4 }' "$dir/$name.out")")
    done
    kill -QUIT "$pid"
    wait_exit "$pid" 30
    echo "${rates[*]}"
}

bench_postgres() {  # allocator -> tps
    local dir=$WORK/pg-$1 port user=()
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
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s 2 postgres >"$dir/init.out" 2>&1
    timeout 300 "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -c 4 -j 2 -T "$PG_SECONDS" postgres >"$dir/out" 2>&1
    "${user[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    wait_gone "$master" 30
    awk '/^tps = / { printf "%.0f\n", $3 }' "$dir/out"
}

declare -A result
for alloc in glibc mimalloc memf; do
    read -r result[$alloc.lpush] result[$alloc.lpop] <<<"$(bench_redis "$alloc")"
    read -r result[$alloc.small] result[$alloc.medium] <<<"$(bench_nginx "$alloc")"
    result[$alloc.tps]=$(bench_postgres "$alloc")
    echo "--- $alloc done" >&2
done

row() {  # label key
    local g=${result[glibc.$2]} m=${result[mimalloc.$2]} f=${result[memf.$2]}
    awk -v l="$1" -v g="$g" -v m="$m" -v f="$f" \
        'BEGIN { printf "| %s | %d | %d | %d | %.2f | %.2f |\n", l, g, m, f, f / g, f / m }'
}
echo "| server, measure (higher is better) | glibc | mimalloc | memf | memf ÷ glibc | memf ÷ mimalloc |"
echo "|---|---|---|---|---|---|"
row "redis LPUSH 1 KiB, requests/s" lpush
row "redis LPOP, requests/s" lpop
row "nginx 1 KB file, requests/s" small
row "nginx 100 KB file, requests/s" medium
row "PostgreSQL pgbench, transactions/s" tps
