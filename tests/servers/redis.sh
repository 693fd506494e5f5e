#!/bin/bash
# redis-server under glibc, memf and LeakSanitizer: redis-benchmark (lpush/lpop of 1 KiB values)
# with no errors; a fixed data set whose DEBUG DIGEST must survive BGSAVE (a forked child writes
# the RDB) unchanged, and come back the same from a second server that loads that RDB; SHUTDOWN
# NOSAVE and exit status 0. The digests and list lengths must be equal under all three; memf
# wrote its report at exit in both servers, and neither memf nor LeakSanitizer found a leak.
#
# usage: redis.sh PATH-TO-libmemf.so
source "$(dirname "$0")/common.sh"
setup_servers "$@"
require redis-server redis-server
require redis-cli redis-tools
require redis-benchmark redis-tools

CLIENT_LIMIT=60

# The fixed data set: strings of varied sizes (small pool blocks to a 200 KB one), lists,
# hashes, sorted sets, as one pipe of commands in the protocol's multi-bulk form.
python3 - >"$WORK/data.txt" <<'PY'
import sys
out = sys.stdout
def put(*args):
    out.write("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(str(a)), a) for a in args))
for i in range(4000):
    put("SET", "str:%d" % i, str(i).zfill(1 + (i * 37) % 3000))
for i in range(200):
    for j in range(50):
        put("RPUSH", "list:%d" % i, "item-%d-%d" % (i, j))
for i in range(300):
    for j in range(20):
        put("HSET", "hash:%d" % i, "field%d" % j, i * j)
for i in range(5000):
    put("ZADD", "zset", (i * 7919) % 10007, "member%d" % i)
put("SET", "big", "7".zfill(200000))
PY

cli() {
    timeout "$CLIENT_LIMIT" redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# start_redis MODE DIR: starts a server in the background on a free port; sets port and pid.
start_redis() {
    local mode=$1 dir=$2
    port=$(free_port)
    # shellcheck disable=SC2046
    $(preload_env "$mode") redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" \
        --dbfilename dump.rdb --save '' --appendonly no --daemonize no --logfile '' \
        --enable-debug-command local >>"$dir/server.log" 2>&1 &
    pid=$!
    STARTED_PIDS+=("$pid")
    wait_until 30 "redis-server ($mode) answering PING" cli ping
    check_preload "$mode" "$pid"
}

stop_redis() {
    local mode=$1 dir=$2
    # The server closes the connection without a reply: redis-cli's own status says nothing.
    cli shutdown nosave >/dev/null 2>&1 || true
    wait_exit "$pid" 30
    if [[ $EXIT_RC != 0 ]]; then
        show_tail "$dir/server.log"
        fail "redis-server ($mode) exited with status $EXIT_RC after SHUTDOWN NOSAVE"
    fi
}

run_mode() {
    local mode=$1
    local dir=$WORK/$mode
    local result=$WORK/$mode.result
    mkdir -p "$dir"
    start_redis "$mode" "$dir"

    timeout "$CLIENT_LIMIT" redis-benchmark -h 127.0.0.1 -p "$port" -t lpush,lpop -d 1024 -n 20000 \
        -q >"$dir/bench.out" 2>&1 || { cat "$dir/bench.out" >&2; fail "redis-benchmark ($mode) failed"; }
    # -q prints one line per test; any error reply is printed as a line of its own.
    tr '\r' '\n' <"$dir/bench.out" | grep -v '^ *$' | grep -v 'rps=' >"$dir/bench.lines" || true
    grep -qi 'error' "$dir/bench.lines" && { cat "$dir/bench.lines" >&2; fail "redis-benchmark ($mode) saw errors"; }
    grep -q '^LPUSH: .* requests per second' "$dir/bench.lines" || fail "redis-benchmark ($mode): no LPUSH result"
    grep -q '^LPOP: .* requests per second' "$dir/bench.lines" || fail "redis-benchmark ($mode): no LPOP result"
    # Every pushed element was popped again.
    echo "after benchmark: llen mylist $(cli llen mylist)" >>"$result"

    cli flushall >/dev/null
    timeout "$CLIENT_LIMIT" redis-cli -h 127.0.0.1 -p "$port" --pipe <"$WORK/data.txt" >"$dir/pipe.out" 2>&1 ||
        { cat "$dir/pipe.out" >&2; fail "loading the data set ($mode) failed"; }
    grep -q 'errors: 0, replies: ' "$dir/pipe.out" || { cat "$dir/pipe.out" >&2; fail "loading the data set ($mode): errors"; }
    local before after reloaded
    before=$(cli debug digest)
    [[ $before =~ ^[0-9a-f]{40}$ && $before != 0000000000000000000000000000000000000000 ]] ||
        fail "DEBUG DIGEST ($mode) gave '$before'"
    echo "dbsize $(cli dbsize) digest $before" >>"$result"

    [[ $(cli bgsave) == "Background saving started" ]] || fail "BGSAVE ($mode) did not start"
    wait_until 60 "BGSAVE ($mode) finishing" bash -c \
        "timeout 10 redis-cli -h 127.0.0.1 -p $port info persistence | grep -q '^rdb_bgsave_in_progress:0'"
    cli info persistence | grep -q '^rdb_last_bgsave_status:ok' || fail "BGSAVE ($mode) failed"
    after=$(cli debug digest)
    [[ $after == "$before" ]] || fail "DEBUG DIGEST ($mode) changed across BGSAVE: $before, then $after"
    stop_redis "$mode" "$dir"
    local first=$pid
    [[ -s $dir/dump.rdb ]] || fail "BGSAVE ($mode) wrote no dump.rdb"

    # A second server reads what the forked child wrote.
    start_redis "$mode" "$dir"
    reloaded=$(cli debug digest)
    [[ $reloaded == "$before" ]] || fail "the RDB written by BGSAVE ($mode) loads as digest $reloaded, not $before"
    echo "reloaded dbsize $(cli dbsize) digest $reloaded" >>"$result"
    stop_redis "$mode" "$dir"

    check_no_memf_error "$dir/server.log"
    # The BGSAVE child ends by _exit: no report of its own.
    [[ $mode == memf ]] && check_memf_exit "$dir/server.log" "$first" "$pid"
    note "$mode: $(grep -c . "$result") results, $(tr '\n' ' ' <"$dir/bench.lines" | sed 's/, p50=[^ ]* msec//g')"
}

run_modes
# redis frees what it no longer reaches: no leak under either checker.
collect_leaks "$WORK/memf/server.log"
expect_no_leaks
